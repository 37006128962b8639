"""Add two ratio features to the wine table: a user step between std components."""

import argparse

import pandas as pd

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--out", required=True)
args = ap.parse_args()

wine = pd.read_parquet(args.data)
wine["phenols_ratio"] = wine["flavanoids"] / wine["total_phenols"]
wine["color_per_hue"] = wine["color_intensity"] / wine["hue"]
wine.to_parquet(args.out, index=False)
print(f"{len(wine)} rows, {wine.shape[1]} columns")
