"""The scale goals of a parallel map (issue 15): `foreach` over a folder of many small files,
one task per file.

    python -m benchmarks.foreach --files 100000          # the issue's size (the first run is long)
    python -m benchmarks.foreach --files 10000 --snakemake /tmp/peers/bin/snakemake

Measures, after a first full run: a no-op `pipe run` (goal <= 1.5 s at 100,000 files), one
added file (exactly one task runs; goal <= 2.5 s in all) and the peak memory of each
(`/usr/bin/time -f %M`; goal <= 400 MB). With `--snakemake`, the same map as a wildcard rule
over the same folder, measured the same way in the same run. Prints a markdown table and
writes the samples to benchmarks/out/foreach-N.json.
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

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)

PIPEFILE = """\
version: 1
steps:
  each:
    foreach: ${{inputs.d}}
    inputs: {d: data}
    command: cp ${{inputs.d}} ${{outputs.out}}
    outputs: {out: build/out/}
"""

SNAKEFILE = """\
NAMES = glob_wildcards("data/{name}.txt").name

rule all:
    input: expand("build/out/{name}.txt", name=NAMES)

rule each:
    input: "data/{name}.txt"
    output: "build/out/{name}.txt"
    shell: "cp {input} {output}"
"""


def make_workspace(root: str, files: int, tool: str) -> None:
    os.makedirs(os.path.join(root, "data"))
    for i in range(files):
        with open(os.path.join(root, "data", f"f{i:06d}.txt"), "w") as f:
            f.write(f"{i}\n")
    if tool == "pipe":
        with open(os.path.join(root, "Pipefile"), "w") as f:
            f.write(PIPEFILE)
    else:
        with open(os.path.join(root, "Snakefile"), "w") as f:
            f.write(SNAKEFILE)


CPU: dict = {}  # command kind -> [CPU seconds (user + system) of each sample]


def timed(cmd: list, cwd: str, env: dict, what: str = "") -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB, stdout) of one command, which must succeed; its CPU time
    (user + system: what a loaded machine does not inflate) goes to CPU[what]."""
    t0 = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S"] + cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=7200
    )
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    peak, user, system = p.stderr.strip().splitlines()[-1].split()
    CPU.setdefault(what, []).append(float(user) + float(system))
    return seconds, int(peak), p.stdout


def measure(tool: str, cmd: list, root: str, env: dict, reps: int) -> dict:
    CPU.clear()
    first, first_peak, _ = timed(cmd, root, env, "first")
    print(f"  {tool}: first run {first:.1f} s", file=sys.stderr)
    noops = [timed(cmd, root, env, "noop") for _ in range(reps)]
    with open(os.path.join(root, "data", "zz-added.txt"), "w") as f:
        f.write("added\n")
    added, added_peak, out = timed(cmd + (["--json"] if tool == "pipe" else []), root, env, "added")
    ran = None
    if tool == "pipe":
        ran = sum(1 for s in json.loads(out)["steps"] if s["outcome"] == "ran")
    elif os.path.exists(os.path.join(root, "build/out/zz-added.txt")):
        ran = 1  # (Snakemake says what it ran only in its log; its output is there)
    return {
        "first_s": first,
        "first_peak_kib": first_peak,
        "noop_s": statistics.median(s for s, _, _ in noops),
        "noop_peak_kib": max(p for _, p, _ in noops),
        "added_s": added,
        "added_peak_kib": added_peak,
        "ran_after_add": ran,
        "noop_samples_s": [s for s, _, _ in noops],
        "first_cpu_s": CPU["first"][0],
        "noop_cpu_s": statistics.median(CPU["noop"]),
        "added_cpu_s": CPU["added"][0],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--snakemake", help="a snakemake executable to measure on the same map")
    ap.add_argument("--workdir", help="where to create the workspaces (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    work = args.workdir or tempfile.mkdtemp(prefix="pipe-foreach-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")])))
    env["PIPE_PLAIN"] = "1"
    # As installed: modules' bytecode cached (where it is not, each start compiles ~120 modules).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results = {"files": args.files, "jobs": args.jobs}
    try:
        root = os.path.join(work, "pipe")
        make_workspace(root, args.files, "pipe")
        cmd = [sys.executable, "-m", "pipefile", "run", "-j", str(args.jobs)]
        results["pipe"] = measure("pipe", cmd, root, env, args.reps)
        print(f"  pipe: {results['pipe']}", file=sys.stderr)
        if args.snakemake:
            root = os.path.join(work, "snakemake")
            make_workspace(root, args.files, "snakemake")
            cmd = [args.snakemake, "-c", str(args.jobs), "--quiet"]
            results["snakemake"] = measure("snakemake", cmd, root, env, args.reps)
            print(f"  snakemake: {results['snakemake']}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", f"foreach-{args.files}.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0


def report(r: dict) -> str:
    tools = [t for t in ("pipe", "snakemake") if t in r]
    lines = [
        f"foreach over {r['files']:,} files, one task per file, -j {r['jobs']}",
        "",
        "| | " + " | ".join(tools) + " | goal (pipe) |",
        "|---|" + "---|" * len(tools) + "---|",
    ]
    rows = [
        ("first run", "first_s", "s", ""),
        ("no-op", "noop_s", "s", "<= 1.5 s"),
        ("no-op, CPU (user + system)", "noop_cpu_s", "s", ""),
        ("one file added", "added_s", "s", "<= 2.5 s"),
        ("one file added, CPU", "added_cpu_s", "s", ""),
        ("tasks run after the add", "ran_after_add", "", "1"),
        ("peak memory, no-op", "noop_peak_kib", "MB", "<= 400 MB"),
        ("peak memory, one added", "added_peak_kib", "MB", "<= 400 MB"),
    ]
    for label, key, unit, goal in rows:
        cells = []
        for t in tools:
            v = r[t][key]
            if unit == "MB":
                cells.append(f"{v / 1024:.0f} MB")
            elif unit == "s":
                cells.append(f"{v:.2f} s")
            else:
                cells.append(str(v))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
