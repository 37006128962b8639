"""One version number per artifact for a team: numbers agreed through a remote's register
(remote/numbers.py), so that `${{artifacts.NAME:N}}` names the same bytes on every machine
that shares the remote.

- A version made here is *local* until a push claims its number in the remote: the first
  push of `NAME:N` owns it. A push whose local `NAME:N` holds other content than the
  remote's `NAME:N` (or whose content the remote numbers otherwise) is refused for that
  version, with both digests and the fix: nothing is rebound silently.
- A pull (`--all-jobs`) takes the remote's numbers: each registered version is recorded
  here under its number (its content fetched and verified); a local version holding
  content the remote numbers otherwise moves to that number; a local version whose number
  the remote gave to other content moves to the next free number, and the pull says so
  (`renumbered`). A local version no one else claimed keeps its number, still local.

Without a remote none of this happens: numbers are the workspace's, as they always were.
"""

from __future__ import annotations

from .digest import PathDigest
from .errors import PipefileError
from .remote import numbers
from .remote.run_cache import fetch_contents
from .remote.transfer import FAILED, RemoteError

_FIX = "pipe pull --all-jobs takes the remote's numbers (yours moves to a free number, and is listed); then push again"


def _record(v) -> dict:
    return {
        "name": v.name,
        "version": v.version,
        "kind": v.kind,
        "digest": v.digest,
        "size": v.size,
        "path": v.path,
        "step": v.step,
        "output": v.output,
        "created": v.created,
    }


def _clash(remote, v, held: dict) -> RemoteError:
    return RemoteError(
        f"artifact {v.ref} here is {v.kind} {v.digest}, but {remote.spec.describe()} registered "
        f"{v.ref} first as {held['kind']} {held['digest']}: the number is taken; {v.ref} was not pushed",
        FAILED,
        hint=_FIX,
    )


def register(ws, remote, versions, report) -> None:
    """Claim, in the remote's register, the number of each of `versions` (whose content is on
    the remote now); record here which ones it holds. A clash is an error in `report`."""
    versions = list(versions)
    if not versions:
        return
    try:
        held = numbers.registered(remote)
    except RemoteError as e:
        report.errors.append(e)
        return
    where = remote.spec.shown
    for v in sorted(versions, key=lambda x: (x.name, x.version)):
        have = held.setdefault(v.name, {})
        same = next((n for n, r in sorted(have.items()) if (r["kind"], r["digest"]) == (v.kind, v.digest)), None)
        if same is not None and same != v.version:
            report.errors.append(
                RemoteError(
                    f"artifact {v.ref} here is {v.kind} {v.digest}, which {remote.spec.describe()} registered as "
                    f"{v.name}:{same}; {v.ref} was not pushed",
                    FAILED,
                    hint=_FIX,
                )
            )
            continue
        if same is None and v.version in have:
            report.errors.append(_clash(remote, v, have[v.version]))
            continue
        if same is None:
            try:
                holder = numbers.claim(remote, _record(v))
            except RemoteError as e:
                report.errors.append(e)
                continue
            if holder is not None:
                report.errors.append(_clash(remote, v, holder))
                continue
            have[v.version] = _record(v)
            report.registered += 1
        ws.jobs.mark_registered(v.name, v.version, where)


def adopt(ws, remote, report, progress=None, fetch: bool = True) -> None:
    """Take the remote's numbers (see the module's docstring); their content is fetched first
    (fetch=False, plain `pipe pull`: only what is here already, the outputs it pulled among
    it), verified, and a version whose content is not here is not recorded; its number is
    the remote's all the same, so no local version keeps it."""
    held = numbers.registered(remote)
    if not held:
        return
    contents = {
        (name, n): PathDigest(rec["kind"], rec["digest"], rec["size"])
        for name, recs in held.items()
        for n, rec in recs.items()
    }
    missing = [c for c in dict.fromkeys(contents.values()) if not ws.store.complete(c)]
    if fetch and missing:
        t = fetch_contents(remote, ws.store, missing, progress)
        report.objects += len(t.moved)
        report.nbytes += t.nbytes
        report.errors += t.errors()
    for name in sorted(held):
        try:
            _adopt_name(ws, remote, name, held[name], contents, report)
        except PipefileError as e:
            report.errors.append(e)


def _adopt_name(ws, remote, name: str, reg: dict, contents: dict, report) -> None:
    local = ws.jobs.with_registration(ws.jobs.artifacts(name))
    by_content: dict = {}
    for n, rec in sorted(reg.items()):
        by_content.setdefault((rec["kind"], rec["digest"]), n)
    for v in local:
        rec = reg.get(v.version)
        if v.registered is not None and rec is not None and (rec["kind"], rec["digest"]) != (v.kind, v.digest):
            raise RemoteError(
                f"artifact {v.ref} here was registered in {v.registered} as {v.kind} {v.digest}, but "
                f"{remote.spec.describe()} now registers {v.ref} as {rec['kind']} {rec['digest']}; "
                f"nothing of {name} was changed here",
                FAILED,
                hint="its register was edited by hand or by another tool: restore versions/"
                f"{name}/{v.version}.json there, or use another remote",
            )
    moves: dict = {}
    registered: list = []
    top = max(set(reg) | {v.version for v in local})
    for v in local:
        n = by_content.get((v.kind, v.digest))
        if n is not None and n not in registered:
            if n != v.version:
                moves[v.version] = n
            registered.append(n)
        elif v.version in reg or n is not None:
            # The remote gave this number to other content (or this content twice): it moves on.
            top += 1
            moves[v.version] = top
            report.renumbered.append(
                (name, v.version, top, v.digest, reg[v.version]["digest"] if v.version in reg else None)
            )
    after = {moves.get(v.version, v.version) for v in local}
    added = [rec for n, rec in sorted(reg.items()) if n not in after and ws.store.complete(contents[(name, n)])]
    # Every number the remote holds is marked, its content here or not: a version made here
    # later is numbered past them all, not into a clash.
    registered = sorted(set(registered) | set(reg))
    if moves or added or registered:
        ws.jobs.renumber(name, moves, added, remote.spec.shown, registered)
    report.artifacts += len(added)


def bound_clashes(ws, remote, pf, resolved: dict, on_error) -> list:
    """The bindings `${{artifacts.NAME:N}}` that read a local N (not pushed yet) while the
    remote registered N for other content: the same committed text would read other bytes
    on a teammate's machine, so it is an error, not a silent binding. A remote that cannot
    be read is told to `on_error` (the run goes on, as with its run cache)."""
    from .artifacts import artifact_bindings

    errors: list = []
    seen: set = set()
    for st, iname, b in artifact_bindings(pf):
        art = resolved.get((b.ref, b.version))
        if not b.version or art is None or art.ref in seen:
            continue  # `latest` is this machine's newest by design
        seen.add(art.ref)
        v = ws.jobs.artifact(art.name, art.version)
        if v.registered is not None:
            continue
        try:
            rec = numbers.read_one(remote, art.name, art.version)
        except RemoteError as e:
            on_error(e)
            break
        if rec is not None and (rec["kind"], rec["digest"]) != (art.kind, art.digest):
            errors.append(
                PipefileError(
                    f"input '{iname}' of step '{st.name}' reads {art.ref}, here local {art.kind} {art.digest}, but "
                    f"{remote.spec.describe()} registered {art.ref} as {rec['kind']} {rec['digest']}: on every other "
                    "machine that shares it, this binding reads those bytes",
                    b.loc,
                    "pipe pull --all-jobs takes the remote's numbers (yours moves to a free number, and is listed); "
                    "then bind the number you mean",
                )
            )
    return errors
