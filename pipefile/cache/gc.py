"""Store maintenance: what the store must keep (reachability), deleting the rest, and
checking that every object still matches its name.

What is *live* (never deleted), for every workspace that uses the store (its own
`.pipe/store`, or one shared through PIPE_STORE_DIR or `pipe clone`; the store lists
them under workspaces/):

- every kept job: its Pipefile snapshot, its `code:` snapshots, every input and
  output digest its steps recorded, and a served job's input data; a served job that
  has not ended (queued or running) is always kept;
- every artifact version, whatever became of the job that made it;
- every published deployment, and every upload of a `pipe serve` (with an age limit,
  only those received since; an older one stays while a kept job reads it);
- the current outputs of the workspace (the state journal's step records) and the
  content `pipe recover` can give back (saved.log);
- every run-cache entry that is kept, with everything its outputs need.

An entry the Ray executor committed by digest (its outputs' objects left on the shared
store, `held`: docs/distributed.md) names objects that are not here, and is restorable
all the same: it is kept as a complete one is.

A run-cache entry is *prunable* when it is unreadable, of another format version, or
points at an object that is missing (it can never be restored from anyway); with
`keep_last`, also when no kept job of any workspace and no current workspace state
uses its key. Without `keep_last` every other entry is kept, so a plain `pipe gc`
never makes a later run slower.

Order, so that a crash at any point leaves a consistent store: job records first,
then run-cache entries (and the folders that held them are synced), then objects.
A cache entry therefore never points at a deleted object. Everything runs with the
lock of every workspace that uses the store held, so no run writes meanwhile, and with
each workspace's ServeGate held, so no served job or upload of a `pipe serve` does, and
no `pipe push` sends (it waits for gc, and gc for it).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import field
from typing import Callable, Iterable, Iterator, Optional

from ..digest import E_TREE, TREE, hash_file, parse_manifest
from ..errors import PipefileError
from ..filehash import NotARegularFile, open_regular
from ..lazyclass import dataclass
from ..wholefile import sync_folder
from .action_cache import ACTION_CACHE_VERSION, HELD
from .registry import hold_for_gc, registered_workspaces

_HEX = frozenset("0123456789abcdef")
# The served-job states (jobdb/records.py) of a job that has not ended.
_NOT_ENDED = ("queued", "preparing", "running", "finalizing")


def _is_digest(name: str) -> bool:
    return len(name) == 32 and set(name) <= _HEX


def objects(store) -> Iterator[tuple]:
    """(digest, path, size) of every object in the store."""
    try:
        shards = [e for e in os.scandir(store.objects) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for shard in sorted(shards, key=lambda e: e.name):
        for e in sorted(os.scandir(shard.path), key=lambda e: e.name):
            digest = shard.name + e.name
            if not _is_digest(digest):
                continue  # not an object (a stray file): never touched
            try:
                size = e.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            yield digest, e.path, size


def cache_entries(actions) -> Iterator[tuple]:
    """(key, path, outputs or None) of every run-cache entry; None: unreadable or of
    another version (never used, so always prunable)."""
    try:
        shards = [e for e in os.scandir(actions.dir) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for shard in sorted(shards, key=lambda e: e.name):
        for e in sorted(os.scandir(shard.path), key=lambda e: e.name):
            if not e.name.endswith(".json"):
                continue
            key = shard.name + e.name[:-5]
            outputs = None
            try:
                with open_regular(e.path) as f:  # (a FIFO there: unreadable, never waited on)
                    entry = json.loads(f.read())
                if entry.get("v") == ACTION_CACHE_VERSION and entry.get("key") == key:
                    outputs = [(o["kind"], o["digest"]) for o in entry["outputs"].values()]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                outputs = None
            yield key, e.path, outputs


class Marker:
    """The set of live objects, closed over tree manifests (each tree walked once)."""

    def __init__(self, store):
        self.store = store
        self.live: set = set()
        self._complete: dict = {}  # tree digest -> every object under it is present

    def complete(self, kind: str, digest: str) -> bool:
        """True if every object needed to materialise (kind, digest) is present."""
        if not self.store.has(digest):
            return False
        if kind != TREE:
            return True
        known = self._complete.get(digest)
        if known is not None:
            return known
        ok = True
        try:
            for _name, ekind, d, _size in parse_manifest(self.store.read(digest, set_aside=False)):
                if not (self.complete(TREE, d) if ekind == E_TREE else self.store.has(d)):
                    ok = False
                    break
        except (PipefileError, ValueError, TypeError):
            ok = False
        self._complete[digest] = ok
        return ok

    def mark(self, kind: str, digest: str) -> None:
        """Mark (kind, digest) live, and for a tree everything under it."""
        if not isinstance(digest, str) or not _is_digest(digest):
            return
        if digest in self.live:
            return
        self.live.add(digest)
        if kind != TREE or not self.store.has(digest):
            return
        try:
            entries = parse_manifest(self.store.read(digest, set_aside=False))
        except (PipefileError, ValueError, TypeError):
            return  # a missing or broken manifest: nothing under it can be named
        for _name, ekind, d, _size in entries:
            self.mark(TREE if ekind == E_TREE else "file", d)

    def mark_record(self, d) -> None:
        """A recorded {kind, digest, ...} (job snapshot, step input or output), if it is one."""
        if isinstance(d, dict) and "digest" in d and d.get("kind") in ("file", TREE):
            self.mark(d["kind"], d["digest"])


@dataclass
class GcPlan:
    drop_jobs: list = field(default_factory=list)  # ids of this workspace's jobs to delete
    prune_entries: list = field(default_factory=list)  # (key, path)
    delete_objects: list = field(default_factory=list)  # (digest, path, size)
    kept_objects: int = 0
    kept_bytes: int = 0
    kept_entries: int = 0
    workspaces: list = field(default_factory=list)  # roots whose references were kept
    forgotten: list = field(default_factory=list)  # (registry file, root) of listed workspaces now gone
    forget_uploads: list = field(default_factory=list)  # digests of this workspace's expired uploads
    leftover_job_dirs: list = field(default_factory=list)  # ids of job folders whose record is gone

    @property
    def freed_bytes(self) -> int:
        return sum(s for _d, _p, s in self.delete_objects)

    def to_json(self) -> dict:
        return {
            "deleted": {
                "objects": len(self.delete_objects),
                "bytes": self.freed_bytes,
                "cache_entries": len(self.prune_entries),
                "jobs": list(self.drop_jobs),
                "uploads": list(self.forget_uploads),
                "job_folders": list(self.leftover_job_dirs),
            },
            "kept": {"objects": self.kept_objects, "bytes": self.kept_bytes, "cache_entries": self.kept_entries},
            "workspaces": self.workspaces,
            "forgotten_workspaces": [root for _reg, root in self.forgotten],
        }


def _mark_workspace(
    ws, marker: Marker, keys: set, keep_jobs: Optional[set], uploads_before: Optional[float] = None
) -> list:
    """Mark what one workspace needs; collect the step keys its kept jobs and state use.
    Returns the digests of its uploads last received before `uploads_before` (not marked)."""
    # Only the kept jobs' records are read whole (--keep-last 10 of 20,000 read every one, twice).
    for job in ws.jobs.jobs() if keep_jobs is None else (ws.jobs.get(i) for i in sorted(keep_jobs, reverse=True)):
        marker.mark("file", job.pipefile_digest)
        # A served job's input data (uploads, artifact versions, other jobs' outputs): what
        # a queued job will be laid out from.
        for d in ((job.request or {}).get("assets") or {}).values():
            if isinstance(d, dict) and d.get("digest"):
                marker.mark(d.get("kind", "file"), d["digest"])
        for d in (job.code or {}).values():
            marker.mark_record(d)
        for s in ws.jobs.steps(job.id):
            if s.key:
                keys.add(s.key)
            for d in list((s.inputs or {}).values()) + list((s.outputs or {}).values()):
                marker.mark_record(d)
    for v in ws.jobs.artifacts():
        marker.mark(v.kind, v.digest)
    for rec in ws.state.steps().values():
        keys.add(rec.key)
        for out in rec.outputs.values():
            marker.mark(out.content.kind, out.content.digest)
    for _when, _rel, kind, digest in ws.saved():
        marker.mark(kind, digest)
    return _mark_served(ws, marker, uploads_before)


def _mark_served(ws, marker: Marker, uploads_before: Optional[float]) -> list:
    """Published deployments (snapshot and files), real-time deployments' models, and uploads (those received since
    `uploads_before`; the others are returned). A served job's inputs are marked with the job."""
    db = ws.jobs.db
    for digest, manifest in db.execute("SELECT digest, manifest FROM deployments"):
        marker.mark("file", digest)
        m = json.loads(manifest)
        for d in list(m.get("files", {}).values()) + list(m.get("artifacts", {}).values()):
            marker.mark(d["kind"], d["digest"])
    # Real-time deployments pin their model's content (jobdb/online.py).
    for kind, digest in db.execute("SELECT DISTINCT kind, digest FROM online_deployments"):
        marker.mark(kind, digest)
    expired = []
    for digest, kind, created in db.execute("SELECT digest, kind, created FROM uploads"):
        if uploads_before is not None and (created or 0) < uploads_before:
            expired.append(digest)  # kept all the same if a kept job (or anything else) reads it
        else:
            marker.mark(kind, digest)
    return expired


