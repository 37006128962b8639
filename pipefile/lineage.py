"""Lineage: the tree of recorded steps and data that produced an artifact version or an output.

Reads only the JobStore. An artifact version names the job and step that first made
its content; that step's record holds its command, environment identity, key and the
content digest of every input and `code:` path. The producer of each input is found
by content, not by path: the step of the same job that wrote that digest, else the
step an artifact version of that content names, else the newest earlier job that
wrote it. Data that no recorded step wrote is a source: a named asset version when
one holds that content, else a plain file or folder of the workspace.

The result is plain data (dicts, ready for JSON): a *data* node
    {"type": "data", "path", "kind", "digest", "size", "artifacts": ["model:3"],
     "source": bool, "asset": bool, "produced_by": step node | None, "note": str?}
and a *step* node
    {"type": "step", "job", "job_uid", "experiment", "git", "step", "outcome", "key",
     "command", "env", "params", "code": {path: {kind, digest}},
     "inputs": {name: data node | {"value": V, "param"?: P} | {"none": true}}}
Content addressing makes the graph acyclic; a step met twice is the same dict object
(renderers show it once).
"""

from __future__ import annotations

import json
import re
from typing import Callable, Optional

from .errors import PipefileError, did_you_mean
from .store.jobs import ArtifactVersion, JobStep, JobStore

_REF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?::(?P<version>[^:]*))?$")


def parse_ref(text: str) -> tuple:
    """'model' -> ('model', None); 'model:3' -> ('model', 3); 'model:latest' -> ('model', None)."""
    m = _REF.match(text.strip())
    if not m:
        raise PipefileError(f"'{text}' is not an artifact reference", hint="write NAME or NAME:VERSION, e.g. model:3")
    version = m.group("version")
    if version is None or version == "latest":
        return m.group("name"), None
    if not version.isdigit() or int(version) < 1:
        raise PipefileError(f"'{text}': the version must be a number from 1 up, or latest",
                            hint=f"e.g. {m.group('name')}:1; `pipe artifacts show {m.group('name')}` lists them")
    return m.group("name"), int(version)


def looks_like_ref(jobs: JobStore, text: str) -> bool:
    """True if `text` names an artifact (NAME or NAME:V) rather than a path."""
    m = _REF.match(text.strip())
    if not m:
        return False
    if m.group("version") is not None:
        return True
    return m.group("name") in set(jobs.artifact_names())


def action_manifest(actions) -> Callable:
    """A `manifest_of(key)` reading the key manifest kept in the action cache (None if gone)."""

    def manifest_of(key: str) -> Optional[dict]:
        try:
            with open(actions.path(key), "rb") as f:
                entry = json.loads(f.read())
            return entry.get("manifest") if entry.get("key") == key else None
        except (OSError, ValueError, AttributeError):
            return None

    return manifest_of


