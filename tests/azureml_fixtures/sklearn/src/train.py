import argparse
import os
import pickle
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

p = argparse.ArgumentParser()
p.add_argument("--training_data")
p.add_argument("--c", type=float)
p.add_argument("--scale")
p.add_argument("--max_iter", type=int, default=200)
p.add_argument("--model_output")
a = p.parse_args()
frame = pd.read_csv(a.training_data)
x, y = frame.drop(columns=["target"]), frame["target"]
steps = ([StandardScaler()] if a.scale == "True" else []) + [LogisticRegression(C=a.c, max_iter=a.max_iter)]
model = make_pipeline(*steps).fit(x, y)
# An MLflow model folder, written by hand (this test needs no mlflow): MLmodel + the pickle.
with open(os.path.join(a.model_output, "MLmodel"), "w") as f:
    f.write("flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n")
with open(os.path.join(a.model_output, "model.pkl"), "wb") as f:
    pickle.dump(model, f)
# What the command line was (kept in the step's artifacts output, as ./outputs is on Azure).
with open(os.path.join("outputs", "args.txt"), "w") as f:
    f.write(" ".join(sys.argv[1:]))
