"""Lineage: the tree of recorded steps and data that produced an artifact version or an output.

Reads the JobStore (and, in a workspace made by `pipe clone`, the original's, for the
versions copied from it). An artifact version names the job and step that first made
its content; that step's record holds its command, environment identity, key and the
content digest of every input and `code:` path. An input bound to an artifact
(.pipe/artifacts/NAME/VERSION) leads to the step that made that version. The producer
of any other input is found by content, preferring a step that wrote it at that path:
the step of the same job, else the step an artifact version of that content names,
else the newest earlier job that wrote it. A node is labelled NAME:VERSION only when
it is that version (its step and output, its asset path, or its bound path), never for
equal content alone. Data that no recorded step wrote is a source: a named asset
version when one was recorded at that path, else a plain file or folder.

The result is plain data (dicts, ready for JSON): a *data* node
    {"type": "data", "path", "kind", "digest", "size", "artifacts": ["model:3"],
     "source": bool, "asset": bool, "produced_by": step node | None, "note": str?, "cut": true?}
and a *step* node
    {"type": "step", "job", "job_uid", "experiment", "git", "step", "outcome", "key",
     "command", "env", "params", "code": {path: {kind, digest}},
     "inputs": {name: data node | {"value": V, "param"?: P} | {"none": true} | {"path": P, "left_out": true}}}
Content addressing makes the graph acyclic; a step met twice is the same dict object
(renderers show it once).
"""

from __future__ import annotations

import json
import os
import re
from typing import Callable, Optional

from .errors import PipefileError, did_you_mean
from .jobdb.artifacts import ArtifactVersion
from .jobdb.jobs import JobStore
from .jobdb.records import JobStep
from .workspace import STATE_DIR, read_origin

# Where a step reads an artifact version it binds (artifacts._artifact_rel).
_BOUND = re.compile(r"^" + re.escape(STATE_DIR) + r"/artifacts/(?P<name>[^/]+)/(?P<version>[0-9]+)$")
_REF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?::(?P<version>[^:]*))?$")


def parse_ref(text: str) -> tuple:
    """'model' -> ('model', None); 'model:3' -> ('model', 3); 'model:latest' -> ('model', None)."""
    m = _REF.match(text.strip())
    if not m:
        raise PipefileError(f"'{text}' is not an artifact reference", hint="write NAME or NAME:VERSION, e.g. model:3")
    version = m.group("version")
    if version is None or version == "latest":
        return m.group("name"), None
    if not re.fullmatch(r"[0-9]+", version) or int(version) < 1:  # ASCII: '²'.isdigit() is true
        raise PipefileError(
            f"'{text}': the version must be a number from 1 up, or latest",
            hint=f"e.g. {m.group('name')}:1; `pipe artifacts show {m.group('name')}` lists them",
        )
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


MAX_DEPTH = 100  # steps from the node asked about: deeper, a data node is cut ("cut": true, "note")


