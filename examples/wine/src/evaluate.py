"""Compare predictions with the true labels -> metrics JSON."""

import argparse
import csv
import json

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--predictions", required=True, help="CSV with target and predicted columns")
    ap.add_argument("--out", required=True, help="metrics JSON to write")
    args = ap.parse_args()

    with open(args.predictions, newline="") as f:
        rows = list(csv.DictReader(f))
    y = [int(r["target"]) for r in rows]
    p = [int(r["predicted"]) for r in rows]

    metrics = {
        "n": len(y),
        "accuracy": round(accuracy_score(y, p), 6),
        "f1_macro": round(f1_score(y, p, average="macro"), 6),
        "precision_macro": round(precision_score(y, p, average="macro", zero_division=0), 6),
        "recall_macro": round(recall_score(y, p, average="macro", zero_division=0), 6),
        "confusion_matrix": confusion_matrix(y, p).tolist(),
    }
    with open(args.out, "w") as f:  # one metric per line, the matrix's rows kept whole
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in metrics.items()) + "\n}\n")
    print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['f1_macro']:.4f}")


if __name__ == "__main__":
    main()
