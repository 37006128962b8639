"""`pipe push` and `pipe pull`: run-cache entries, their objects and artifact versions moved
between the workspace's store and a remote (remote/transport.py), only what the other side lacks.

Push: objects first (in parallel, each hashed before it leaves), then the entry of every
step whose objects all arrived; so an interrupted push leaves no entry behind and the next
push moves only the objects still missing. Pull: decided by the planner against the
remote's run cache, so keys of later steps follow from the outputs of earlier ones
without downloading anything; then every object is fetched, verified, and only then the
entry is written locally. Artifact versions travel with --all-jobs.
"""

from __future__ import annotations

from dataclasses import field
from typing import Callable, Iterable, Optional

from .cache.action_cache import parse_entry
from .errors import PipefileError, did_you_mean
from .lazyclass import dataclass
from .rebuilder import Verdict
from .remote.run_cache import closure, fetch_contents
from .remote.transfer import Progress, RemoteError
from .remote.transport import Remote
from .workspace import Workspace


@dataclass
class SyncReport:
    direction: str  # "push" or "pull"
    remote: str  # the remote's name (a scrubbed URL if it has none)
    entries: int = 0  # run-cache entries moved
    already: int = 0  # entries the other side had
    objects: int = 0
    nbytes: int = 0
    artifacts: int = 0
    registered: int = 0  # push: artifact version numbers claimed in the remote's register
    renumbered: list = field(default_factory=list)  # pull: (name, old, new, digest, the remote's digest)
    skipped: list = field(default_factory=list)  # (what, why): nothing to move for it
    must_run: list = field(default_factory=list)  # pull: steps the remote cannot provide
    errors: list = field(default_factory=list)  # RemoteError, one per thing that failed

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict:
        return {
            "direction": self.direction,
            "remote": self.remote,
            "entries": self.entries,
            "already": self.already,
            "objects": self.objects,
            "bytes": self.nbytes,
            "artifacts": self.artifacts,
            "registered": self.registered,
            "renumbered": [
                {"name": n, "from": a, "to": b, "digest": d, "remote_digest": r} for n, a, b, d, r in self.renumbered
            ],
            "skipped": [{"what": w, "why": y} for w, y in self.skipped],
            "must_run": self.must_run,
            "errors": [e.message for e in self.errors],
            "ok": self.ok,
        }


# --- what to push ---------------------------------------------------------------------------
def step_keys(ws: Workspace, step_names: Iterable[str], report: SyncReport, known: Iterable[str]) -> list:
    """The key each named step was last built with here (every recorded step if none named)."""
    records = ws.state.steps()
    names = list(step_names)
    known = list(known)
    if names:
        bad = [n for n in names if n not in known]
        if bad:
            raise PipefileError(f"no step named '{bad[0]}'", hint=did_you_mean(bad[0], known, "step"))
    else:
        names = [n for n in known if n in records] + [n for n in records if n not in known]
    keys = []
    for n in names:
        rec = records.get(n)
        if rec is None:
            report.skipped.append((n, "never built in this workspace"))
        else:
            keys.append(rec.key)
    return list(dict.fromkeys(keys))