def plan(ws, others: Iterable = (), keep_last: Optional[int] = None, uploads_before: Optional[float] = None) -> GcPlan:
    """What gc would delete (pure: reads only). `others`: the other workspaces that use
    the store, opened; all their jobs and uploads are kept. `uploads_before`: a time;
    this workspace's uploads last received before it are forgotten (their records go;
    their content too, unless something kept still reads it)."""
    p = GcPlan(workspaces=[ws.root] + [o.root for o in others], forgotten=_gone(ws))
    marker = Marker(ws.store)
    keys: set = set()
    keep_jobs = None
    if keep_last is not None:
        jobs = _job_ids(ws)
        ordered = [i for i, _noop in jobs]  # newest first
        # Only jobs that did work count: N no-op runs must not push real ones out. No-op
        # jobs newer than the oldest job kept stay (they cost nothing: every key they name
        # is a kept job's or the workspace's current state).
        working = [i for i, noop in jobs if not noop]
        worked = working[:keep_last]
        if len(working) <= keep_last:
            oldest = 0  # no working job goes, so no no-op job either
        else:
            oldest = min(worked) if worked else None  # (--keep-last 0: none is kept)
        kept_noops = {i for i, noop in jobs if noop and oldest is not None and i > oldest}
        keep_jobs = set(worked) | kept_noops | _not_ended(ws)
        p.drop_jobs = sorted(set(ordered) - keep_jobs)
        p.leftover_job_dirs = _leftover_job_dirs(ws, set(ordered))
    p.forget_uploads = _mark_workspace(ws, marker, keys, keep_jobs, uploads_before)
    for o in others:
        _mark_workspace(o, marker, keys, None)
    for key, path, outputs in cache_entries(ws.actions):
        keep = outputs is not None and (all(marker.complete(k, d) for k, d in outputs) or _held(path))
        if keep and keep_last is not None:
            keep = key in keys
        if keep:
            p.kept_entries += 1
            for k, d in outputs:
                marker.mark(k, d)
        else:
            p.prune_entries.append((key, path))
    for digest, path, size in objects(ws.store):
        if digest in marker.live:
            p.kept_objects += 1
            p.kept_bytes += size
        else:
            p.delete_objects.append((digest, path, size))
    return p


