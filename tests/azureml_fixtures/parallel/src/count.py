"""Entry script of a parallel job: init() once, run(mini_batch) per list of files."""

import argparse
import os

suffix = None
calls = 0


def init():
    global suffix
    p = argparse.ArgumentParser()
    p.add_argument("--suffix")
    suffix = p.parse_known_args()[0].suffix


def run(mini_batch):
    global calls
    calls += 1
    out = []
    for path in mini_batch:
        n = len(open(path).read().split())
        out.append(f"{os.path.basename(path)} {n} {suffix} (call {calls})")
    return out