def push(
    ws: Workspace,
    remote: Remote,
    keys: Iterable[str],
    versions: Iterable = (),
    progress: Optional[Progress] = None,
    report: Optional[SyncReport] = None,
    repair: bool = False,
) -> SyncReport:
    """Upload the entries for `keys` and the artifact `versions` (jobdb.artifacts.ArtifactVersion)
    that the remote lacks, with every object they need. `repair`: the objects of the entries
    the remote has are checked too (else they are taken to be there: a push of what is
    pushed already costs one read per entry, not one per object)."""
    from .digest import PathDigest

    report = report or SyncReport("push", remote.name)
    remote.ensure_layout()
    local: dict = {}  # key -> (entry bytes, objects)
    built: set = set()  # (kind, digest) of every output the pushed entries hold
    by_key: dict = {}  # key -> its step here, read once a skipped entry needs it
    for k in dict.fromkeys(keys):
        data = ws.actions.read_raw(k)
        if data is None:
            report.skipped.append((k[:12], "no run-cache entry here (collected by gc?)"))
            continue
        try:
            outs = parse_entry(k, data)
        except ValueError:  # damaged here (edited by hand, cut short): never sent
            report.skipped.append((k[:12], "its run-cache entry here is damaged"))
            continue
        if not all(ws.store.complete(d) for d in outs.values()):
            # (`pipe run` finds the step fresh from its workspace files: only --force stores them again)
            if not by_key:
                by_key = {rec.key: n for n, rec in ws.state.steps().items()} or {"": ""}
            step = by_key.get(k, "STEP")
            why = f"its outputs are no longer complete in the local store (pipe run {step} --force stores them again)"
            report.skipped.append((k[:12], why))
            continue
        objs = []
        for d in outs.values():
            objs += closure(ws.store, d)
            built.add((d.kind, d.digest))
        local[k] = (data, objs)
    # Read, not just looked for: an entry the remote holds damaged (cut short by a copy made
    # with other tools, edited by hand) is replaced by this good one.
    present = dict(zip(local, remote._map(lambda k: remote.read_entry(k) is not None, list(local))))
    todo = [k for k in local if not present[k]]
    report.already += len(local) - len(todo)
    # The versions of what goes up travel with it, so that their numbers are claimed by the
    # first push of them (every version with --all-jobs, which names them).
    versions = list(versions) or [v for v in ws.jobs.artifacts() if (v.kind, v.digest) in built]
    arts = []
    on_remote = []  # versions whose content the remote has: their numbers are claimed last
    complete = []
    for v in versions:
        content = PathDigest(v.kind, v.digest, v.size)
        if not ws.store.complete(content):
            report.skipped.append((v.ref, "its content is no longer complete in the local store"))
            continue
        complete.append((v, content))
    # Looked for in parallel, as objects and entries are: one HEAD (a round trip) each on S3.
    there = remote._map(lambda vc: remote.has_artifact(vc[0].name, vc[0].kind, vc[0].digest), complete)
    for (v, content), found in zip(complete, there):
        if found:
            on_remote.append(v)
            continue
        arts.append((v, closure(ws.store, content)))
    wanted = [d for k in (local if repair else todo) for d in local[k][1]] + [d for _, objs in arts for d in objs]
    missing = remote.missing_objects(wanted, _local_sizes(ws, wanted), verify=repair)
    t = remote.upload(ws.store, sorted(missing), progress)
    report.objects += len(t.moved)
    report.nbytes += t.nbytes
    failed = {d for d, _ in t.failed}
    report.errors += t.errors()
    for k in todo:
        if failed.intersection(local[k][1]):
            continue  # an entry never goes up before all of its objects
        try:
            remote.put_entry(k, local[k][0])
            report.entries += 1
        except RemoteError as e:
            report.errors.append(e)
    for v, objs in arts:
        if failed.intersection(objs):
            continue
        try:
            remote.put_artifact(
                {
                    "name": v.name,
                    "kind": v.kind,
                    "digest": v.digest,
                    "size": v.size,
                    "path": v.path,
                    "step": v.step,
                    "output": v.output,
                    "created": v.created,
                }
            )
            report.artifacts += 1
            on_remote.append(v)
        except RemoteError as e:
            report.errors.append(e)
    from . import version_numbers

    version_numbers.register(ws, remote, on_remote, report)
    return report


def _local_sizes(ws: Workspace, digests: list) -> dict:
    """digest -> its size in the local store: a remote copy of another size is replaced."""
    import os

    out = {}
    for d in digests:
        try:
            out[d] = os.path.getsize(ws.store.path(d))
        except OSError:
            pass  # (the upload reports it missing)
    return out


