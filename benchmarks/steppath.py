"""Where a step's time goes between two commands of a chain (issue 12's full-run goal).

    python -m benchmarks.steppath [--steps 1000] [--folder /dev/shm/x] [--reps 3] [--json]

On a chain every step waits for the one before it, so what pipe does between one command's
end and the next command's start is added to the run once per step. This runs `pipe run -j2`
on a chain (`benchmarks.generate`) in this interpreter, with pipe's own functions wrapped
to note the time at each point of a step's path, and reports, per step, the median of each
stretch:

    command     from the command started to its end seen by pipe (the command's own time)
    collect     its end -> the commit begins: the process group gone, the outputs put in
                place and checked, the inputs checked unchanged
    commit      the outputs hashed and stored, the run-cache entry written
    to main     the task's result -> the next task handed to a worker: the hand-over to the
                scheduler, its bookkeeping, deciding the next step (its key)
    to worker   -> the worker starts on it
    prepare     -> its command is about to start: staging, its log, its environment
    start       starting the process (posix_spawn or Popen: vfork and exec)

and the whole run, the time before the first command (loading the Pipefile, planning, the
job) and the same chain under `make -j2` when make is installed. `--folder` chooses where the
chain is built: on tmpfs (/dev/shm) what is measured is pipe's work; on a disk, also what
the file system charges for each file a step creates. The outputs and `.pipe/` are removed
before each run, as `benchmarks.run` does for a full run. Nothing is asserted: this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import generate

POINTS = ("start1", "exit", "commit0", "commit1", "run1", "submit", "run0", "start0")
STRETCHES = {
    "command": ("start1", "exit"),
    "collect": ("exit", "commit0"),
    "commit": ("commit0", "commit1"),
    "to main": ("run1", "submit"),
    "to worker": ("submit", "run0"),
    "prepare": ("run0", "start0"),
    "start": ("start0", "start1"),
}


def _instrumented_run(folder: str) -> dict:
    """One `pipe run -j2` in `folder`, in this process, with the points of each step's path noted."""
    from pipefile.envs import base
    from pipefile.executors import local, processes

    events: list = []

    def wrap(cls, name: str, before, after):
        f = getattr(cls, name)

        def wrapped(*a, **k):
            if before:
                events.append((before, time.perf_counter()))
            r = f(*a, **k)
            if after:
                events.append((after, time.perf_counter()))
            return r

        setattr(cls, name, wrapped)
        return f

    try:  # (the scheduler's own threads; an older pipe, measured beside this one, had a ThreadPoolExecutor)
        from pipefile.workers import Workers as pool
    except ImportError:
        from concurrent.futures import ThreadPoolExecutor as pool

    saved = [
        (base.Environment, "start", wrap(base.Environment, "start", "start0", "start1")),
        (processes.ProcessRunning, "_wait", wrap(processes.ProcessRunning, "_wait", None, "exit")),
        (local.LocalExecutor, "run", wrap(local.LocalExecutor, "run", "run0", "run1")),
        (local.LocalExecutor, "_commit", wrap(local.LocalExecutor, "_commit", "commit0", "commit1")),
        (pool, "submit", wrap(pool, "submit", "submit", None)),
    ]
    from pipefile.entry import main

    cwd = os.getcwd()
    argv = sys.argv
    os.chdir(folder)
    sys.argv = ["pipe", "run", "-j2"]
    # What pipe prints goes where benchmarks.run sends it (nowhere), not to this terminal.
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    t0 = time.perf_counter()
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise RuntimeError(f"pipe run failed in {folder} (exit {e.code})") from None
    finally:
        total = time.perf_counter() - t0
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved_fd in zip((1, 2), saved_fds):
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        os.close(null)
        os.chdir(cwd)
        sys.argv = argv
        for cls, name, f in saved:
            setattr(cls, name, f)
    last: dict = {}
    samples: dict = {k: [] for k in STRETCHES}
    for point, t in events:
        last[point] = t
        for k, (a, b) in STRETCHES.items():
            if b == point and a in last:
                samples[k].append(t - last[a])
    first = next(t for p, t in events if p == "start0")
    last_exit = max(t for p, t in events if p == "exit")
    return {
        "total_s": total,
        "before_first_command_s": first - t0,
        "after_last_command_s": t0 + total - last_exit,
        "median_ms": {k: statistics.median(v) * 1e3 for k, v in samples.items() if v},
        "mean_ms": {k: statistics.fmean(v) * 1e3 for k, v in samples.items() if v},
    }


def _reset(folder: str) -> None:
    shutil.rmtree(os.path.join(folder, ".pipe"), ignore_errors=True)
    build = os.path.join(folder, "build")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)


def measure(steps: int, folder: str, reps: int) -> dict:
    p = generate.parse_shape(f"chain:{steps}")
    ws = os.path.join(folder, f"steppath-{steps}")
    shutil.rmtree(ws, ignore_errors=True)
    tools = ["pipe"] + (["make"] if shutil.which("make") else [])
    generate.create_workspace(p, ws, tools)
    runs, makes = [], []
    for _ in range(reps):
        _reset(ws)
        runs.append(_instrumented_run(ws))
        if "make" in tools:
            _reset(ws)
            t = time.perf_counter()
            subprocess.run(["make", "-j2", "-s"], cwd=ws, check=True, stdout=subprocess.DEVNULL)
            makes.append(time.perf_counter() - t)
    best = min(runs, key=lambda r: r["total_s"])
    return {
        "steps": steps,
        "folder": folder,
        "pipe_s": sorted(r["total_s"] for r in runs),
        "make_s": sorted(makes),
        "best": best,
    }


def render(r: dict) -> str:
    b = r["best"]
    make = f"{min(r['make_s']):.2f} s" if r["make_s"] else "not installed"
    ratio = f" ({b['total_s'] / min(r['make_s']):.2f}x make)" if r["make_s"] else ""
    lines = [
        f"chain-{r['steps']} in {r['folder']}: pipe {b['total_s']:.2f} s{ratio}, make {make} (fastest of "
        f"{len(r['pipe_s'])}; all pipe runs: {', '.join(f'{x:.2f}' for x in r['pipe_s'])} s)",
        f"before the first command: {b['before_first_command_s'] * 1e3:.0f} ms, "
        f"after the last: {b['after_last_command_s'] * 1e3:.0f} ms",
        "per step, in the fastest run:  median     mean",
    ]
    lines += [f"  {k:10s} {v:18.3f} ms {b['mean_ms'][k]:.3f} ms" for k, v in b["median_ms"].items()]
    between = sum(v for k, v in b["median_ms"].items() if k != "command")
    mean_between = sum(v for k, v in b["mean_ms"].items() if k != "command")
    lines.append(f"  between two commands: {between:8.3f} ms {mean_between:.3f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.steppath", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--folder", default=None, help="where to build the chain (default: a temporary folder)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pipe-steppath-") as tmp:
        r = measure(args.steps, args.folder or tmp, args.reps)
        if args.folder:
            shutil.rmtree(os.path.join(args.folder, f"steppath-{args.steps}"), ignore_errors=True)
    print(json.dumps(r, indent=2) if args.json else render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
