"""The scale goals of a parallel map (issue 15): `foreach` over a folder of many small files,
one task per file.

    python -m benchmarks.foreach --files 100000          # the issue's size (the first run is long)
    python -m benchmarks.foreach --files 10000 --snakemake /tmp/peers/bin/snakemake
    python -m benchmarks.foreach --files 100000 --keep --workdir /tmp/fe   # kept for --reuse
    python -m benchmarks.foreach --reuse /tmp/fe --snakemake /tmp/peers/bin/snakemake --snakemake-prebuilt

Measures, after a first full run: a no-op `pipe run` (goal <= 1.5 s at 100,000 files), one
added file (exactly one task runs; goal <= 2.5 s in all) and the peak memory of each
(`/usr/bin/time -f %M`; goal <= 400 MB). With `--snakemake`, the same map as a wildcard rule
over the same folder, measured the same way in the same run. Prints a markdown table and
writes the samples to benchmarks/out/foreach-N.json.

`--reuse DIR` measures the no-op and the added file on the workspaces an earlier `--keep
--workdir DIR` run left, without a first run; the added file (and its outputs) are removed
after, and the map settled again, so DIR can be reused again. `--snakemake-prebuilt` does
not let Snakemake make its outputs (its first run takes hours at 100,000 files): a copy loop
writes each output after its input, so Snakemake finds them up to date; only its no-op and
added file are measured, each under `--snakemake-timeout` seconds (reported as "> S s").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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
ADDED = "zz-added.txt"  # the file the added-file measurement adds (sorts last)


class TimedOut(Exception):
    pass


def timed(cmd: list, cwd: str, env: dict, what: str = "", timeout: float = 7200) -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB, stdout) of one command, which must succeed; its CPU time
    (user + system: what a loaded machine does not inflate) goes to CPU[what]. TimedOut
    when it runs past `timeout` seconds (it is killed)."""
    t0 = time.perf_counter()
    # its own process group: a timeout stops the tool and what it started, not just `time`
    p = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M %U %S"] + cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise TimedOut() from None
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    peak, user, system = stderr.strip().splitlines()[-1].split()
    CPU.setdefault(what, []).append(float(user) + float(system))
    return seconds, int(peak), stdout


def measure(tool: str, cmd: list, root: str, env: dict, reps: int, first: bool = True, timeout: float = 7200) -> dict:
    """The samples of one tool. `first`: make the first run (else the outputs are there).
    A command past `timeout` ends the measuring: what is left says "timeout"."""
    CPU.clear()
    out: dict = {"timeout_s": timeout}
    stage = "first_s" if first else "noop_s"  # (the time a timeout leaves unknown)
    try:
        if first:
            out["first_s"], out["first_peak_kib"], _ = timed(cmd, root, env, "first", timeout)
            out["first_cpu_s"] = CPU["first"][0]
            print(f"  {tool}: first run {out['first_s']:.1f} s", file=sys.stderr)
            stage = "noop_s"
        noops = [timed(cmd, root, env, "noop", timeout) for _ in range(reps)]
        out["noop_s"] = statistics.median(s for s, _, _ in noops)
        out["noop_peak_kib"] = max(p for _, p, _ in noops)
        out["noop_samples_s"] = [s for s, _, _ in noops]
        out["noop_cpu_s"] = statistics.median(CPU["noop"])
        with open(os.path.join(root, "data", ADDED), "w") as f:
            # new content each time: a reused workspace's action cache must not have its task
            f.write(f"added {time.time_ns()}\n")
        stage = "added_s"
        added, added_peak, text = timed(cmd + (["--json"] if tool == "pipe" else []), root, env, "added", timeout)
        out.update(added_s=added, added_peak_kib=added_peak, added_cpu_s=CPU["added"][0])
        if tool == "pipe":
            out["ran_after_add"] = sum(1 for s in json.loads(text)["steps"] if s["outcome"] == "ran")
        elif os.path.exists(os.path.join(root, "build/out", ADDED)):
            out["ran_after_add"] = 1  # (Snakemake says what it ran only in its log; its output is there)
    except TimedOut:
        out[stage] = None
        print(f"  {tool}: a command ran past {timeout:.0f} s and was stopped", file=sys.stderr)
    return out


def remove_added(tool: str, cmd: list, root: str, env: dict) -> None:
    """Leave a reused workspace as it was: the added file and its output go, and (pipe) one
    run settles the map again (its entry goes from the record), so the next no-op is one."""
    for rel in (f"data/{ADDED}", f"build/out/{ADDED}"):
        p = os.path.join(root, rel)
        if os.path.lexists(p):
            os.chmod(p, 0o644)
            os.remove(p)
    if tool == "pipe":
        subprocess.run(cmd, cwd=root, env=env, capture_output=True, check=False, timeout=7200)


