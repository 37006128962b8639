"""Fit a random forest on a CSV (label last); write model.pkl and model.json into a folder."""

import argparse
import json
import os
import pickle

import numpy as np
from sklearn.ensemble import RandomForestClassifier


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", required=True)
    ap.add_argument("--n-estimators", type=int, required=True)
    ap.add_argument("--max-depth", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()

    with open(args.train) as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", ndmin=2)
    X, y = data[:, :-1], data[:, -1].astype(int)
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed)
    model.fit(X, y)

    os.makedirs(args.model, exist_ok=True)
    with open(os.path.join(args.model, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    with open(os.path.join(args.model, "model.json"), "w") as f:
        json.dump({"features": header[:-1], "label": header[-1], "classes": model.classes_.tolist()}, f, indent=2)
    print(f"trained on {len(y)} rows")


if __name__ == "__main__":
    main()