# --- pull -----------------------------------------------------------------------------------
def pull_plan(
    ws: Workspace,
    remote: Remote,
    plan,
    progress: Optional[Progress] = None,
    report: Optional[SyncReport] = None,
    planned: Optional[Callable[[str], Optional[bytes]]] = None,
) -> SyncReport:
    """Fetch what the remote has for the plan's RESTORE-from-remote decisions; then take the
    remote's version numbers for the content that is here (version_numbers.adopt).
    `planned`: the entries the plan was decided on (RemoteRunCache.entry), not asked for again."""
    report = report or SyncReport("pull", remote.name)
    wanted = {}
    for name, d in plan.decisions.items():
        if d.verdict == Verdict.RESTORE and d.remote is not None:
            wanted[d.key.digest] = (name, d.outputs)
        elif d.verdict == Verdict.RESTORE:
            report.already += 1  # in the local store already (an earlier pull, another run)
        elif d.verdict in (Verdict.RUN, Verdict.PENDING):
            report.must_run.append(name)
    _fetch_entries(ws, remote, {k: outs for k, (_, outs) in wanted.items()}, progress, report, planned)
    from . import version_numbers

    try:
        version_numbers.adopt(ws, remote, report, progress, fetch=False)
    except RemoteError as e:
        report.errors.append(e)
    return report


def _fetch_entries(
    ws: Workspace, remote: Remote, wanted: dict, progress, report: SyncReport, planned=None
) -> SyncReport:
    entries = {}
    for k in wanted:
        data = (planned and planned(k)) or remote.read_entry(k)  # (was: each read twice, one GET a step)
        if data is not None:
            entries[k] = data
    contents = [d for k in entries for d in wanted[k].values()]
    t = fetch_contents(remote, ws.store, contents, progress)
    report.objects += len(t.moved)
    report.nbytes += t.nbytes
    report.errors += t.errors()
    failed = {d for d, _ in t.failed}
    for k, data in entries.items():
        if _usable(ws, wanted[k].values(), failed):
            if ws.actions.get(k) is None:
                ws.actions.put_raw(k, data)
                report.entries += 1
            else:
                report.already += 1
    return report


def pull_all(ws: Workspace, remote: Remote, progress: Optional[Progress] = None) -> SyncReport:
    """Every run-cache entry and artifact version on the remote that this store lacks."""
    report = SyncReport("pull", remote.name)
    keys = remote.list_keys()
    if keys is None:
        raise RemoteError(
            f"{remote.spec.describe()} cannot be listed, so --all-jobs cannot see what it holds",
            hint="pull named steps instead: pipe pull STEP...",
        )
    lacking = [k for k in sorted(keys) if ws.actions.get(k) is None]
    report.already += len(keys) - len(lacking)
    # On the transfer threads, each read once (was: one at a time, and each read again by
    # _fetch_entries: two round trips per entry, in a row, on an sftp or S3 remote)
    read = dict(zip(lacking, remote._map(remote.read_entry, lacking)))
    entries = {k: data for k, data in read.items() if data is not None}
    wanted = {k: parse_entry(k, data) for k, data in entries.items()}
    from .digest import PathDigest

    records = remote.list_artifacts()
    arts = []
    for rec in records:
        content = PathDigest(rec["kind"], rec["digest"], int(rec.get("size") or 0))
        arts.append((rec, content))
    _fetch_entries(ws, remote, wanted, progress, report, entries.get)
    from . import version_numbers

    # The register's numbers first: the records below then find their content numbered.
    try:
        version_numbers.adopt(ws, remote, report, progress)
    except RemoteError as e:
        report.errors.append(e)
    extra = fetch_contents(remote, ws.store, [c for _, c in arts], progress)
    report.objects += len(extra.moved)
    report.nbytes += extra.nbytes
    report.errors += extra.errors()
    failed = {d for d, _ in extra.failed}
    for rec, content in arts:
        if not _usable(ws, [content], failed):
            continue
        if ws.jobs.find_version(rec["name"], content.kind, content.digest) is not None:
            continue
        ws.jobs.add_version(
            rec["name"],
            content.kind,
            content.digest,
            content.size,
            rec.get("path") or "",
            None,
            rec.get("step"),
            rec.get("output"),
        )
        report.artifacts += 1
    return report


def _usable(ws: Workspace, contents, failed: set) -> bool:
    """Every object of `contents` is here, and none was refused (an unsafe link, a bad object)."""
    try:
        return all(ws.store.complete(d) and not failed.intersection(closure(ws.store, d)) for d in contents)
    except (PipefileError, ValueError):
        return False
