"""The tools under test: how to find each one, set up its workspace, run it, ask its status, and reset it.

pipe is always there (this checkout, run as `python -m pipefile` with the checkout on PYTHONPATH).
make is used when it is on PATH; dvc and snakemake when found on PATH, in `--peers-venv DIR`'s
`bin/`, or importable by this Python.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from benchmarks import generate

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Tool:
    """A tool under test. Subclasses fill in the commands and the state to forget for a first run."""

    name: str
    exe: list[str]
    version: str = ""
    jobs: int = 2
    env: dict[str, str] = field(default_factory=dict)
    state: tuple[str, ...] = ()  # workspace paths holding the tool's own state (removed by `reset`)
    caches: tuple[str, ...] = ()  # workspace paths of what it keeps of a parsed pipeline file (dropped for a cold load)

    def run_cmd(self) -> list[str]:
        """Bring everything up to date."""
        raise NotImplementedError

    def status_cmd(self) -> list[str]:
        """Say what would run, without running it."""
        raise NotImplementedError

    def extra_cmds(self) -> dict[str, list[str]]:
        """Other read-only commands worth timing (pipe: validate, dry-run)."""
        return {}

    def setup(self, p: generate.Pipeline, ws: str) -> None:
        """Write the tool's pipeline file into workspace `ws` (which already holds the data)."""
        generate.write_tool_file(p, self.name, ws)

    def reset(self, p: generate.Pipeline, ws: str) -> None:
        """Forget every output and all of the tool's state, so the next run is a first full run."""
        shutil.rmtree(os.path.join(ws, "build"), ignore_errors=True)
        for rel in self.state:
            path = os.path.join(ws, rel)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        generate.make_output_dirs(p, ws)

    def environ(self) -> dict[str, str]:
        """The environment the tool runs with."""
        env = dict(os.environ)
        for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PIPE_STORE_DIR"):
            env.pop(var, None)
        env.update(self.env)
        return env


class Pipe(Tool):
    """pipe, from this checkout."""

    def run_cmd(self) -> list[str]:
        return [*self.exe, "run", "-j", str(self.jobs)]

    def status_cmd(self) -> list[str]:
        return [*self.exe, "status"]

    def extra_cmds(self) -> dict[str, list[str]]:
        return {"validate": [*self.exe, "validate"], "dry-run": [*self.exe, "run", "--dry-run"]}


class Make(Tool):
    """GNU make."""

    def run_cmd(self) -> list[str]:
        return [*self.exe, "-j", str(self.jobs)]

    def status_cmd(self) -> list[str]:
        return [*self.exe, "-n"]


class Dvc(Tool):
    """DVC: `dvc repro` in a git + DVC repository (it runs stages one at a time)."""

    def run_cmd(self) -> list[str]:
        return [*self.exe, "repro"]

    def status_cmd(self) -> list[str]:
        return [*self.exe, "status"]

    def setup(self, p: generate.Pipeline, ws: str) -> None:
        super().setup(p, ws)
        generate.init_dvc_repo(ws, self.exe, self.environ())

    def reset(self, p: generate.Pipeline, ws: str) -> None:
        # The run cache (.dvc/cache/runs) would restore outputs instead of running the stages.
        super().reset(p, ws)
        os.makedirs(os.path.join(ws, ".dvc", "cache"), exist_ok=True)


class Snakemake(Tool):
    """Snakemake with `-c JOBS`."""

    def run_cmd(self) -> list[str]:
        return [*self.exe, "-c", str(self.jobs)]

    def status_cmd(self) -> list[str]:
        return [*self.exe, "-n"]


def _version(argv: list[str], env: dict[str, str] | None = None) -> str:
    """First line of `argv --version`, or '' when it fails."""
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else ""


def _find_peer(name: str, module: str, peers_venv: str | None) -> list[str] | None:
    """A peer's command: from the venv's bin/, then PATH, then `python -m module` if importable."""
    if peers_venv:
        exe = os.path.join(peers_venv, "bin", name)
        if os.access(exe, os.X_OK):
            return [exe]
    exe = shutil.which(name)
    if exe:
        return [exe]
    if importlib.util.find_spec(module) is not None:
        return [sys.executable, "-m", module]
    return None


def pipe_tool(jobs: int, pipe_cmd: list[str] | None = None) -> Pipe:
    """pipe from this checkout (or `pipe_cmd`), run with plain output."""
    exe = pipe_cmd or [sys.executable, "-m", "pipefile"]
    if pipe_cmd is None:
        # As `pip install` does: without it, every run of a module edited since its .pyc was
        # written compiles it again (always, where PYTHONDONTWRITEBYTECODE is set).
        compileall.compile_dir(os.path.join(REPO_ROOT, "pipefile"), quiet=1)
    env = {"PIPE_PLAIN": "1", "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
    tool = Pipe("pipe", exe, jobs=jobs, env=env, state=(".pipe",), caches=(".pipe/cache",))
    tool.version = _version(exe, tool.environ()) or "pipe (this checkout)"
    return tool


def find_tools(
    wanted: list[str], jobs: int, peers_venv: str | None, pipe_cmd: list[str] | None = None, log=print
) -> list[Tool]:
    """The tools among `wanted` that are available here, with their versions."""
    tools: list[Tool] = []
    for name in wanted:
        if name == "pipe":
            tools.append(pipe_tool(jobs, pipe_cmd))
        elif name == "make":
            exe = shutil.which("make")
            if exe:
                tools.append(Make("make", [exe], _version([exe]), jobs))
            else:
                log("make: not found on PATH; skipped")
        elif name == "dvc":
            exe = _find_peer("dvc", "dvc", peers_venv)
            if exe:
                env = {"DVC_NO_ANALYTICS": "1"}
                tools.append(Dvc("dvc", exe, "dvc " + _version(exe), jobs, env, (".dvc/cache", ".dvc/tmp", "dvc.lock")))
            else:
                log("dvc: not found (install it, e.g. into a venv given with --peers-venv); skipped")
        elif name == "snakemake":
            exe = _find_peer("snakemake", "snakemake", peers_venv)
            if exe:
                tools.append(Snakemake("snakemake", exe, "snakemake " + _version(exe), jobs, {}, (".snakemake",)))
            else:
                log("snakemake: not found (install it, e.g. into a venv given with --peers-venv); skipped")
        else:
            raise ValueError(f"unknown tool {name!r}")
    return tools
