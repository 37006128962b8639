"""Run the benchmarks: pipe against GNU make, DVC and Snakemake on the same pipelines.

    python -m benchmarks.run --quick                          # about 2 minutes
    python -m benchmarks.run --peers-venv /tmp/peers          # the full set, up to ~30 minutes

For every tool found and every shape, as whole processes (median of several repetitions, peak memory
of the process tree): (a) first full run, (b) no-op run, (c) one leaf's content changed, (d) one leaf
touched without a content change, (e) status / dry-run. Each step appends its name to a log outside
the workspace, so the steps that really executed are counted. Then a scaling series (chain of
100 / 1,000 / 10,000 steps) for pipe and make, and the machine's reference costs (process spawn,
stat, xxh3-128 and md5 throughput). Prints markdown tables and writes JSON and markdown under
benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

if __package__ in (None, ""):  # run as `python benchmarks/run.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import generate, measure, report  # noqa: E402
from benchmarks import tools as toolmod

ALL_TOOLS = ("pipe", "make", "dvc", "snakemake")
PEERS = ("dvc", "snakemake")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

PRESETS = {
    "quick": {
        "shapes": "chain:100,wide:100,lattice:5x10,files:10000,big:2x256",
        "peer_shapes": "chain:20",
        "scaling": "100,1000",
        "reps": 3,
        "budget": 2.0,
        "reference_files": 10000,
        "reference_mib": 256,
        "reference_spawns": 100,
    },
    "full": {
        "shapes": "chain:1000,wide:1000,lattice:30x30,files:10000,files:100000,big:2x1024",
        # DVC's full run grows quadratically (about 25 minutes for chain:1000 here), so the peers get
        # a 200-step chain by default; --peer-shapes chain:1000 compares at the size.
        "peer_shapes": "chain:200,files:10000,big:2x1024",
        "scaling": "100,1000,3000,10000",  # 3,000: two sizes well above the noise for the linearity verdict
        "reps": 5,
        "budget": 20.0,
        "reference_files": 100000,
        "reference_mib": 1024,
        "reference_spawns": 300,
    },
}


@dataclass
class Outcome:
    """The repetitions of one scenario for one tool on one shape."""

    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    ran: list[int] = field(default_factory=list)
    expected: int | None = None  # steps that should run, without early cutoff
    expected_min: int | None = None  # ... and with early cutoff (fewer when an output stays the same)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return measure.median(self.seconds)

    def summary(self) -> dict:
        """JSON-ready: the samples plus median, min and max peak memory."""
        d = asdict(self)
        d["median_s"] = self.median
        d["min_s"] = min(self.seconds) if self.seconds else None
        d["max_peak_mib"] = max(self.peak_mib) if self.peak_mib else None
        return d


class Bench:
    """Runs scenarios for one tool in one workspace and collects their outcomes."""

    def __init__(self, tool: toolmod.Tool, p: generate.Pipeline, root: str, opts: argparse.Namespace, log):
        self.tool, self.p, self.opts, self.log = tool, p, opts, log
        self.root = root
        self.ws = os.path.join(root, "ws")
        self.step_log = os.path.join(root, "steps.log")  # == ws/../steps.log, where the steps append
        self.out_log = os.path.join(root, "tool-output.log")
        self.env = tool.environ()
        self.failed = False

    def steps_ran(self) -> int:
        """How many step commands ran since the step log was last cleared."""
        try:
            with open(self.step_log, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def repeat(
        self,
        argv: list[str],
        before=None,
        expected: int | None = 0,
        reps: int | None = None,
        expected_min: int | None = None,
    ) -> Outcome:
        """Run `argv` up to `reps` times (fewer once the time budget is spent); `before(i)` runs first each time."""
        out = Outcome(expected=expected, expected_min=expected if expected_min is None else expected_min)
        if self.failed:
            out.error = "skipped after an earlier failure"
            return out
        spent = 0.0
        for i in range(reps or self.opts.reps):
            if i and spent > self.opts.budget:
                break
            try:
                if before:
                    before(i)
                open(self.step_log, "w").close()
                with open(self.out_log, "ab") as f:
                    f.write(f"\n$ {' '.join(argv)}\n".encode())
                s = measure.timed(argv, self.ws, self.env, self.out_log, self.opts.timeout)
            except OSError as e:  # e.g. a full disk: report it, go on with the next measurement
                out.error = f"could not run: {e}"
                break
            spent += s.seconds
            if s.code != 0 or s.timed_out:
                out.error = self._failure(s)
                if s.timed_out:
                    self.failed = True  # a tool that timed out is not asked again on this shape
                break
            out.seconds.append(s.seconds)
            out.peak_mib.append(s.peak_mib)
            out.ran.append(self.steps_ran())
        return out

    def _failure(self, s: measure.Sample) -> str:
        if s.timed_out:
            return f"timed out after {self.opts.timeout:.0f} s"
        with open(self.out_log, "rb") as f:
            tail = f.read()[-600:].decode(errors="replace").strip().splitlines()
        return f"exit {s.code}: " + " | ".join(tail[-4:])

    # --- edits -------------------------------------------------------------------------------

    def change_leaf(self, i: int) -> None:
        """Give the changed leaf new content (a few bytes in place for a big file)."""
        path = os.path.join(self.ws, self.p.changed)
        stamp = f"changed {i} {time.time_ns()}\n".encode()
        if self.p.changed in self.p.big:
            with open(path, "r+b") as f:
                f.write(stamp[:32].ljust(32))
        else:
            with open(path, "wb") as f:
                f.write(stamp)

    def touch_leaf(self, _i: int) -> None:
        """Set the changed leaf's mtime to now, keeping its content."""
        now = time.time_ns()
        os.utime(os.path.join(self.ws, self.p.changed), ns=(now, now))

    def reset(self, _i: int) -> None:
        self.tool.reset(self.p, self.ws)

    def reset_cold(self, i: int) -> None:
        """Reset, and drop the big files from the page cache."""
        self.reset(i)
        for rel in self.p.big:
            measure.evict(os.path.join(self.ws, rel))

    # --- scenarios -----------------------------------------------------------------------------

    def scenarios(self) -> dict[str, Outcome]:
        """(a) full, (a') full from a cold cache (big files), (b) no-op, (e) status, (c) change, (d) touch."""
        n = len(self.p.steps)
        res = {"full": self.repeat(self.tool.run_cmd(), self.reset, expected=n)}
        if self.p.big and not self.failed:
            res["full-cold"] = self.repeat(self.tool.run_cmd(), self.reset_cold, expected=n)
        res["noop"] = self.repeat(self.tool.run_cmd())
        res["status"] = self.repeat(self.tool.status_cmd())
        for name, argv in self.tool.extra_cmds().items():
            res[name] = self.repeat(argv)
        changed = self.p.changed
        res["change"] = self.repeat(
            self.tool.run_cmd(),
            self.change_leaf,
            expected=len(self.p.affected(changed)),
            expected_min=len(self.p.affected(changed, early_cutoff=True)),
        )
        res["touch"] = self.repeat(self.tool.run_cmd(), self.touch_leaf)
        return res

    def drop_caches(self, _i: int) -> None:
        """Forget what the tool keeps of its parsed pipeline file (pipe: the spec and graph)."""
        for rel in self.tool.caches:
            shutil.rmtree(os.path.join(self.ws, rel), ignore_errors=True)

    def scaling(self) -> dict[str, Outcome]:
        """One full run, then the no-op, status and the tool's read-only extras; the extras
        once more from a cold load (the pipeline file parsed and checked again) when the
        tool caches it."""
        res = {"full": self.repeat(self.tool.run_cmd(), self.reset, expected=len(self.p.steps), reps=1)}
        res["noop"] = self.repeat(self.tool.run_cmd())
        res["status"] = self.repeat(self.tool.status_cmd())
        for name, argv in self.tool.extra_cmds().items():
            res[name] = self.repeat(argv)
            if self.tool.caches:
                res[f"{name}-cold"] = self.repeat(argv, self.drop_caches)
        return res

    def full_only(self) -> dict[str, Outcome]:
        """Only the first full run (the tiny twin of a big-file shape)."""
        return {"full": self.repeat(self.tool.run_cmd(), self.reset, expected=len(self.p.steps))}


