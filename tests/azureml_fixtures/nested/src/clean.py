import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--data")
p.add_argument("--tag", default="none")
p.add_argument("--out")
a = p.parse_args()

nums = [line.strip() for line in open(os.path.join(a.data, "numbers.txt")) if line.strip()]
with open(a.out, "w") as f:
    f.write(f"# tag {a.tag}\n" + "\n".join(nums) + "\n")
