"""What tests share, imported as a module (`from workspace_repo import Repo`): a temporary
workspace that drives the real `pipe` CLI (`Repo`), and the loader and graph called in
process (`validation_errors`) for the many tests that only need to know what a Pipefile
is told. conftest.py turns these into fixtures; tests never import conftest.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

PIPE = [sys.executable, "-m", "pipefile"]
REPO_ROOT = str(Path(__file__).resolve().parent.parent)


def with_file_limit(files: int | tuple | None) -> list:
    """The words that start a command with `files` as its open-file limit: one number for both
    the soft and the hard limit (a server raises a soft limit alone, so a test of what it does
    at the limit sets both), or (soft, hard)."""
    if files is None:
        return []
    soft, hard = files if isinstance(files, tuple) else (files, files)
    return ["prlimit", f"--nofile={soft}:{hard}", "--"]


# Subprocesses run the code of this checkout, whatever copy of pipefile is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))
sys.path.insert(0, REPO_ROOT)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Repo:
    """A temporary workspace: write files, run `pipe`, read outputs."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, rel: str, text: str, dedent: bool = True) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text) if dedent else text)
        return p

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def pipefile(self, text: str) -> Path:
        return self.write("Pipefile", text)

    def pipe(
        self,
        *args: str,
        check: bool | None = None,
        env: dict | None = None,
        timeout: float = 120,
        python: str | None = None,
    ) -> Result:
        """`pipe ARGS` in this workspace; `python`: another interpreter runs it (this checkout's code)."""
        e = dict(os.environ)
        e.pop("PIPE_STORE_DIR", None)
        e["PIPE_PLAIN"] = "1"
        if env:
            e.update(env)
        cmd = [python, "-m", "pipefile"] if python else PIPE
        p = subprocess.run(cmd + list(args), cwd=self.root, capture_output=True, text=True, env=e, timeout=timeout)
        r = Result(p.returncode, p.stdout, p.stderr)
        if check is True:
            assert r.code == 0, str(r)
        return r

    def run_json(self, *args: str, expect: int = 0, **kw) -> dict:
        r = self.pipe("run", "--json", *args, **kw)
        assert r.code == expect, str(r)
        return r.json

    def outcomes(self, *args: str, **kw) -> dict:
        """{step: outcome} of a successful `pipe run`."""
        return {s["name"]: s["outcome"] for s in self.run_json(*args, **kw)["steps"]}

    def states(self, *args: str) -> dict:
        r = self.pipe("status", "--json", *args)
        assert r.code == 0, str(r)
        return {s["name"]: s["state"] for s in r.json["steps"]}


def validation_errors(root: Path, params: Iterable[str] = (), pipefile: str | None = None) -> list:
    """Every PipefileError that `pipe validate [-f pipefile] [-p ...]` in `root` reports, found
    in process: the same loading, param and graph checks, without a `pipe` process (about
    100 times faster). Locations read as the CLI prints them (relative to `root`)."""
    from pipefile import artifacts, speccache
    from pipefile.errors import PipefileError, PipefileErrors

    old = os.getcwd()
    os.chdir(root)  # messages name files relative to the current folder, as the CLI's do
    try:
        # freeze=False: no spec cache (each case is parsed), and the GC is left as it is
        speccache.load_graph(pipefile, list(params), freeze=False, artifacts=artifacts.resolve_artifacts)
        return []
    except PipefileErrors as e:
        return list(e.errors)
    except PipefileError as e:
        return [e]
    finally:
        os.chdir(old)


def noop_record_job(repo: Repo):
    """Which run left the workspace's no-op record (`.pipe/noop`): its job's number; None if
    there is none."""
    try:
        with open(repo.root / ".pipe" / "noop", "rb") as f:
            record = marshal.load(f)
    except FileNotFoundError:
        return None
    cols, (row,) = record[5]["jobs"]
    return row[cols.index("id")]
