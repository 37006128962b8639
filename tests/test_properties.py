"""Properties of `pipe run` over random pipelines and random edit sequences.

For a random DAG of shell steps and a random sequence of edits (content
change, touch, param change, code change, revert, deleted or hand-edited
output), after every `pipe run`:
  correct     every output equals what a clean build computes (a Python model of
              the steps, and at the end a real clean build in a fresh workspace);
  minimal     exactly the steps whose key was never seen before ran (early
              cutoff included: a rerun with identical output stops there);
  idempotent  `pipe status` right after says every step is fresh;
and a run killed with SIGKILL at a random moment, followed by `pipe run`,
gives the same result as a clean build.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workspace_repo import PIPE, Repo

SOURCES = 3
WORDS = ["a", "bb", "a\nb", "ccc", ""]
PARAM_VALUES = ["x", "yy", "x y"]


@dataclass(frozen=True)
class StepSpec:
    index: int
    deps: tuple  # indexes of earlier steps
    sources: tuple  # indexes of source files
    lossy: bool  # output depends only on the input size mod 3: exercises early cutoff
    sleep: float = 0.0
    # "staged" writes ${{outputs.out}}; "literal" writes its workspace path, as in make;
    # "folder" writes a file inside an output folder.
    style: str = "staged"

    @property
    def name(self) -> str:
        return f"s{self.index}"

    @property
    def param(self) -> str:
        return f"p{self.index % 2}"

    @property
    def output(self) -> str:
        """The declared output path."""
        return f"build/s{self.index}" + ("" if self.style == "folder" else ".txt")

    @property
    def file(self) -> str:
        """The file holding the step's result."""
        return self.output + ("/out.txt" if self.style == "folder" else "")

    def reads(self, steps: list) -> list:
        """(declared input path, file to read) for each input."""
        return [(f"data/src{i}.txt", f"data/src{i}.txt") for i in self.sources] + [
            (steps[d].output, steps[d].file) for d in self.deps
        ]


def pipefile_text(steps: list) -> str:
    lines = ["version: 1", "params:", "  p0: x", "  p1: x", "steps:"]
    for s in steps:
        reads = s.reads(steps)
        ins = {f"i{k}": declared for k, (declared, _) in enumerate(reads)}
        cats = " ".join(f"${{{{inputs.i{k}}}}}" + file[len(declared) :] for k, (declared, file) in enumerate(reads))
        cats += f" code/{s.name}.txt"
        pause = f"sleep {s.sleep} && " if s.sleep else ""
        dest = {"staged": "${{outputs.out}}", "literal": s.file, "folder": "${{outputs.out}}/out.txt"}[s.style]
        if s.lossy:
            cmd = f"{pause}echo $(( $(cat {cats} | wc -c) % 3 )) > {dest}"
        else:
            cmd = f"{pause}cat {cats} > {dest} && printf '%s\\n' ${{{{params.{s.param}}}}} >> {dest}"
        lines.append(f"  {s.name}:")
        lines.append(f"    command: {cmd!r}".replace("'", "'", 1))
        lines.append("    inputs: {" + ", ".join(f"{k}: {v}" for k, v in ins.items()) + "}")
        lines.append(f"    outputs: {{out: {s.output}{'/' if s.style == 'folder' else ''}}}")
        lines.append(f"    code: [code/{s.name}.txt]")
    return "\n".join(lines) + "\n"


def model(steps: list, files: dict, params: dict) -> tuple:
    """(expected content of every output, key of every step) for a clean build."""
    out, keys = {}, {}
    for s in steps:
        data = "".join(files[f] if f in files else out[f] for _, f in s.reads(steps)) + files[f"code/{s.name}.txt"]
        if s.lossy:
            content = f"{len(data.encode()) % 3}\n"
            keys[s.name] = (data,)
        else:
            content = data + params[s.param] + "\n"
            keys[s.name] = (data, params[s.param])
        out[s.file] = content
    return out, keys


@st.composite
def pipelines(draw, sleepy: bool = False):
    n = draw(st.integers(2, 6))
    steps = []
    for i in range(n):
        deps = tuple(draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True))) if i else ()
        srcs = tuple(draw(st.lists(st.integers(0, SOURCES - 1), max_size=2, unique=True)))
        if not deps and not srcs:
            srcs = (i % SOURCES,)
        sleep = draw(st.sampled_from([0.0, 0.05, 0.2])) if sleepy else 0.0
        style = draw(st.sampled_from(["staged", "literal", "folder"]))
        steps.append(StepSpec(i, deps, srcs, draw(st.booleans()), sleep, style))
    return steps


