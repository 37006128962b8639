"""Fit a GradientBoostingClassifier on a CSV (label last) and pickle it into a folder."""

import argparse
import json
import os
import pickle

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", required=True, help="training CSV, header first, label in the last column")
    ap.add_argument("--learning-rate", type=float, required=True)
    ap.add_argument("--n-estimators", type=int, required=True)
    ap.add_argument("--max-depth", type=int, default=3, help="depth of each tree (default: 3)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--model", required=True, help="output folder: model.pkl and model.json")
    args = ap.parse_args()

    with open(args.train) as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", ndmin=2)
    X, y = data[:, :-1], data[:, -1].astype(int)

    model = GradientBoostingClassifier(
        learning_rate=args.learning_rate,
        n_estimators=args.n_estimators,
        max_depth=args.max_depth,
        random_state=args.seed,
    )
    model.fit(X, y)

    os.makedirs(args.model, exist_ok=True)
    with open(os.path.join(args.model, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    info = {
        "features": header[:-1],
        "label": header[-1],
        "classes": model.classes_.tolist(),
        "params": model.get_params(),
        "train_rows": len(y),
    }
    with open(os.path.join(args.model, "model.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"trained on {len(y)} rows, train accuracy {model.score(X, y):.3f}")


if __name__ == "__main__":
    main()