def _job_ids(ws) -> list:
    """(id, did no work) of every job, newest first: what --keep-last chooses by, read
    without parsing each record's JSON."""
    rows = ws.jobs.db.execute(
        "SELECT j.id, n.job_id IS NOT NULL FROM jobs j LEFT JOIN noop_jobs n ON n.job_id = j.id ORDER BY j.id DESC"
    )
    return [(i, bool(noop)) for i, noop in rows]


def _leftover_job_dirs(ws, recorded: set) -> list:
    """Ids of the log folders (.pipe/jobs/ID) of jobs whose records are gone: a gc stopped
    (killed, a full disk) after deleting the records and before their folders was never
    finished by the next one. Only ids already handed out, and read with every lock held:
    no run or served job is starting one."""
    seq = ws.jobs.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    try:
        names = os.listdir(ws.jobs_dir)
    except OSError:
        return []
    ids = {int(n) for n in names if n.isascii() and n.isdigit() and n == str(int(n))}
    return sorted(i for i in ids if i not in recorded and seq is not None and i <= seq[0])


def _not_ended(ws) -> set:
    """The served jobs that have not ended (queued, or running in a `pipe serve`): never
    dropped, the server still needs their records (request, queue place). Read whole, as
    jobs() reads them: one left running by a process that is gone has ended."""
    marks = ",".join("?" * len(_NOT_ENDED))
    ids = [i for (i,) in ws.jobs.db.execute(f"SELECT id FROM jobs WHERE state IN ({marks})", _NOT_ENDED)]
    return {i for i in ids if ws.jobs.get(i).state in _NOT_ENDED}


