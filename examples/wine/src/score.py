"""Predict the held-out rows with a trained model -> predictions CSV."""

import argparse
import csv
import json
import os
import pickle

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="folder written by train.py")
    ap.add_argument("--test", required=True, help="test CSV, header first, label in the last column")
    ap.add_argument("--out", required=True, help="predictions CSV to write")
    args = ap.parse_args()

    with open(os.path.join(args.model, "model.pkl"), "rb") as f:
        model = pickle.load(f)
    with open(os.path.join(args.model, "model.json")) as f:
        info = json.load(f)
    with open(args.test) as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", ndmin=2)
    if header[:-1] != info["features"]:
        raise SystemExit(f"{args.test}: columns differ from those the model was trained on")
    X, y = data[:, :-1], data[:, -1].astype(int)

    proba = model.predict_proba(X)
    predicted = model.classes_[proba.argmax(axis=1)]
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["target", "predicted"] + [f"proba_{c}" for c in model.classes_])
        for t, p, row in zip(y, predicted, proba):
            w.writerow([int(t), int(p)] + [f"{v:.6f}" for v in row])
    print(f"scored {len(y)} rows")


if __name__ == "__main__":
    main()
