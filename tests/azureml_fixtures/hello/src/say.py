import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--greeting")
p.add_argument("--loud")
p.add_argument("--names")
p.add_argument("--out")
a = p.parse_args()
# Azure renders booleans as Python does: the script sees "True" or "False".
assert a.loud in ("True", "False"), a.loud
lines = [f"{a.greeting}, {n}!" for n in open(a.names).read().split()]
if a.loud == "True":
    lines = [x.upper() for x in lines]
with open(os.path.join(a.out, "said.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
# As on Azure: the working directory is a copy of code/, with ./outputs and ./logs
assert os.path.isdir("outputs") and os.path.isdir("logs")
with open("outputs/note.txt", "w") as f:
    f.write("kept in the artifacts output\n")
print("cwd", os.getcwd())
print("mlflow", os.environ.get("MLFLOW_TRACKING_URI"))