def prebuild_snakemake(root: str) -> float:
    """Snakemake's outputs made by a copy loop (each written after its input, so newer:
    Snakemake finds them up to date): seconds it took."""
    t0 = time.perf_counter()
    out = os.path.join(root, "build", "out")
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(os.path.join(root, "data"))):
        if name.endswith(".txt") and name != ADDED:
            shutil.copyfile(os.path.join(root, "data", name), os.path.join(out, name))
    return time.perf_counter() - t0


def _count(root: str) -> int:
    return sum(1 for n in os.listdir(os.path.join(root, "data")) if n != ADDED)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--snakemake", help="a snakemake executable to measure on the same map")
    ap.add_argument("--workdir", help="where to create the workspaces (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces (for --reuse)")
    ap.add_argument("--reuse", metavar="DIR", help="measure on the workspaces a --keep --workdir DIR run left")
    ap.add_argument(
        "--snakemake-prebuilt", action="store_true", help="make Snakemake's outputs with a copy loop, not its first run"
    )
    ap.add_argument("--snakemake-timeout", type=float, default=1200, metavar="S", help="seconds per Snakemake command")
    args = ap.parse_args(argv)
    if args.reuse and not os.path.isdir(os.path.join(args.reuse, "pipe", ".pipe")):
        ap.error(f"--reuse {args.reuse}: no pipe workspace there (make one with --keep --workdir {args.reuse})")
    work = args.reuse or args.workdir or tempfile.mkdtemp(prefix="pipe-foreach-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")])))
    env["PIPE_PLAIN"] = "1"
    # As installed: modules' bytecode cached (where it is not, each start compiles ~120 modules).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results: dict = {"files": args.files, "jobs": args.jobs, "reused": bool(args.reuse)}
    try:
        root = os.path.join(work, "pipe")
        if args.reuse:
            results["files"] = _count(root)
        else:
            make_workspace(root, args.files, "pipe")
        cmd = [sys.executable, "-m", "pipefile", "run", "-j", str(args.jobs)]
        results["pipe"] = measure("pipe", cmd, root, env, args.reps, first=not args.reuse)
        if args.reuse or args.keep:
            remove_added("pipe", cmd, root, env)
        print(f"  pipe: {results['pipe']}", file=sys.stderr)
        if args.snakemake:
            root = os.path.join(work, "snakemake")
            there = args.reuse and os.path.isdir(os.path.join(root, "build", "out"))
            if not there:
                shutil.rmtree(root, ignore_errors=True)
                make_workspace(root, results["files"], "snakemake")
            prebuilt = None
            if args.snakemake_prebuilt and not there:
                prebuilt = prebuild_snakemake(root)
            cmd = [args.snakemake, "-c", str(args.jobs), "--quiet"]
            first = not there and not args.snakemake_prebuilt
            got = measure("snakemake", cmd, root, env, args.reps, first, args.snakemake_timeout)
            if prebuilt is not None:
                got["prebuilt_s"] = prebuilt
            results["snakemake"] = got
            if args.reuse or args.keep:
                remove_added("snakemake", cmd, root, env)
            print(f"  snakemake: {results['snakemake']}", file=sys.stderr)
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            print(f"  kept the workspaces in {work} (measure again: --reuse {work})", file=sys.stderr)
    print(report(results))
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    name = f"foreach-{results['files']}" + ("-reused" if args.reuse else "")
    with open(os.path.join(HERE, "out", f"{name}.json"), "w") as f:
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
        cells = [_cell(r[t], key, unit) for t in tools]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    if r.get("reused"):
        lines.append("\n(a reused workspace: no first run)")
    if "prebuilt_s" in r.get("snakemake", {}):
        lines.append(f"(Snakemake's outputs made by a copy loop in {r['snakemake']['prebuilt_s']:.1f} s, not by it)")
    return "\n".join(lines)


def _cell(got: dict, key: str, unit: str) -> str:
    if key not in got:
        return "-"  # not measured (no first run, or a command before it ran past the timeout)
    v = got[key]
    if v is None:
        return f"> {got['timeout_s']:.0f} s"  # it ran past the timeout: not a failure
    if unit == "MB":
        return f"{v / 1024:.0f} MB"
    if unit == "s":
        return f"{v:.2f} s"
    return str(v)


if __name__ == "__main__":
    raise SystemExit(main())
