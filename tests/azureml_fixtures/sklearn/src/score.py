import argparse
import os
import pickle

import pandas as pd

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--test_data")
p.add_argument("--scored")
a = p.parse_args()
assert os.path.exists(os.path.join(a.model, "MLmodel"))
model = pickle.load(open(os.path.join(a.model, "model.pkl"), "rb"))
frame = pd.read_csv(a.test_data)
frame["predicted"] = model.predict(frame.drop(columns=["target"]))
frame.to_csv(os.path.join(a.scored, "scored.csv"), index=False)
