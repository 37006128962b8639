import argparse
import json
import os

import pandas as pd

p = argparse.ArgumentParser()
p.add_argument("--scored")
p.add_argument("--report")
a = p.parse_args()
frame = pd.read_csv(os.path.join(a.scored, "scored.csv"))
with open(a.report, "w") as f:
    json.dump({"accuracy": float((frame["predicted"] == frame["target"]).mean())}, f)