class Lineage:
    """Builds lineage trees from one JobStore; memoises steps so shared ancestry is built once.

    `manifest_of(key)`, when given, returns a step key's manifest (the action cache keeps
    them): it tells which params the step itself used; without it a step shows its job's
    params."""

    def __init__(self, jobs: JobStore, manifest_of: Optional[Callable] = None):
        self.jobs = jobs
        self.manifest_of = manifest_of
        self._job_cache: dict = {}
        self._steps: dict = {}  # (job id, step) -> step node
        self._building: set = set()

    # --- entry points -----------------------------------------------------------------
    def of_version(self, v: ArtifactVersion) -> dict:
        node = self._data(v.path, v.kind, v.digest, v.size, None)
        if v.ref not in node["artifacts"]:
            node["artifacts"].insert(0, v.ref)
        else:
            node["artifacts"].remove(v.ref)
            node["artifacts"].insert(0, v.ref)
        if v.step:
            rec = self.jobs.step_record(v.job_id, v.step) if v.job_id is not None else None
            if rec is None:
                node["note"] = f"made by step '{v.step}' of job {v.job_id}, whose record is gone"
                node["source"] = False
            else:
                node["produced_by"] = self._step(rec)
                node["source"] = False
        else:
            node["produced_by"] = None
            node["source"] = True
            node["asset"] = True
            if v.job_id is None:
                node["note"] = "added with `pipe asset add`"
            else:
                node["note"] = f"asset, recorded by job {v.job_id}"
        return node

    def of_output(self, path: str, content: Optional[dict]) -> dict:
        """Lineage of a workspace path: by its current content when it exists (`content`:
        {kind, digest, size}), else by the newest record of that path."""
        if content is not None:
            recs = [r for r in self.jobs.steps_with_output(content["digest"], path)]
            if not recs:
                recs = self.jobs.steps_with_output(content["digest"])
            if not recs:
                versions = self.jobs.versions_of(content["digest"])
                if versions:
                    return self.of_version(versions[0])
                recorded = self.jobs.steps_with_output(path=path)
                if recorded:
                    raise PipefileError(
                        f"'{path}' holds content that no recorded job produced (it was changed after job "
                        f"{recorded[0].job_id} wrote it)",
                        hint="run `pipe run` to rebuild it, or ask for a stored version: pipe lineage NAME:VERSION")
                raise PipefileError(f"no recorded job produced '{path}'",
                                    hint=self._path_hint(path) or "lineage covers outputs of `pipe run` and artifacts")
            rec = recs[0]
            return self._data(path, content["kind"], content["digest"], content.get("size", 0), rec.job_id,
                              producer=rec)
        recs = self.jobs.steps_with_output(path=path)
        recs = [r for r in recs if any(o.get("path") == path and o.get("digest") for o in r.outputs.values())]
        if not recs:
            raise PipefileError(f"'{path}' does not exist, and no recorded job produced it",
                                hint=self._path_hint(path) or "give an output path or an artifact NAME[:VERSION]")
        rec = recs[0]
        out = _output_of(rec, None, path)
        node = self._data(path, out["kind"], out["digest"], out.get("size", 0), rec.job_id, producer=rec)
        node["note"] = f"not in the workspace now; as job {rec.job_id} wrote it"
        return node

    def _path_hint(self, path: str) -> Optional[str]:
        choices = self.jobs.output_paths() + self.jobs.artifact_names()
        return did_you_mean(path, choices, "output and artifact") if choices else None

    # --- building -------------------------------------------------------------------
    def _job(self, job_id: int):
        if job_id not in self._job_cache:
            try:
                self._job_cache[job_id] = self.jobs.get(job_id)
            except PipefileError:
                self._job_cache[job_id] = None
        return self._job_cache[job_id]

    def _producer(self, digest: str, context_job: Optional[int]) -> Optional[JobStep]:
        recs = [r for r in self.jobs.steps_with_output(digest) if r.outcome not in ("failed", "skipped")]
        if not recs:
            return None
        if context_job is not None:
            for r in recs:
                if r.job_id == context_job:
                    return r
        for v in self.jobs.versions_of(digest):
            if v.step and v.job_id is not None:
                rec = self.jobs.step_record(v.job_id, v.step)
                if rec is not None:
                    return rec
        if context_job is not None:
            for r in recs:
                if r.job_id <= context_job:
                    return r
        return recs[0]

    def _data(self, path: str, kind: str, digest: str, size: int, context_job: Optional[int],
              producer: Optional[JobStep] = None) -> dict:
        versions = self.jobs.versions_of(digest)
        node = {"type": "data", "path": path, "kind": kind, "digest": digest, "size": size,
                "artifacts": [v.ref for v in sorted(versions, key=lambda v: (v.name, v.version))],
                "source": True, "asset": False, "produced_by": None}
        rec = producer or self._producer(digest, context_job)
        if not size:
            size = next((v.size for v in versions), 0)
            if not size and rec is not None:
                size = _output_of(rec, digest, path).get("size", 0)
            node["size"] = size
        if rec is not None and (rec.job_id, rec.step) not in self._building:
            node["produced_by"] = self._step(rec)
            node["source"] = False
        elif versions and all(not v.step for v in versions):
            node["asset"] = True
        return node

    def _ran(self, rec: JobStep) -> JobStep:
        """The record of the run that made this content: a fresh or restored step points
        back (by its key: same definition, same inputs) to the job where it ran."""
        if rec.outcome == "ran" or not rec.key:
            return rec
        same = [r for r in self.jobs.steps_with_key(rec.key) if r.step == rec.step and r.outcome == "ran"]
        earlier = [r for r in same if r.job_id <= rec.job_id]
        return (earlier or same or [rec])[0]

    def _step(self, rec: JobStep) -> dict:
        rec = self._ran(rec)
        key = (rec.job_id, rec.step)
        if key in self._steps:
            return self._steps[key]
        job = self._job(rec.job_id)
        node = {"type": "step", "job": rec.job_id, "job_uid": job.uid if job else None,
                "experiment": job.experiment if job else None,
                "git": {"commit": job.git_commit, "dirty": job.git_dirty} if job and job.git_commit else None,
                "step": rec.step, "outcome": rec.outcome, "key": rec.key, "command": rec.command, "env": rec.env,
                "finished": rec.finished, "params": dict(job.params) if job else {}, "params_of": "job",
                "code": {}, "inputs": {}}
        manifest = self.manifest_of(rec.key) if self.manifest_of and rec.key else None
        if isinstance(manifest, dict) and isinstance(manifest.get("params"), dict):
            node["params"], node["params_of"] = dict(manifest["params"]), "step"
        self._steps[key] = node
        self._building.add(key)
        try:
            for name, inp in sorted(rec.inputs.items()):
                if name.startswith("code:"):
                    node["code"][inp.get("path", name[5:])] = {"kind": inp.get("kind"), "digest": inp.get("digest")}
                    continue
                if "digest" in inp:
                    node["inputs"][name] = self._data(inp.get("path", ""), inp.get("kind", ""), inp["digest"],
                                                      inp.get("size", 0), rec.job_id)
                elif inp.get("none"):
                    node["inputs"][name] = {"none": True}
                else:
                    node["inputs"][name] = {k: inp[k] for k in ("value", "param") if k in inp}
        finally:
            self._building.discard(key)
        return node


def _output_of(rec: JobStep, digest: Optional[str], path: str) -> dict:
    for o in rec.outputs.values():
        if o.get("path") == path and (digest is None or o.get("digest") == digest):
            return o
    for o in rec.outputs.values():
        if digest is not None and o.get("digest") == digest:
            return o
    return {"path": path, "kind": "", "digest": digest or "", "size": 0}

