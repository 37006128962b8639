"""Split a CSV (header first) into a training and a test CSV, stratified by the last column."""

import argparse
import csv
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--test-fraction", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    args = ap.parse_args()

    with open(args.data, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    by_label = {}
    for row in rows:
        by_label.setdefault(row[-1], []).append(row)
    rng = random.Random(args.seed)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        cut = round(len(group) * args.test_fraction)
        test += group[:cut]
        train += group[cut:]
    for path, part in ((args.train, train), (args.test, test)):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(part)
    print(f"{len(train)} rows to train, {len(test)} to test")


if __name__ == "__main__":
    main()