def edits(n_steps: int):
    src = st.integers(0, SOURCES - 1)
    step = st.integers(0, n_steps - 1)
    return st.one_of(
        st.tuples(st.just("content"), src, st.sampled_from(WORDS)),
        st.tuples(st.just("touch"), src),
        st.tuples(st.just("param"), st.sampled_from(["p0", "p1"]), st.sampled_from(PARAM_VALUES)),
        st.tuples(st.just("code"), step, st.sampled_from(WORDS)),
        st.tuples(st.just("revert"), st.integers(0, 10)),
        st.tuples(st.just("delete_output"), step),
        st.tuples(st.just("edit_output"), step, st.sampled_from(WORDS)),
    )


def write_all(root: Path, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)


def initial_files(steps) -> dict:
    files = {f"data/src{i}.txt": f"source {i}\n" for i in range(SOURCES)}
    files.update({f"code/{s.name}.txt": "" for s in steps})
    return files


def param_args(params: dict) -> list:
    return [a for k, v in params.items() for a in ("-p", f"{k}={v}")]


def check_outputs(root: Path, expected: dict) -> None:
    for rel, content in expected.items():
        assert (root / rel).read_text() == content, rel


def clean_build(steps, files, params) -> dict:
    with tempfile.TemporaryDirectory() as d:
        fresh = Repo(Path(d))
        write_all(fresh.root, files)
        fresh.write("Pipefile", pipefile_text(steps), dedent=False)
        fresh.outcomes(*param_args(params))
        return {s.file: fresh.read(s.file) for s in steps}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edits_rebuild_correctly_and_minimally(data):
    steps = data.draw(pipelines(), label="steps")
    sequence = data.draw(st.lists(edits(len(steps)), min_size=1, max_size=6), label="edits")
    jobs = ["-j", str(data.draw(st.sampled_from([1, 2]), label="jobs"))]
    with tempfile.TemporaryDirectory() as d:
        repo = Repo(Path(d))
        files = initial_files(steps)
        params = {"p0": "x", "p1": "x"}
        write_all(repo.root, files)
        repo.write("Pipefile", pipefile_text(steps), dedent=False)
        history = [(dict(files), dict(params))]
        seen: set = set()

        def run_and_check():
            expected, keys = model(steps, files, params)
            should_run = {n for n, k in keys.items() if (n, k) not in seen}
            got = repo.outcomes(*jobs, *param_args(params))
            ran = {n for n, o in got.items() if o == "ran"}
            assert ran == should_run, (got, should_run)
            assert set(got.values()) <= {"ran", "restored", "fresh"}
            seen.update(keys.items())
            check_outputs(repo.root, expected)
            assert set(repo.states(*param_args(params)).values()) == {"fresh"}

        run_and_check()
        for edit in sequence:
            kind = edit[0]
            if kind == "content":
                files[f"data/src{edit[1]}.txt"] = edit[2]
            elif kind == "touch":
                p = repo.root / f"data/src{edit[1]}.txt"
                st_ = p.stat()
                os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
            elif kind == "param":
                params[edit[1]] = edit[2]
            elif kind == "code":
                files[f"code/s{edit[1]}.txt"] = edit[2]
            elif kind == "revert":
                old_files, old_params = history[edit[1] % len(history)]
                files, params = dict(old_files), dict(old_params)
            elif kind == "delete_output":
                target = repo.root / steps[edit[1]].output
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            elif kind == "edit_output":
                (repo.root / steps[edit[1]].file).write_text("hand edit: " + edit[2])
            write_all(repo.root, files)
            history.append((dict(files), dict(params)))
            run_and_check()
        expected, _ = model(steps, files, params)
        assert clean_build(steps, files, params) == expected


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=pipelines(sleepy=True), delay=st.floats(0.0, 1.0), edit=st.sampled_from(WORDS))
def test_a_run_killed_at_a_random_moment_is_repaired_by_the_next_run(steps, delay, edit):
    with tempfile.TemporaryDirectory() as d:
        repo = Repo(Path(d))
        files = initial_files(steps)
        params = {"p0": "x", "p1": "x"}
        write_all(repo.root, files)
        repo.write("Pipefile", pipefile_text(steps), dedent=False)
        repo.outcomes("-j2")
        files["data/src0.txt"] = edit + "!"
        files["code/s0.txt"] = edit
        write_all(repo.root, files)
        env = dict(os.environ, PIPE_PLAIN="1")
        p = subprocess.Popen(
            PIPE + ["run", "-j2"],
            cwd=repo.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        got = repo.outcomes("-j2")
        assert set(got.values()) <= {"ran", "restored", "fresh"}
        expected, _ = model(steps, files, params)
        check_outputs(repo.root, expected)
        assert set(repo.states().values()) == {"fresh"}
        leftovers = repo.root / ".pipe/stage"
        assert not leftovers.exists() or not any(leftovers.iterdir())
