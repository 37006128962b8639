"""Full runs of one shape by several pipe commands and by make, taken in turn.

    python -m benchmarks.alternate [--shape chain:1000] [--reps 8] [--folder /dev/shm] PIPE...

This machine's speed drifts by 15-20% within an hour, and `benchmarks.run` measures each
tool's repetitions in a block of its own: a ratio of two blocks taken minutes apart carries
that drift. Here each repetition runs every PIPE once and then make, each from the same reset
(outputs and `.pipe/` removed, as benchmarks.run does for a full run), so that every ratio
is between runs seconds apart. PIPE: a `pipe` executable (a wheel install's VENV/bin/pipe:
what users get) or a source folder (run as `python -m pipefile` with it on PYTHONPATH).

Reports, per command, the fastest and the median wall time of its full runs, their CPU time
(its process and children) and the ratio of each to make's. Nothing is asserted: this
measures (issue 12's full-run goal: within 1.3x make).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import generate


def _command(variant: str, jobs: int) -> tuple:
    """(argv, environment) that run `variant`'s `pipe run -j JOBS`."""
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PIPE_STORE_DIR", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    if os.path.isdir(variant):
        env["PYTHONPATH"] = os.path.abspath(variant)
        return [sys.executable, "-m", "pipefile", "run", "-j", str(jobs)], env
    return [variant, "run", "-j", str(jobs)], env


def _reset(p: generate.Pipeline, ws: str) -> None:
    for rel in ("build", ".pipe"):
        shutil.rmtree(os.path.join(ws, rel), ignore_errors=True)
    generate.make_output_dirs(p, ws)


def _timed(argv: list, env: dict, cwd: str) -> tuple:
    """(wall seconds, CPU seconds of it and its children) of one run, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(shape: str, variants: list, reps: int, folder: str, jobs: int = 2) -> dict:
    p = generate.parse_shape(shape)
    # (In a folder of its own: the generated steps append to a log beside the workspace.)
    top = os.path.join(folder, f"alternate-{shape.replace(':', '-')}")
    shutil.rmtree(top, ignore_errors=True)
    ws = os.path.join(top, "ws")
    generate.create_workspace(p, ws, ["pipe", "make"])
    commands = {v: _command(v, jobs) for v in variants}
    make_env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        make_env.pop(var, None)
    commands["make"] = (["make", "-s", "-j", str(jobs)], make_env)
    samples: dict = {name: [] for name in commands}
    try:
        for _ in range(reps):
            for name, (argv, env) in commands.items():
                _reset(p, ws)
                samples[name].append(_timed(argv, env, ws))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return {"shape": shape, "jobs": jobs, "folder": folder, "reps": reps, "samples": samples}


def render(r: dict) -> str:
    make = r["samples"]["make"]
    make_min = min(w for w, _ in make)
    make_med = statistics.median(w for w, _ in make)
    lines = [
        f"{r['shape']}, -j {r['jobs']}, in {r['folder']}, {r['reps']} full runs each, taken in turn:",
        f"  {'command':40s} {'fastest':>8s} {'median':>8s} {'CPU med':>8s} {'x make (fastest, median)':>26s}",
    ]
    for name, runs in r["samples"].items():
        walls = sorted(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        fastest, med = walls[0], statistics.median(walls)
        lines.append(
            f"  {name[-40:]:40s} {fastest:7.2f}s {med:7.2f}s {cpu:7.2f}s "
            f"{fastest / make_min:12.2f}x {med / make_med:12.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.alternate", description=__doc__.split("\n\n")[0])
    ap.add_argument("pipe", nargs="+", help="a pipe executable, or a source folder holding pipefile/")
    ap.add_argument("--shape", default="chain:1000")
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--folder", default=None, help="where to build the workspace (default: a temporary folder)")
    args = ap.parse_args(argv)
    if not shutil.which("make"):
        ap.error("make is not installed: there is nothing to compare with")
    with tempfile.TemporaryDirectory(prefix="pipe-alternate-") as tmp:
        print(render(measure(args.shape, args.pipe, args.reps, args.folder or tmp, args.jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
