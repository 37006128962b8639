"""The scheduler's overhead per sweep trial (issue 15): a 200-trial sweep of a trivial trial.

    python -m benchmarks.sweep [--trials 200] [--jobs 2] [--reps 3]

For a random sweep and a bayesian one (Optuna's TPE, rounds of `max_parallel: 4`): the first
run, a no-op, and one more trial (`trials: N+1`: exactly one task must run), each in a fresh
workspace per repetition. The same number of bare `sh -c` spawns of the trial's command, in
a Python loop, is the floor: the overhead per trial is (first run - spawns) / N, start-up,
load, plan, job record and the bayesian proposals included. Each `pipe` is timed in wall
seconds and in CPU seconds (its process and its children's, user + system: what a shared,
loaded machine inflates least), and the load average is noted before and after. Prints a
markdown table and writes the samples to benchmarks/out/sweep-N.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)

PIPEFILE = """\
version: 1
steps:
  trial:
    sweep:
      search: {search}
      trials: {trials}
      seed: 1
      {more}
      space: {{x: {{uniform: [0, 1]}}}}
      objective: {{metric: v, goal: minimize}}
    inputs: {{x: {{type: number}}}}
    command: >-
      echo '{{"v": ${{{{inputs.x}}}}}}' > ${{{{outputs.o}}}}
    outputs: {{o: build/o.json}}
    metrics: build/o.json
"""

CASES = {"random": "", "bayesian": "max_parallel: 4"}


def _cpu() -> float:
    """CPU seconds (user + system) of the children waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pipe(root: str, jobs: int, env: dict) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, {outcome: count}) of one `pipe run`."""
    c0 = _cpu()
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "pipefile", "run", "-j", str(jobs), "--json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - t0
    cpu = _cpu() - c0
    if p.returncode != 0:
        raise SystemExit(f"pipe run failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    outcomes: dict = {}
    for s in json.loads(p.stdout)["steps"]:
        outcomes[s["outcome"]] = outcomes.get(s["outcome"], 0) + 1
    return seconds, cpu, outcomes


def spawns(n: int) -> float:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        for i in range(n):
            subprocess.run(["sh", "-c", f"echo '{{\"v\": 0.{i}}}' > {d}/o{i}.json"], check=True)
    return time.perf_counter() - t0


def one(search: str, trials: int, jobs: int, env: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="pipe-sweep-bench-") as root:
        path = os.path.join(root, "Pipefile")
        with open(path, "w") as f:
            f.write(PIPEFILE.format(search=search, trials=trials, more=CASES[search]))
        first, first_cpu, o1 = pipe(root, jobs, env)
        assert o1 == {"ran": trials}, o1
        noop, noop_cpu, o2 = pipe(root, jobs, env)
        assert o2 == {"fresh": trials}, o2
        with open(path, "w") as f:
            f.write(PIPEFILE.format(search=search, trials=trials + 1, more=CASES[search]))
        more, more_cpu, o3 = pipe(root, jobs, env)
        assert o3.get("ran") == 1, o3
    return {
        "first": first,
        "noop": noop,
        "one_more": more,
        "first_cpu": first_cpu,
        "noop_cpu": noop_cpu,
        "one_more_cpu": more_cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--search", choices=sorted(CASES), action="append", help="only these (default: both)")
    args = ap.parse_args()
    cases = args.search or list(CASES)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")])))
    samples: dict = {"spawns": [], **{s: [] for s in cases}, "load": [os.getloadavg()]}
    for _ in range(args.reps):
        samples["spawns"].append(spawns(args.trials))
        for search in cases:
            samples[search].append(one(search, args.trials, args.jobs, env))
    samples["load"].append(os.getloadavg())
    floor = statistics.median(samples["spawns"])
    print(
        f"| {args.trials} trials, -j {args.jobs} | first run s | overhead per trial ms | no-op s (CPU s) "
        f"| one more trial s (CPU s) |"
    )
    print("|---|---|---|---|---|")
    for search in cases:

        def med(what: str) -> float:
            return statistics.median(s[what] for s in samples[search])  # noqa: B023 - used at once

        first = med("first")
        per = (first - floor) / args.trials * 1000
        print(
            f"| {search} | {first:.2f} | {per:.2f} | {med('noop'):.2f} ({med('noop_cpu'):.2f}) "
            f"| {med('one_more'):.2f} ({med('one_more_cpu'):.2f}) |"
        )
    print(f"\n{args.trials} bare `sh -c` spawns: {floor:.2f} s ({floor / args.trials * 1000:.2f} ms each)")
    before, after = samples["load"]
    print(
        f"load average (1/5/15 min): {'/'.join(f'{x:.2f}' for x in before)} before, "
        f"{'/'.join(f'{x:.2f}' for x in after)} after"
    )
    out = os.path.join(HERE, "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"sweep-{args.trials}.json"), "w") as f:
        json.dump({"args": vars(args), "samples": samples}, f, indent=1)


if __name__ == "__main__":
    main()
