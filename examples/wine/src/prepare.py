"""Split the raw wine table into a train and a test CSV (stratified, seeded)."""

import argparse
import csv

from sklearn.model_selection import train_test_split


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="raw CSV, header first, label in the last column")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--test-size", type=float, required=True, help="fraction of rows held out")
    ap.add_argument("--train", required=True, help="where to write the training rows")
    ap.add_argument("--test", required=True, help="where to write the held-out rows")
    args = ap.parse_args()

    with open(args.data, newline="") as f:
        header, *rows = list(csv.reader(f))
    labels = [row[-1] for row in rows]
    train_rows, test_rows = train_test_split(rows, test_size=args.test_size, random_state=args.seed, stratify=labels)
    for path, part in ((args.train, train_rows), (args.test, test_rows)):
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(part)
    print(f"{len(rows)} rows -> {len(train_rows)} train, {len(test_rows)} test")


if __name__ == "__main__":
    main()
