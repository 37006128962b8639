"""Write one benchmark pipeline for pipe (Pipefile), GNU make (Makefile), DVC (dvc.yaml) and Snakemake (Snakefile).

A pipeline is described once, tool-neutrally (`Pipeline`: steps with input paths, one output path and a
command template), and each writer renders it in its tool's format. The steps are trivial shell
commands (`cat a b > c`) so that what a benchmark measures is the tool's own overhead.

Every step also appends its name to `../steps.log` (one folder above the workspace, outside every
output and input), so the runner can count which steps really executed, whatever the tool prints.

Shapes (`parse_shape` reads them from strings such as `chain:1000`):

- `chain:N`      step i reads step i-1's output and its own leaf file `leaves/l<i>.txt`
                 (`tail -q -c 64 prev leaf > out`).
- `wide:N`       one source file -> N independent steps (each also reads its own leaf) -> one merge
                 (`cat src leaf > out`; the merge `cat`s them all).
- `lattice:NxW`  N layers of W steps; step (l, c) reads (l-1, c), (l-1, c+1 mod W) and its own leaf
                 (`tail -q -c 64 ...`).
- `files:N`      a folder of N small files (in sub-folders of 1,000) read by one step, then one more step.
- `big:KxM`      K files of M MiB each; every big file is read by two steps, then a merge.

Command line (for looking at, or timing a tool by hand):

    python -m benchmarks.generate chain:100 /tmp/ws --tool pipe --tool make
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

TOOLS = ("pipe", "make", "dvc", "snakemake")
STEP_LOG = "../steps.log"
FILES_PER_DIR = 1000
MIB = 1 << 20

# Command templates: `{in}` is the step's inputs (space-separated), `{out}` its output.
CAT = "cat {in} > {out}"
# The last 64 bytes of each input: the output depends on every input's content (a leaf is shorter than
# 64 bytes and comes last) but stays small, where `cat` would double the size at each layer of a lattice.
TAIL = "tail -q -c 64 {in} > {out}"
COUNT = "find {in} -type f | wc -l > {out}"
HEAD = "head -c 64 {in} > {out}"
SIZE = "wc -c < {in} > {out}"


@dataclass
class Step:
    """One step: the paths it reads, the one file it writes, and its command template."""

    name: str
    inputs: list[str]
    output: str
    template: str = CAT
    # Whether an edit of an input changes the output. Not so for a file count, or for a size when an
    # edit keeps the size: a tool with early cutoff then skips the steps downstream.
    propagates: bool = True


@dataclass
class Pipeline:
    """A tool-neutral pipeline and the source data it needs."""

    name: str
    steps: list[Step]
    files: dict[str, bytes] = field(default_factory=dict)  # small source files: path -> content
    folders: dict[str, int] = field(default_factory=dict)  # folder path -> number of small files in it
    big: dict[str, int] = field(default_factory=dict)  # big file path -> size in bytes
    changed: str = ""  # the source file that the "change" and "touch" scenarios edit

    @property
    def sinks(self) -> list[str]:
        """Outputs that no step reads: the targets of a full build."""
        read = {p for s in self.steps for p in s.inputs}
        return [s.output for s in self.steps if s.output not in read]

    def output_dirs(self) -> list[str]:
        """Folders that hold outputs (make and DVC expect them to exist)."""
        return sorted({os.path.dirname(s.output) for s in self.steps})

    def readers(self, path: str) -> list[Step]:
        """Steps that read `path`, directly or through a folder input that contains it."""
        return [s for s in self.steps if any(path == i or path.startswith(i.rstrip("/") + "/") for i in s.inputs)]

    def affected(self, path: str, early_cutoff: bool = False) -> set[str]:
        """Names of the steps that must run when the content of `path` changes: its readers and downstream.

        With `early_cutoff`, what is downstream of a step whose output stays the same is left out."""
        by_input: dict[str, list[Step]] = {}
        for s in self.steps:
            for i in s.inputs:
                by_input.setdefault(i, []).append(s)
        todo = list(self.readers(path))
        seen: set[str] = set()
        while todo:
            s = todo.pop()
            if s.name not in seen:
                seen.add(s.name)
                if s.propagates or not early_cutoff:
                    todo.extend(by_input.get(s.output, []))
        return seen


# --- shapes -------------------------------------------------------------------------------------


def _leaf(i: int | str) -> str:
    return f"leaves/l{i}.txt"


def chain(n: int) -> Pipeline:
    """`chain:N`: s_i = tail64(s_{i-1}) + leaf_i. The changed leaf is the last one (1 step reruns).

    (With `cat`, step i's output would hold i leaves: 500 MB of outputs over a 10,000-step chain.)"""
    steps, files = [], {}
    for i in range(n):
        files[_leaf(i)] = f"leaf {i}\n".encode()
        prev = [f"build/s{i - 1}.txt"] if i else []
        steps.append(Step(f"s{i}", prev + [_leaf(i)], f"build/s{i}.txt", TAIL))
    return Pipeline(f"chain-{n}", steps, files=files, changed=_leaf(n - 1))


def wide(n: int) -> Pipeline:
    """`wide:N`: src -> w_i = cat(src, leaf_i) for N steps -> merge. The changed leaf feeds w_{N-1} (2 rerun)."""
    files = {"src.txt": b"source\n"}
    steps = []
    for i in range(n):
        files[_leaf(i)] = f"leaf {i}\n".encode()
        steps.append(Step(f"w{i}", ["src.txt", _leaf(i)], f"build/wide/w{i}.txt"))
    # The merge's command uses a glob: N paths in one `sh -c` argument would pass Linux's 128 KiB limit.
    merge = Step("merge", [s.output for s in steps], "build/merged.txt", "cat build/wide/*.txt > {out}")
    return Pipeline(f"wide-{n}", steps + [merge], files=files, changed=_leaf(n - 1))


def lattice(layers: int, width: int) -> Pipeline:
    """`lattice:NxW`: x_{l,c} = tail64(x_{l-1,c}) + tail64(x_{l-1,c+1 mod W}) + leaf_{l,c}. The changed
    leaf is x_{N-2,0}'s, so 3 steps rerun (1 when N = 1)."""
    steps, files = [], {}
    for layer in range(layers):
        for c in range(width):
            leaf = _leaf(f"{layer}_{c}")
            files[leaf] = f"leaf {layer} {c}\n".encode()
            ups = (
                []
                if layer == 0
                else sorted({f"build/x{layer - 1}_{c}.txt", f"build/x{layer - 1}_{(c + 1) % width}.txt"})
            )
            steps.append(Step(f"x{layer}_{c}", ups + [leaf], f"build/x{layer}_{c}.txt", TAIL))
    return Pipeline(f"lattice-{layers}x{width}", steps, files=files, changed=_leaf(f"{max(layers - 2, 0)}_0"))


def folder_file(i: int) -> str:
    """Path of the i-th small file inside the `files` folder (relative to that folder)."""
    return f"d{i // FILES_PER_DIR:03d}/f{i:06d}.txt"


def many_files(n: int) -> Pipeline:
    """`files:N`: count = number of files in data/files (N files); report = cat(count). One file changes."""
    steps = [
        Step("count", ["data/files"], "build/count.txt", COUNT, propagates=False),
        Step("report", ["build/count.txt"], "build/report.txt"),
    ]
    return Pipeline(f"files-{n}", steps, folders={"data/files": n}, changed=f"data/files/{folder_file(n // 2)}")


def big_files(count: int, mib: int) -> Pipeline:
    """`big:KxM`: K files of M MiB; head_k and size_k read big_k; merge reads them all. big0 changes
    (its first bytes, in place: head0's output changes, size0's does not)."""
    big = {f"data/big{k}.bin": mib * MIB for k in range(count)}
    steps = []
    for k, path in enumerate(big):
        steps.append(Step(f"head{k}", [path], f"build/head{k}.txt", HEAD))
        steps.append(Step(f"size{k}", [path], f"build/size{k}.txt", SIZE, propagates=False))
    steps.append(Step("merge", [s.output for s in steps], "build/merged.txt"))
    return Pipeline(f"big-{count}x{mib}MiB", steps, big=big, changed="data/big0.bin")


def parse_shape(spec: str) -> Pipeline:
    """Build a pipeline from `chain:N`, `wide:N`, `lattice:NxW`, `files:N` or `big:KxM` (M in MiB)."""
    m = re.fullmatch(r"(chain|wide|lattice|files|big):(\d+)(?:x(\d+))?", spec.strip())
    if not m:
        raise ValueError(f"bad shape {spec!r}: expected chain:N, wide:N, lattice:NxW, files:N or big:KxMiB")
    kind, a, b = m.group(1), int(m.group(2)), m.group(3)
    if kind in ("lattice", "big") and b is None:
        raise ValueError(f"bad shape {spec!r}: {kind} needs two numbers, e.g. {kind}:4x8")
    if kind not in ("lattice", "big") and b is not None:
        raise ValueError(f"bad shape {spec!r}: {kind} takes one number")
    if a < 1 or (b is not None and int(b) < 1):
        raise ValueError(f"bad shape {spec!r}: sizes must be at least 1")
    builders = {"chain": chain, "wide": wide, "files": many_files}
    if kind == "lattice":
        return lattice(a, int(b))
    if kind == "big":
        return big_files(a, int(b))
    return builders[kind](a)


# --- source data --------------------------------------------------------------------------------


def write_big_file(path: str, size: int) -> None:
    """Write `size` bytes of incompressible data, each MiB block distinct, without holding it in memory."""
    block = bytearray(os.urandom(MIB))
    with open(path, "wb") as f:
        written, index = 0, 0
        while written < size:
            block[:8] = index.to_bytes(8, "little")
            n = min(MIB, size - written)
            f.write(block[:n] if n < MIB else block)
            written, index = written + n, index + 1


def write_data(p: Pipeline, root: str) -> None:
    """Create the pipeline's source data (small files, the file folders, the big files) under `root`."""
    for rel, content in p.files.items():
        _write(os.path.join(root, rel), content)
    for rel, n in p.folders.items():
        for i in range(n):
            _write(os.path.join(root, rel, folder_file(i)), f"file {i}\n".encode())
    for rel, size in p.big.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        write_big_file(os.path.join(root, rel), size)


def _write(path: str, content: bytes) -> None:
    try:
        f = open(path, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, "wb")
    with f:
        f.write(content)


def link_data(p: Pipeline, master: str, root: str) -> None:
    """Give workspace `root` the source data of `master` as hard links (fast, no extra disk)."""
    paths = list(p.files) + list(p.big)
    for rel, n in p.folders.items():
        paths += [os.path.join(rel, folder_file(i)) for i in range(n)]
    made: set[str] = set()
    for rel in paths:
        dst = os.path.join(root, rel)
        d = os.path.dirname(dst)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        os.link(os.path.join(master, rel), dst)


def make_output_dirs(p: Pipeline, root: str) -> None:
    """Create the folders that hold outputs (make and DVC do not create them)."""
    for d in p.output_dirs():
        os.makedirs(os.path.join(root, d), exist_ok=True)


# --- writers ------------------------------------------------------------------------------------


def _command(step: Step, inputs: str, output: str, log_line: str) -> str:
    """The step's shell command with its inputs and output filled in, and the step-log append."""
    return step.template.replace("{in}", inputs).replace("{out}", output) + " && " + log_line


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def pipefile_text(p: Pipeline) -> str:
    """The pipeline as a Pipefile: inline steps, plain-path inputs (linked by path, as in make)."""
    lines = ["version: 1", f"name: {p.name}", "steps:"]
    for s in p.steps:
        names = [f"i{k}" for k in range(len(s.inputs))]
        ins = " ".join("${{inputs.%s}}" % n for n in names)
        lines.append(f"  {s.name}:")
        lines.append(f"    command: {_q(_command(s, ins, '${{outputs.out}}', f'echo {s.name} >> {STEP_LOG}'))}")
        lines.append("    inputs:")
        lines += [f"      {n}: {_q(path)}" for n, path in zip(names, s.inputs)]
        lines.append(f"    outputs: {{out: {_q(s.output)}}}")
    return "\n".join(lines) + "\n"


def makefile_text(p: Pipeline) -> str:
    """The pipeline as a Makefile; a folder input becomes `$(wildcard folder/*/*)` prerequisites."""

    def prereqs(s: Step) -> str:
        return " ".join(f"$(wildcard {i}/*/*)" if i in p.folders else i for i in s.inputs)

    lines = [".PHONY: all", f"all: {' '.join(p.sinks)}", ""]
    for s in p.steps:
        lines.append(f"{s.output}: {prereqs(s)}")
        lines.append("\t" + _command(s, " ".join(s.inputs), "$@", f"echo {s.name} >> {STEP_LOG}"))
    return "\n".join(lines) + "\n"


def dvc_yaml_text(p: Pipeline) -> str:
    """The pipeline as a dvc.yaml: one stage per step, inputs as deps, the output as an out."""
    lines = ["stages:"]
    for s in p.steps:
        lines.append(f"  {s.name}:")
        lines.append(f"    cmd: {_q(_command(s, ' '.join(s.inputs), s.output, f'echo {s.name} >> {STEP_LOG}'))}")
        lines.append(f"    deps: [{', '.join(_q(i) for i in s.inputs)}]")
        lines.append(f"    outs: [{_q(s.output)}]")
    return "\n".join(lines) + "\n"


def snakefile_text(p: Pipeline) -> str:
    """The pipeline as a Snakefile: `rule all` on the sinks, one rule per step."""
    # Snakemake builds its DAG recursively, a few frames per level: a 1,000-step chain passes
    # Python's default limit of 1,000 frames. The Snakefile is Python, so raise it there.
    limit = 20 * len(p.steps) + 1000
    lines = [
        "import sys",
        f"sys.setrecursionlimit(max(sys.getrecursionlimit(), {limit}))",
        "",
        "rule all:",
        f"    input: {p.sinks!r}",
        "",
    ]
    for s in p.steps:
        cmd = _command(s, "{input}", "{output}", f"echo {s.name} >> {STEP_LOG}")
        lines += [f"rule {s.name}:", f"    input: {s.inputs!r}", f"    output: {s.output!r}", f"    shell: {cmd!r}", ""]
    return "\n".join(lines)


TOOL_FILES = {"pipe": "Pipefile", "make": "Makefile", "dvc": "dvc.yaml", "snakemake": "Snakefile"}
WRITERS = {"pipe": pipefile_text, "make": makefile_text, "dvc": dvc_yaml_text, "snakemake": snakefile_text}


def write_tool_file(p: Pipeline, tool: str, root: str) -> str:
    """Write the tool's pipeline file into workspace `root`; return its path."""
    path = os.path.join(root, TOOL_FILES[tool])
    with open(path, "w") as f:
        f.write(WRITERS[tool](p))
    return path


def init_dvc_repo(root: str, dvc: list[str], env: dict[str, str] | None = None) -> None:
    """Make `root` a git + DVC repository (no analytics, no auto-staging) with the data committed to git."""

    def sh(*argv: str) -> None:
        subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    sh("git", "init", "-q")
    sh("git", "config", "user.email", "bench@example.com")
    sh("git", "config", "user.name", "bench")
    sh(*dvc, "init", "-q")
    sh(*dvc, "config", "core.analytics", "false")
    sh(*dvc, "config", "core.autostage", "false")
    sh("git", "add", "-A")
    sh("git", "commit", "-q", "-m", "benchmark workspace")


def create_workspace(
    p: Pipeline,
    root: str,
    tools: list[str],
    master: str | None = None,
    dvc: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Create workspace `root` with the data (linked from `master` when given) and the tools' files."""
    os.makedirs(root, exist_ok=True)
    if master:
        link_data(p, master, root)
    else:
        write_data(p, root)
    make_output_dirs(p, root)
    for tool in tools:
        write_tool_file(p, tool, root)
    if "dvc" in tools:
        init_dvc_repo(root, dvc or ["dvc"], env)


def main(argv: list[str] | None = None) -> int:
    """CLI: write one shape for the chosen tools into a folder."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("shape", help="chain:N, wide:N, lattice:NxW, files:N or big:KxMiB")
    ap.add_argument("dest", help="workspace folder to create (must not exist)")
    ap.add_argument("--tool", action="append", choices=TOOLS, help="tool(s) to write for (default: all)")
    ap.add_argument("--dvc", default="dvc", help="dvc executable, used to initialise the repository")
    args = ap.parse_args(argv)
    try:
        p = parse_shape(args.shape)
    except ValueError as e:
        ap.error(str(e))
    if os.path.exists(args.dest):
        ap.error(f"{args.dest} exists")
    tools = args.tool or [t for t in TOOLS if t != "dvc" or shutil.which(args.dvc)]
    create_workspace(p, args.dest, tools, dvc=[args.dvc])
    print(
        f"{p.name}: {len(p.steps)} steps for {', '.join(tools)} in {args.dest}; "
        f"steps append their names to {os.path.normpath(os.path.join(args.dest, STEP_LOG))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
