"""Recording a run as a pipeline job: the job's snapshot, then each step as it ends.

`JobRecorder` listens to the scheduler's events, like the progress reporter, and
writes one row per finished step at once, so a run killed half-way keeps what
finished. The snapshot (the Pipefile and every `code:` path) goes into the
content store, where an unchanged file costs a stat.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import time
from typing import Optional

from .digest import FILE, Hasher
from .executor import StepResult, command_text
from .graph import Graph
from .keys import render_command
from .rebuilder import Decision
from .store import Workspace
from .store.jobs import FAILED, INTERRUPTED, SUCCEEDED, Job, JobStep


def git_state(root: str) -> tuple:
    """(commit, dirty) of the git work tree holding `root`, or (None, None)."""
    probe = root
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            break
        parent = os.path.dirname(probe)
        if parent == probe:
            return None, None
        probe = parent
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not a reason to fail a run
        return str(os.getuid())


def snapshot(ws: Workspace, hasher: Hasher, graph: Graph) -> tuple:
    """Store the Pipefile and every code path; returns (pipefile digest, {path: content})."""
    pf = graph.pipefile
    rel = os.path.relpath(pf.path, pf.root)
    pf_digest = ws.store.put_file(pf.path)
    code = {}
    for node in graph.nodes.values():
        for c in node.step.code:
            if c.path in code:
                continue
            d = hasher.digest(c.path)
            if d is None:
                continue
            if not ws.store.complete(d):
                ap = os.path.join(pf.root, c.path)
                if d.kind == FILE:
                    ws.store.put_file(ap, d.digest)
                else:
                    ws.store.put_tree(hasher.tree(c.path), ap)
            code[c.path] = d.to_json()
    return f"{rel}", pf_digest, code


def begin_job(ws: Workspace, hasher: Hasher, graph: Graph, experiment: Optional[str], targets, argv,
              cloned_from: Optional[int] = None) -> Job:
    rel, pf_digest, code = snapshot(ws, hasher, graph)
    commit, dirty = git_state(graph.pipefile.root)
    name = experiment or graph.pipefile.name or os.path.basename(graph.pipefile.root)
    return ws.jobs.begin(name, rel, pf_digest, code, dict(graph.params), list(targets), list(argv),
                         commit, dirty, _user(), cloned_from)


def job_status(summary) -> str:
    if summary.interrupted:
        return INTERRUPTED
    return FAILED if summary.failed else SUCCEEDED


class JobRecorder:
    """Scheduler events -> job_steps rows, one per step as soon as it ends."""

    def __init__(self, ws: Workspace, job: Job, graph: Graph):
        self.ws = ws
        self.job = job
        self.graph = graph

    def started(self, name: str, decision: Decision) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None:
        node = self.graph.nodes[result.name]
        manifest = decision.key.manifest if decision is not None and decision.key is not None else {}
        inputs = dict(manifest.get("inputs", {}))
        for path, d in manifest.get("code", {}).items():
            inputs[f"code:{path}"] = dict(d, path=path)
        outputs = {}
        for oname, out in node.outputs.items():
            content = (result.outputs or {}).get(oname)
            outputs[oname] = dict(content.to_json(), path=out.path) if content else {"path": out.path}
        command = result.command or command_text(render_command(node))
        self.ws.jobs.record_step(JobStep(
            self.job.id, result.name, result.outcome, decision.key.digest if decision and decision.key else None,
            manifest.get("env"), command, inputs, outputs, round(result.seconds, 3), result.exit_code,
            result.log, result.error, time.time()))


class Fanout:
    """Several listeners as one: the progress reporter and the job recorder."""

    def __init__(self, *listeners):
        self.listeners = [x for x in listeners if x is not None]

    def started(self, name, decision):
        for x in self.listeners:
            x.started(name, decision)

    def finished(self, result, decision):
        for x in self.listeners:
            x.finished(result, decision)

    def message(self, text):
        for x in self.listeners:
            x.message(text)
