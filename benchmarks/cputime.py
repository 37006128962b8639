"""CPU time of pipe and make on one shape: full runs and no-ops, for a loaded machine.

    python -m benchmarks.cputime chain:200 --pipe now=/tmp/venv/bin/pipe --pipe base=/tmp/old/bin/pipe

Wall time on a shared machine measures the other work as much as the tool; the CPU time of the
process (user + system, `getrusage(RUSAGE_CHILDREN)`: a full run's steps included) moves far
less. Each tool gets a workspace of its own; the tools alternate (A B C A B C ...). A full run
starts from nothing (outputs and `.pipe/` removed); the no-op follows one run that leaves every
output in place. Prints a markdown table of medians and ratios to make.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile

if __package__ in (None, ""):  # run as `python benchmarks/cputime.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import generate, measure, report  # noqa: E402


def cpu_seconds(argv: list, cwd: str, env: dict) -> float:
    """The CPU time of one run of `argv` (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if argv[0] == sys.executable and "PYTHONPATH" in os.environ:
        # This interpreter (`python -m pipefile`): the checkout it runs is on PYTHONPATH. Any
        # other pipe (a venv's) runs without it, so that no checkout shadows what it installed.
        env = dict(env, PYTHONPATH=os.environ["PYTHONPATH"])
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_shape(shape: str, pipes: dict, full_reps: int, noop_reps: int, jobs: int, workdir: str) -> dict:
    """{tool: {"full": [s...], "noop": [s...]}} for make and each pipe command."""
    p = generate.parse_shape(shape)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_")}
    env.pop("PYTHONPATH", None)
    env["PIPE_PLAIN"] = "1"
    tools = {"make": ["make", f"-j{jobs}", "-s"]}
    tools.update({name: [*shlex.split(cmd), "run", f"-j{jobs}", "-q"] for name, cmd in pipes.items()})
    spaces = {}
    for i, name in enumerate(tools):
        spaces[name] = os.path.join(workdir, f"ws{i}")
        generate.create_workspace(p, spaces[name], ["make", "pipe"])
    out: dict = {name: {"full": [], "noop": []} for name in tools}
    names = list(tools)
    for rep in range(full_reps):
        # On this machine's file system a run that creates files pays for the files deleted
        # nearby just before (a reset), by folder: the same pipe measured 30-40% dearer in
        # one workspace than in another. So each round the order reverses and the tools
        # move on to the next workspace.
        for i, name in enumerate(names if rep % 2 == 0 else names[::-1]):
            argv, space = tools[name], spaces[names[(i + rep) % len(names)]]
            for d in p.output_dirs():
                shutil.rmtree(os.path.join(space, d), ignore_errors=True)
            shutil.rmtree(os.path.join(space, ".pipe"), ignore_errors=True)
            generate.make_output_dirs(p, space)
            out[name]["full"].append(cpu_seconds(argv, space, env))
    for name, argv in tools.items():  # (the spec cache and stat cache as a no-op finds them)
        cpu_seconds(argv, spaces[name], env)
    for _ in range(noop_reps):
        for name, argv in tools.items():
            out[name]["noop"].append(cpu_seconds(argv, spaces[name], env))
    return out


def table(shape: str, res: dict) -> str:
    make = {k: measure.median(v) for k, v in res["make"].items()}
    rows = []
    for name, samples in res.items():
        full, noop = measure.median(samples["full"]), measure.median(samples["noop"])
        rows.append(
            [name, report.secs(full), f"{full / make['full']:.2f}x", report.ms(noop), f"{noop / make['noop']:.2f}x"]
        )
    return f"### {shape}, CPU time (medians)\n\n" + report.table(
        ["tool", "full run s", "/ make", "no-op ms", "/ make"], rows
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shape", help="chain:N, wide:N, lattice:NxW (see benchmarks.generate)")
    ap.add_argument("--pipe", action="append", metavar="NAME=CMD", help="a pipe to time (repeatable; default: pipe)")
    ap.add_argument("--full-reps", type=int, default=3)
    ap.add_argument("--noop-reps", type=int, default=11)
    ap.add_argument("-j", type=int, default=2, dest="jobs")
    opts = ap.parse_args(argv)
    pipes = dict(p.split("=", 1) if "=" in p else ("pipe", p) for p in (opts.pipe or ["pipe"]))
    with tempfile.TemporaryDirectory(prefix="pipe-cputime-") as workdir:
        res = measure_shape(opts.shape, pipes, opts.full_reps, opts.noop_reps, opts.jobs, workdir)
    print(table(opts.shape, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