class Lineage:
    """Builds lineage trees from one JobStore; memoises steps so shared ancestry is built once.

    `manifest_of(key)`, when given, returns a step key's manifest (the action cache keeps
    them): it tells which params the step itself used; without it a step shows its job's
    params."""

    def __init__(
        self,
        jobs: JobStore,
        manifest_of: Optional[Callable] = None,
        workspace: Optional[str] = None,
        _seen: Optional[set] = None,
    ):
        self.jobs = jobs
        self.manifest_of = manifest_of
        self.workspace = workspace  # set when this is the original of a clone: step nodes name it
        self._job_cache: dict = {}
        self._steps: dict = {}  # (job id, step) -> step node
        self._building: set = set()
        self._origin_lineage: Optional[Lineage] = None
        self._origin_read = False
        self._origin: Optional[dict] = None
        self._seen = _seen if _seen is not None else set()  # workspaces already open (no loops)
        self._seen.add(os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(jobs.path)))))

    # --- entry points -----------------------------------------------------------------
    def of_version(self, v: ArtifactVersion, path: Optional[str] = None) -> dict:
        """The node of artifact version `v` (read at `path`, by default where it was made)."""
        node = {
            "type": "data",
            "path": path or v.path,
            "kind": v.kind,
            "digest": v.digest,
            "size": v.size,
            "artifacts": [v.ref],
            "source": True,
            "asset": False,
            "produced_by": None,
        }
        if v.step:
            node["source"] = False
            step, note = self._made(v)
            node["produced_by"] = step
            if note:
                node["note"] = note
        else:
            node["asset"] = True
            job, where = self._version_job(v)
            if job is None:
                node["note"] = "added with `pipe asset add`"
            else:
                node["note"] = f"asset, recorded by job {job}" + (f" of {where}" if where else "")
        return node

    def _version_job(self, v: ArtifactVersion) -> tuple:
        """(job id, workspace or None) that made `v`: a version copied by `pipe clone` has
        no job here; clone.json names the original's."""
        if v.job_id is not None:
            return v.job_id, self.workspace
        origin = self._read_origin()
        job = ((origin or {}).get("artifacts") or {}).get(v.ref)
        if isinstance(job, int):
            return job, origin.get("workspace")
        return None, None

    def _made(self, v: ArtifactVersion) -> tuple:
        """(step node | None, note | None) of the step that made version `v`."""
        if v.job_id is not None:
            rec = self.jobs.step_record(v.job_id, v.step)
            if rec is not None:
                return self._step(rec), None
            return None, f"made by step '{v.step}' of job {v.job_id}, whose record is gone"
        # Copied into this clone from its original workspace: the record is there.
        origin = self._read_origin()
        other = self._origin_builder()
        if other is not None:
            ov = other.jobs.find_version(v.name, v.kind, v.digest)
            if ov is not None and ov.step:
                step, _note = other._made(ov)
                if step is not None:
                    return step, None
        job, where = self._version_job(v)
        if origin is None:
            return None, f"made by step '{v.step}' in another workspace; its record is not here"
        where = where or origin.get("workspace") or "the original workspace"
        if job is None:
            return None, f"made by step '{v.step}' in {where} (copied by `pipe clone`), whose record is not there"
        return (
            None,
            f"made by step '{v.step}' in job {job} of {where} (copied by `pipe clone`), whose record is not there",
        )

    def _read_origin(self) -> Optional[dict]:
        if not self._origin_read:
            self._origin_read = True
            self._origin = read_origin(os.path.dirname(os.path.abspath(self.jobs.path)))
        return self._origin

    def _origin_builder(self) -> Optional["Lineage"]:
        """A Lineage over the jobs of the workspace this one was cloned from, if it is still there."""
        if self._origin_lineage is None:
            origin = self._read_origin()
            root = origin.get("workspace") if origin else None
            if not isinstance(root, str):
                return None
            db = os.path.join(root, STATE_DIR, "jobs.db")
            if os.path.realpath(root) in self._seen or not os.path.isfile(db):
                return None
            try:
                jobs = JobStore(db, create=False)
            except Exception:  # an unreadable original (newer format, damaged): no lineage from there
                return None
            self._origin_lineage = Lineage(jobs, self.manifest_of, workspace=root, _seen=self._seen)
        return self._origin_lineage

    def close(self) -> None:
        if self._origin_lineage is not None:
            self._origin_lineage.close()
            self._origin_lineage.jobs.close()
            self._origin_lineage = None

    def of_output(self, path: str, content: Optional[dict]) -> dict:
        """Lineage of a workspace path: by its current content when it exists (`content`:
        {kind, digest, size}), else by the newest record of that path."""
        if content is not None:
            rec = self.jobs.newest_step_with_output(content["digest"], path) or self.jobs.newest_step_with_output(
                content["digest"]
            )
            if rec is None:
                versions = self.jobs.versions_of(content["digest"])
                here = [v for v in versions if v.path == path]
                if here:
                    return self.of_version(here[0], path)
                if versions:  # a copy of a version (`pipe artifacts get`, say): that version's lineage
                    node = self.of_version(versions[0])
                    node["note"] = f"'{path}' holds the content of {versions[0].ref}" + (
                        f"; {node['note']}" if node.get("note") else ""
                    )
                    return node
                recorded = self.jobs.newest_step_with_output(path=path)
                if recorded is not None:
                    raise PipefileError(
                        f"'{path}' holds content that no recorded job produced (it was changed after job "
                        f"{recorded.job_id} wrote it)",
                        hint="run `pipe run` to rebuild it, or ask for a stored version: pipe lineage NAME:VERSION",
                    )
                raise PipefileError(
                    f"no recorded job produced '{path}'",
                    hint=self._path_hint(path) or "lineage covers outputs of `pipe run` and artifacts",
                )
            return self._data(
                path, content["kind"], content["digest"], content.get("size", 0), rec.job_id, producer=rec
            )
        recs = self.jobs.steps_with_output(path=path)
        recs = [r for r in recs if any(o.get("path") == path and o.get("digest") for o in r.outputs.values())]
        if not recs:
            raise PipefileError(
                f"'{path}' does not exist, and no recorded job produced it",
                hint=self._path_hint(path) or "give an output path or an artifact NAME[:VERSION]",
            )
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

    def _producer(self, digest: str, context_job: Optional[int], path: str = "") -> Optional[JobStep]:
        if context_job is not None and path:
            # Most often a step of the same job wrote it there: the answer below, found among that
            # job's rows alone instead of every step row of the history.
            for r in self.jobs.steps_with_output(digest, path, (context_job, context_job + 1)):
                if r.outcome not in ("failed", "skipped"):
                    return r
        recs = [r for r in self.jobs.steps_with_output(digest) if r.outcome not in ("failed", "skipped")]
        if not recs:
            return None
        here = [r for r in recs if any(o.get("digest") == digest and o.get("path") == path for o in r.outputs.values())]
        if here:  # a step that wrote this content at this path, before one that wrote it elsewhere
            recs = here
        if context_job is not None:
            for r in recs:
                if r.job_id == context_job:
                    return r
        for v in self.jobs.versions_of(digest):
            if v.step and v.job_id is not None and (not here or v.path == path):
                rec = self.jobs.step_record(v.job_id, v.step)
                if rec is not None:
                    return rec
        if context_job is not None:
            for r in recs:
                if r.job_id <= context_job:
                    return r
        return recs[0]

    def _data(
        self,
        path: str,
        kind: str,
        digest: str,
        size: int,
        context_job: Optional[int],
        producer: Optional[JobStep] = None,
    ) -> dict:
        bound = self._bound_version(path, digest)
        if bound is not None:  # an input bound to ${{artifacts.NAME:V}}: the lineage of that version
            return self.of_version(bound, path)
        versions = self.jobs.versions_of(digest)
        rec = producer or self._producer(digest, context_job, path)
        node = {
            "type": "data",
            "path": path,
            "kind": kind,
            "digest": digest,
            "size": size,
            "artifacts": [v.ref for v in sorted(_named(versions, path, rec), key=lambda v: (v.name, v.version))],
            "source": True,
            "asset": False,
            "produced_by": None,
        }
        if not size:
            size = next((v.size for v in versions), 0)
            if not size and rec is not None:
                size = _output_of(rec, digest, path).get("size", 0)
            node["size"] = size
        if rec is not None and (rec.job_id, rec.step) not in self._building and len(self._building) >= MAX_DEPTH:
            # A chain hundreds of steps long: each step is a few frames of recursion here and
            # levels of nesting in the JSON (past Python's limit: a RecursionError, exit 70).
            node["source"] = False
            node["cut"] = True
            node["note"] = (
                f"made by step '{rec.step}' in job {rec.job_id}; the lineage stops {MAX_DEPTH} steps deep"
                + (f": `pipe lineage {path}` goes on from here" if path else "")
            )
        elif rec is not None and (rec.job_id, rec.step) not in self._building:
            node["produced_by"] = self._step(rec)
            node["source"] = False
        elif node["artifacts"] and all(not v.step for v in versions if v.ref in node["artifacts"]):
            node["asset"] = True
        elif rec is None and kind == "tree" and context_job is not None and path:
            self._made_in_parts(node, path, context_job)
        return node

    def _made_in_parts(self, node: dict, path: str, job_id: int) -> None:
        """A folder no one step wrote whole, whose entries steps of the job wrote (a sweep's or a
        matrix's tasks, each its own entry, read whole by STEP.best): said so, not "source"."""
        makers = sorted(
            {
                r.step
                for r in self.jobs.steps(job_id)
                if r.outcome not in ("failed", "skipped")
                and any(str(o.get("path", "")).startswith(path + "/") for o in r.outputs.values())
            },
            key=lambda n: (len(n), n),
        )
        if makers:
            node["source"] = False
            shown = ", ".join(f"'{m}'" for m in makers[:5]) + (f" and {len(makers) - 5} more" if makers[5:] else "")
            node["note"] = f"its entries made by step{'s' if makers[1:] else ''} {shown} in job {job_id}"

    def _bound_version(self, path: str, digest: str) -> Optional[ArtifactVersion]:
        m = _BOUND.match(path or "")
        if not m:
            return None
        try:
            v = self.jobs.artifact(m.group("name"), int(m.group("version")))
        except PipefileError:
            return None
        return v if v.digest == digest else None

    def _ran(self, rec: JobStep) -> JobStep:
        """The record of the run that made this content: a fresh or restored step points
        back (by its key: same definition, same inputs) to the job where it ran."""
        if rec.outcome == "ran" or not rec.key:
            return rec
        same = self.jobs.steps_with_key(rec.key, rec.step, "ran")
        earlier = [r for r in same if r.job_id <= rec.job_id]
        return (earlier or same or [rec])[0]

    def _step(self, rec: JobStep) -> dict:
        rec = self._ran(rec)
        key = (rec.job_id, rec.step)
        if key in self._steps:
            return self._steps[key]
        job = self._job(rec.job_id)
        node = {
            "type": "step",
            "job": rec.job_id,
            "job_uid": job.uid if job else None,
            "experiment": job.experiment if job else None,
            "git": {"commit": job.git_commit, "dirty": job.git_dirty} if job and job.git_commit else None,
            "step": rec.step,
            "outcome": rec.outcome,
            "key": rec.key,
            "command": rec.command,
            "env": rec.env,
            "finished": rec.finished,
            "params": dict(job.params) if job else {},
            "params_of": "job",
            "code": {},
            "inputs": {},
        }
        if self.workspace:
            node["workspace"] = self.workspace  # a job of the workspace this one was cloned from
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
                    node["inputs"][name] = self._data(
                        inp.get("path", ""), inp.get("kind", ""), inp["digest"], inp.get("size", 0), rec.job_id
                    )
                elif inp.get("none"):
                    node["inputs"][name] = {"none": True}
                elif inp.get("left_out"):  # a sweep trial a gathering left out (stopped early, or failed)
                    node["inputs"][name] = {"path": inp.get("path", ""), "left_out": True}
                else:
                    node["inputs"][name] = {k: inp[k] for k in ("value", "param") if k in inp}
        finally:
            self._building.discard(key)
        return node


def _named(versions: list, path: str, rec: Optional[JobStep]) -> list:
    """The versions (of this content) that name this node: made by its producer's step
    as that output, or (a source) the asset recorded at this path. Equal content alone
    does not name it."""
    out = []
    for v in versions:
        if v.step:
            if (
                rec is not None
                and v.step == rec.step
                and (v.path == path or (rec.outputs.get(v.output or "") or {}).get("path") == path)
            ):
                out.append(v)
        elif v.path == path:
            out.append(v)
    return out


def _output_of(rec: JobStep, digest: Optional[str], path: str) -> dict:
    for o in rec.outputs.values():
        if o.get("path") == path and (digest is None or o.get("digest") == digest):
            return o
    for o in rec.outputs.values():
        if digest is not None and o.get("digest") == digest:
            return o
    return {"path": path, "kind": "", "digest": digest or "", "size": 0}