def _held(path: str) -> bool:
    """An entry whose outputs stay on a shared store (read again: only for the rare entry
    whose objects are not here)."""
    try:
        with open_regular(path) as f:
            return json.loads(f.read()).get(HELD) is True
    except (OSError, ValueError, AttributeError):
        return False


def delete_jobs(ws, ids: list) -> None:
    """Delete job records (steps, metrics) and logs; artifact versions stay."""
    if not ids:
        return
    db = ws.jobs.db
    db.execute("BEGIN IMMEDIATE")
    try:
        # (their series' points stay while a kept job refers to them: jobdb/series.py)
        ws.jobs.drop_series_of(ids)
        for table, column in (
            ("job_steps", "job_id"),
            ("metrics", "job_id"),
            ("step_metrics", "job_id"),
            ("job_events", "job_id"),
            ("idempotency_keys", "job_id"),
            ("noop_jobs", "job_id"),
            ("trial_stops", "job_id"),  # (the trial runs again: its evidence is gone)
            ("jobs", "id"),
        ):
            db.executemany(f"DELETE FROM {table} WHERE {column}=?", [(i,) for i in ids])
        ws.jobs.drop_unused_metric_sets()  # (the metrics files' values only these jobs used)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    for i in ids:
        shutil.rmtree(ws.job_dir(i), ignore_errors=True)


def apply(ws, p: GcPlan) -> None:
    """Carry out a plan, in the crash-safe order: jobs and upload records, cache entries,
    objects."""
    delete_jobs(ws, p.drop_jobs)
    for i in p.leftover_job_dirs:
        shutil.rmtree(ws.job_dir(i), ignore_errors=True)
    if p.forget_uploads:
        from ..jobdb.serving import ServeStore

        ServeStore(ws.jobs).forget_uploads(p.forget_uploads)
    dirs = set()
    for _key, path in p.prune_entries:
        try:
            os.unlink(path)
            dirs.add(os.path.dirname(path))
        except FileNotFoundError:
            pass
    for d in sorted(dirs):
        sync_folder(d)  # the entries are gone for good before any object they named goes
    for _digest, path, _size in p.delete_objects:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    for reg_file, _root in p.forgotten:
        try:
            os.unlink(reg_file)
        except OSError:
            pass