def prepare_master(p: generate.Pipeline, workdir: str, log) -> str:
    """Write the pipeline's source data once; every tool's workspace hard-links it."""
    master = os.path.join(workdir, p.name, "data")
    if not os.path.isdir(master):
        log(f"{p.name}: writing source data")
        generate.write_data(p, master)
    return master


def bench_tool(tool: toolmod.Tool, p: generate.Pipeline, master: str, workdir: str, opts, kind: str, log) -> dict:
    """Set up `tool`'s workspace for `p`, run `kind` ('scenarios', 'scaling' or 'full_only'), clean up."""
    root = os.path.join(workdir, p.name, tool.name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    ws = os.path.join(root, "ws")
    try:
        generate.create_workspace(p, ws, [], master=master)
        tool.setup(p, ws)
    except (OSError, subprocess.CalledProcessError) as e:  # a full disk, a peer that cannot initialise
        log(f"{p.name}: {tool.name} setup failed: {e}")
        return {"setup": Outcome(error=f"setup failed: {e}").summary()}
    bench = Bench(tool, p, root, opts, log)
    start = time.perf_counter()
    try:
        res = getattr(bench, kind)()
    finally:
        if not opts.keep:
            shutil.rmtree(root, ignore_errors=True)
    log(f"{p.name}: {tool.name} done in {time.perf_counter() - start:.1f} s" + _short(res))
    return {k: v.summary() for k, v in res.items()}


def _short(res: dict[str, Outcome]) -> str:
    parts = [f"{k} {v.median:.3g}s" for k, v in res.items() if v.median is not None]
    errors = [f"{k}: {v.error}" for k, v in res.items() if v.error]
    return " (" + ", ".join(parts) + ")" + ("; ERRORS " + "; ".join(errors) if errors else "")


def tiny_twin(p: generate.Pipeline) -> generate.Pipeline | None:
    """For a big-file shape, the same steps on 1-byte files: the difference is the cost of the data."""
    if not p.big:
        return None
    twin = generate.big_files(len(p.big), 0)
    twin.big = {k: 1 for k in twin.big}
    twin.name = p.name + "-tiny"
    return twin


def run_shapes(tools: list[toolmod.Tool], opts, workdir: str, log, out: list[dict]) -> None:
    """All scenarios for every shape (appended to `out` as they finish): pipe and make on every shape,
    the peers on --peer-shapes."""
    shapes, peer_shapes = _split(opts.shapes), _split(opts.peer_shapes)
    if opts.peer_shapes == "all":
        peer_shapes = shapes
    for spec in shapes + [s for s in peer_shapes if s not in shapes]:
        p = generate.parse_shape(spec)
        these = [t for t in tools if t.name not in PEERS or spec in peer_shapes]
        entry = {
            "shape": spec,
            "name": p.name,
            "steps": len(p.steps),
            "changed": p.changed,
            "expected_change": len(p.affected(p.changed)),
            "expected_change_min": len(p.affected(p.changed, early_cutoff=True)),
            "data_shape": bool(p.folders or p.big),
            "results": {},
        }
        master = prepare_master(p, workdir, log)
        for tool in these:
            entry["results"][tool.name] = bench_tool(tool, p, master, workdir, opts, "scenarios", log)
        twin = tiny_twin(p)
        if twin:
            entry["big_bytes"] = sum(p.big.values())
            entry["changed_bytes"] = p.big.get(p.changed, 0)  # what a touch makes pipe read again
            twin_master = prepare_master(twin, workdir, log)
            entry["tiny_full"] = {}
            for t in these:
                res = bench_tool(t, twin, twin_master, workdir, opts, "full_only", log)
                entry["tiny_full"][t.name] = res.get("full") or res.get("setup")
            shutil.rmtree(os.path.join(workdir, twin.name), ignore_errors=True)
        if not opts.keep:
            shutil.rmtree(os.path.join(workdir, p.name), ignore_errors=True)
        out.append(entry)


def run_scaling(tools: list[toolmod.Tool], opts, workdir: str, log, out: list[dict]) -> None:
    """Chain of N steps for each N (and N = 1) and each scaling tool (appended to `out`): full once,
    then no-op, status, extras."""
    names = set(_split(opts.scaling_tools))
    sizes = sorted({int(x) for x in _split(opts.scaling)})
    if sizes:
        sizes = sorted(set(sizes) | {1})  # N = 1: the fixed cost, subtracted to get the cost per step
    for n in sizes:
        p = generate.chain(n)
        master = prepare_master(p, workdir, log)
        for tool in [t for t in tools if t.name in names]:
            res = bench_tool(tool, p, master, workdir, opts, "scaling", log)
            out.append({"tool": tool.name, "n": n, "results": res})
        if not opts.keep:
            shutil.rmtree(os.path.join(workdir, p.name), ignore_errors=True)


def _split(text: str) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; unset ones come from the --quick or full preset."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Shapes: chain:N, wide:N, lattice:NxW, files:N, big:KxMiB "
        "(see benchmarks/generate.py). Guide: docs/benchmarks.md.",
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions: about 2 minutes")
    ap.add_argument(
        "--tools",
        default=",".join(ALL_TOOLS),
        help="comma-separated, from pipe,make,dvc,snakemake (default: all found)",
    )
    ap.add_argument("--peers-venv", metavar="DIR", help="a virtualenv whose bin/ holds dvc and/or snakemake")
    ap.add_argument("--shapes", help="comma-separated shapes that pipe and make run")
    ap.add_argument(
        "--peer-shapes",
        help="shapes that dvc and snakemake run (pipe and make run them too); 'all': --shapes; '': none",
    )
    ap.add_argument("--scaling", help="chain sizes for the scaling series, e.g. 100,1000,10000 ('' to skip)")
    ap.add_argument("--scaling-tools", default="pipe,make", help="tools in the scaling series (default: pipe,make)")
    ap.add_argument("--reps", type=int, help="repetitions per measurement (median reported)")
    ap.add_argument("--budget", type=float, help="stop repeating a measurement once it used this many seconds")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before one command is killed (default 1800)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="parallel jobs for pipe, make and snakemake (default 2)")
    ap.add_argument("--workdir", help="where to build the workspaces (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces")
    ap.add_argument("--out", default=DEFAULT_OUT, help="folder for results JSON and markdown (default benchmarks/out)")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference costs (spawn, stat, hashing)")
    ap.add_argument("--reference-files", type=int, help="files to stat for the reference stat cost")
    ap.add_argument("--reference-mib", type=int, help="size of the file hashed for the reference throughput")
    ap.add_argument("--reference-spawns", type=int, help="processes started to time a spawn")
    ap.add_argument(
        "--pipe-cmd", help="how to start pipe (default: this Python -m pipefile, this checkout first on PYTHONPATH)"
    )
    args = ap.parse_args(argv)
    for key, value in PRESETS["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        for spec in _split(args.shapes) + _split(args.peer_shapes if args.peer_shapes != "all" else ""):
            generate.parse_shape(spec)
        [int(x) for x in _split(args.scaling)]
    except ValueError as e:
        ap.error(str(e))
    unknown = set(_split(args.tools)) - set(ALL_TOOLS)
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the markdown report, write results under --out."""
    opts = parse_args(argv)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    tools = toolmod.find_tools(
        _split(opts.tools), opts.jobs, opts.peers_venv, opts.pipe_cmd.split() if opts.pipe_cmd else None, log
    )
    log("tools: " + ", ".join(f"{t.name} ({t.version})" for t in tools))
    workdir = opts.workdir or tempfile.mkdtemp(prefix="pipe-bench-")
    os.makedirs(workdir, exist_ok=True)
    results = {
        "machine": measure.machine(),
        "tools": {t.name: t.version for t in tools},
        "options": {k: v for k, v in vars(opts).items()},
        "complete": False,
        "shapes": [],
        "scaling": [],
    }
    try:
        if not opts.no_reference:
            results["reference"] = measure.reference_costs(
                os.path.join(workdir, "reference"), opts.reference_files, opts.reference_mib, opts.reference_spawns, log
            )
            shutil.rmtree(os.path.join(workdir, "reference"), ignore_errors=True)
        run_shapes(tools, opts, workdir, log, results["shapes"])
        run_scaling(tools, opts, workdir, log, results["scaling"])
        results["complete"] = True
    finally:  # also after a crash or Ctrl-C: report what was measured
        if not opts.keep and not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        results["total_s"] = time.perf_counter() - started
        results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
        text = report.markdown(results)
        print(text)
        write_results(results, text, opts.out, log)
    return 0


def write_results(results: dict, text: str, out_dir: str, log) -> None:
    """Write results-<time>.json/.md and latest.json/.md under `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"results-{stamp}", "latest"):
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
        with open(os.path.join(out_dir, name + ".md"), "w") as f:
            f.write(text)
    log(f"results: {os.path.join(out_dir, 'latest.md')} and .json (also results-{stamp}.*)")


if __name__ == "__main__":
    sys.exit(main())
