"""Start-up: what a user of a wheel install pays before pipe does any work.

    python -m benchmarks.startup                 # builds a wheel, installs it in a fresh venv, times
    python -m benchmarks.startup --venv DIR      # reuse (or create) the venv at DIR

An editable install adds an import hook to every interpreter start, so the figures that users
feel are taken from a wheel installed into a venv of its own (no system site-packages: their
.pth files would slow `python -c pass` too). Bytecode is compiled before timing, since this
machine may set PYTHONDONTWRITEBYTECODE. Timed, alternating, as whole processes:

    python -c pass          the floor: the interpreter's own start
    pipe --version          parsing the command line and nothing else
    pipe run (no-op)        a 4-step pipeline already up to date
    pipe status             the same pipeline's plan

The goal (issue 12) is each pipe figure within 5x of `python -c pass`. Besides wall time, the
CPU time of each process (user + system, from `getrusage(RUSAGE_CHILDREN)`) is taken: on a
shared machine other work stretches wall time far more than CPU time, so the goal is judged
on CPU time.
"""

from __future__ import annotations

import argparse
import compileall
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

if __package__ in (None, ""):  # run as `python benchmarks/startup.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import measure, report  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_RATIO = 5.0

PIPELINE = """\
version: 1
steps:
  a: {command: "echo a > a.txt", outputs: {out: a.txt}}
  b: {command: "cat a.txt > b.txt", inputs: {a: a.txt}, outputs: {out: b.txt}}
  c: {command: "cat b.txt > c.txt", inputs: {b: b.txt}, outputs: {out: c.txt}}
  d: {command: "cat c.txt > d.txt", inputs: {c: c.txt}, outputs: {out: d.txt}}
"""


def install_wheel(venv: str, log=print) -> str:
    """A venv at `venv` with this checkout installed from a freshly built wheel; returns its bin/."""
    bin_dir = os.path.join(venv, "bin")
    if not os.path.exists(os.path.join(bin_dir, "python")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    build_dir = os.path.join(REPO_ROOT, "build")
    had_build_dir = os.path.exists(build_dir)
    with tempfile.TemporaryDirectory(prefix="pipe-wheel-") as out:
        log("building a wheel of this checkout")
        subprocess.run(
            [os.path.join(bin_dir, "python"), "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, REPO_ROOT], check=True
        )
        if not had_build_dir:  # setuptools builds in the checkout: leave it as it was
            shutil.rmtree(build_dir, ignore_errors=True)
        (wheel,) = glob.glob(os.path.join(out, "pipefile-*.whl"))
        log("installing it (and its dependencies) into " + venv)
        subprocess.run(
            [os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q", "--force-reinstall", wheel], check=True
        )
    compileall.compile_dir(venv, quiet=1)
    return bin_dir


def time_commands(
    commands: dict[str, list[str]], cwd: str, reps: int, cpu: Optional[dict] = None
) -> dict[str, list[float]]:
    """Wall seconds of each command, `reps` times, in turn (A B C A B C ...) after one warm-up each,
    so a drift of the machine's speed touches every command alike. `cpu`, when given, gets each
    run's CPU seconds (user + system) by command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_")}
    env.pop("PYTHONPATH", None)
    env["PIPE_PLAIN"] = "1"
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(reps + 1):
        for name, argv in commands.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            elapsed = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.decode()[-500:]}")
            if rep:
                seconds[name].append(elapsed)
                if cpu is not None:
                    used = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                    cpu.setdefault(name, []).append(used)
    return seconds


def measure_startup(venv: str | None = None, reps: int = 21, log=print) -> dict:
    """Install, set up the 4-step workspace, time; the results as JSON-ready data."""
    own = venv is None
    venv = venv or tempfile.mkdtemp(prefix="pipe-startup-venv-")
    ws = tempfile.mkdtemp(prefix="pipe-startup-ws-")
    try:
        bin_dir = install_wheel(venv, log)
        python, pipe = os.path.join(bin_dir, "python"), os.path.join(bin_dir, "pipe")
        with open(os.path.join(ws, "Pipefile"), "w") as f:
            f.write(PIPELINE)
        subprocess.run([pipe, "run"], cwd=ws, check=True, capture_output=True)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "pipe --version": [pipe, "--version"],
            "pipe run (no-op, 4 steps)": [pipe, "run"],
            "pipe status (4 steps)": [pipe, "status"],
        }
        log(f"timing {len(commands)} commands, {reps} runs each")
        cpu: dict[str, list[float]] = {}
        samples = time_commands(commands, ws, reps, cpu)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
        if own:
            shutil.rmtree(venv, ignore_errors=True)
    medians = {name: measure.median(s) for name, s in samples.items()}
    floor = medians["python -c pass"]
    cpu_medians = {name: measure.median(s) for name, s in cpu.items()}
    cpu_floor = cpu_medians["python -c pass"]
    return {
        "samples": samples,
        "median_s": medians,
        "ratio_to_python": {name: m / floor for name, m in medians.items()},
        "cpu_samples": cpu,
        "cpu_median_s": cpu_medians,
        "cpu_ratio_to_python": {name: m / cpu_floor for name, m in cpu_medians.items()},
        "goal_ratio": GOAL_RATIO,
    }


def startup_section(res: dict) -> str:
    rows = []
    for name, m in res["median_s"].items():
        r = res["ratio_to_python"][name]
        c, cr = res["cpu_median_s"][name], res["cpu_ratio_to_python"][name]
        verdict = "" if name == "python -c pass" else ("met" if cr <= res["goal_ratio"] else "not met")
        rows.append([name, report.ms(m), f"{r:.1f}x", report.ms(c), f"{cr:.1f}x", verdict])
    return "### Start-up from a wheel install\n\n" + report.table(
        [
            "command",
            "median wall",
            "/ python -c pass",
            "median CPU",
            "/ python -c pass",
            f"goal <= {res['goal_ratio']:.0f}x (CPU)",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", help="reuse or create the venv here (default: a temporary one, removed after)")
    ap.add_argument("--reps", type=int, default=21, help="timed runs of each command (default 21)")
    ap.add_argument("--json", dest="json_path", help="also write the results as JSON to this file")
    opts = ap.parse_args(argv)
    res = measure_startup(opts.venv, opts.reps, log=lambda m: print(m, file=sys.stderr))
    print(startup_section(res))
    if opts.json_path:
        with open(opts.json_path, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