def lock_all(ws, open_other: Callable, on_wait=None) -> list:
    """Take the lock of `ws` and of every other live workspace using its store, in a
    stable order (two gcs never deadlock), then the store's gc lock (`ws.gc_hold`, let go
    as `ws` is closed). Returns the others, opened and locked; a registration whose
    workspace is gone is dropped. A workspace noted in the store while the locks were
    awaited (new to it, and running already) is waited for too: all are let go and taken
    again, with it."""
    while True:
        others = _lock_listed(ws, open_other, on_wait)
        try:
            hold = hold_for_gc(ws.store_root)
            locked = {os.path.realpath(w.root) for w in [ws] + others}
            if hold is None or _listed(ws) <= locked:
                ws.gc_hold = hold
                return others
            os.close(hold)
        except BaseException:
            _let_go(ws, others)
            raise
        _let_go(ws, others)


def _listed(ws) -> set:
    """The real paths of the live workspaces the store lists (`ws` among them); one that is
    gone is left out (and its registration left for apply() to drop: a dry run changes nothing)."""
    live = {os.path.realpath(ws.root)}
    for _reg_file, root in registered_workspaces(ws.store_root):
        real = _live_root(root)
        if real is not None:
            live.add(real)
    return live


def _live_root(root: str) -> Optional[str]:
    """The real path of a registered workspace, or None if it is no longer there (a record that
    holds no absolute path, a damaged one, names none)."""
    real = os.path.realpath(root) if os.path.isabs(root) and "\0" not in root else None
    if real is None or not os.path.isdir(os.path.join(real, ".pipe")):
        return None
    return real


def _gone(ws) -> list:
    """(registry file, root) of the workspaces the store lists that are no longer there."""
    return [(reg, root) for reg, root in registered_workspaces(ws.store_root) if _live_root(root) is None]


def _lock_listed(ws, open_other: Callable, on_wait) -> list:
    me = os.path.realpath(ws.root)
    order = sorted(_listed(ws))
    opened = []
    try:
        for root in order:
            if root == me:
                ws.lock.acquire(on_wait=on_wait)
            else:
                o = open_other(root)
                opened.append(o)
                o.lock.acquire(on_wait=on_wait)
        # A `pipe serve` writes without the workspace lock: its jobs and uploads are held off
        # (and the ones under way waited for) by each workspace's ServeGate.
        for w in sorted([ws] + opened, key=lambda w: os.path.realpath(w.root)):
            w.serve_gate.exclusive(on_wait)
    except BaseException:
        _let_go(ws, opened)
        raise
    return opened


def _let_go(ws, others: list) -> None:
    for o in others:
        o.close()
    ws.serve_gate.release()
    ws.lock.release()


# --- verify ------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    checked: int = 0
    bytes: int = 0
    corrupt: list = field(default_factory=list)  # (digest, actual digest, where it was moved)

    def to_json(self) -> dict:
        return {
            "checked": self.checked,
            "bytes": self.bytes,
            "corrupt": [{"digest": d, "actual": a, "moved_to": w} for d, a, w in self.corrupt],
        }


def verify(store, on_bad: Optional[Callable] = None) -> VerifyReport:
    """Rehash every object (a tree: its manifest bytes); quarantine each one whose content
    no longer matches its name. Safe beside a running `pipe run`: objects are renamed
    into place whole, and a quarantined object is simply stored again when needed."""
    r = VerifyReport()
    for digest, path, size in objects(store):
        try:
            actual = hash_file(path, regular_only=True)  # (a FIFO put there by hand: never waited on)
        except FileNotFoundError:
            continue
        except NotARegularFile:
            actual = "not a regular file"
        except OSError as e:
            actual = f"unreadable ({e.strerror or e})"
        r.checked += 1
        r.bytes += size
        if actual != digest:
            where = store.quarantine(digest)
            r.corrupt.append((digest, actual, where))
            if on_bad:
                on_bad(digest, actual, where)
    return r
