"""A trial of the sweep fixture: logs its loss to MLflow, as a script run on Azure does."""

import argparse
import os

import mlflow

p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--kind")
p.add_argument("--offset", type=int)
p.add_argument("--model")
a = p.parse_args()
loss = (a.x - 2) ** 2 + (0 if a.kind == "a" else 1) + a.offset
mlflow.log_metric("loss", loss + 100, step=0)  # an early value: the last one counts
mlflow.log_metric("loss", loss, step=1)
with open(os.path.join(a.model, "model.txt"), "w") as f:
    f.write(f"{a.x} {a.kind} {loss}\n")
