"""Score a model on a test CSV (label last) and write its metrics as JSON."""

import argparse
import json
import os
import pickle

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--metrics", required=True)
    args = ap.parse_args()

    with open(os.path.join(args.model, "model.pkl"), "rb") as f:
        model = pickle.load(f)
    data = np.loadtxt(args.test, delimiter=",", skiprows=1, ndmin=2)
    X, y = data[:, :-1], data[:, -1].astype(int)
    predicted = model.predict(X)
    metrics = {"accuracy": accuracy_score(y, predicted), "f1_macro": f1_score(y, predicted, average="macro")}
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    print(", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items())))


if __name__ == "__main__":
    main()
