"""The map record: which tasks of a `foreach:` step are up to date, known without a node,
a key or a job row each (issue 15's scale goal: a no-op over 100,000 items stats them
and compares, nothing more; an added item makes one task).

One file per foreach step, `.pipe/maps/STEP.json` (version 1):

    {"v": 1, "fp": FINGERPRINT, "recorded_ns": NS, "items": {LABEL: "ITEM_SIG;OUTPUT_SIG;..."}}

FINGERPRINT is the digest of a task's key manifest less what is the item's own (its name
and content, the entries it writes, the command as rendered for it): what all the tasks
share (command template, environment identity, params, other inputs and code, the mapped
folder and the declared outputs). ITEM_SIG and each OUTPUT_SIG are the stat signature
`size/mtime_ns/ctime_ns/inode` of the item's file and of the task's entry in each output
(the step's outputs in order), as they were when the task was last found or made up to
date with that fingerprint; `recorded_ns` is when the run that wrote the file began. An
item changed within a clock tick of that moment (`_racy`) is not written: a change in the
same tick would keep its signature.

A task is settled when its item and entries still have the signatures of its entry. Only
plain files are settled; folder items, batches, a step that always runs, and tasks some
step reads by name get a node each.

The session keeps one settled task as a node, the probe: once the plan is made, the probe's
key gives the fingerprint now, and if that is not the record's (the command, environment, a
param or another input changed) the graph is built again with every task and planned again
(`verify`). After a run, `update` writes the entries of the tasks that ran, were restored or
were fresh, and drops those that failed or whose item is gone.
"""

from __future__ import annotations

import json
import os
import stat as statmod
from typing import Optional

from .digest import hash_json
from .filehash import racy_stat
from .filenames import file_name
from .outcomes import Outcome

VERSION = 1
RECORD_DIR = os.path.join(".pipe", "maps")


def _racy(st: os.stat_result, recorded_ns: int) -> bool:
    """Whether a file may have changed within the clock tick of a record (unseen by its stat);
    by its ctime too: tar, cp -p and rsync -t set an mtime back (the stat cache's rule)."""
    return racy_stat(recorded_ns, st)


_NONE = (frozenset(), "", "")


def _path(root: str, step: str) -> str:
    return os.path.join(root, RECORD_DIR, file_name(step, ".json"))  # (bounded: a long step name)


def _read(root: str, step: str) -> Optional[dict]:
    try:
        with open(_path(root, step), encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None  # no record (or a damaged one): every task gets a node, as before
    if not isinstance(rec, dict) or rec.get("v") != VERSION or not isinstance(rec.get("items"), dict):
        return None
    return rec


def _sig(st: os.stat_result) -> str:
    return f"{st.st_size}/{st.st_mtime_ns}/{st.st_ctime_ns}/{st.st_ino}"


def settle(root: str, step, group) -> tuple:
    """(settled labels, the probe's label, the record's fingerprint) of a foreach step
    (see expand.expand); nothing settled without a record that fits."""
    if step.always_run or not _of_files(group):
        return _NONE
    rec = _read(root, step.name)
    if rec is None:
        return _NONE
    items = rec["items"]
    folders = [os.path.join(root, _folder(group))] + [os.path.join(root, p) for p in group.outputs.values()]
    fds: list = []
    try:
        for f in folders:
            fds.append(os.open(f, os.O_RDONLY | os.O_DIRECTORY))
        settled = _unchanged(group.labels, items, fds)
    except OSError:
        return _NONE  # (a gathered folder not there: nothing is up to date)
    finally:
        for fd in fds:
            os.close(fd)
    if len(settled) < 2:
        return _NONE  # (the probe is a node anyway: nothing to spare)
    probe = settled.pop()
    return frozenset(settled), probe, rec.get("fp", "")


def _unchanged(labels, items: dict, fds: list) -> list:
    """The labels whose item and entries (in the folders open as `fds`) have the signatures
    of their record. A no-op over a map costs this: a stat per item and per entry, relative
    to the open folders, in one tight loop. (A signature that matches is the same inode,
    unchanged: still the plain file it was when recorded.)"""
    stat = os.stat
    out = []
    if len(fds) == 2:  # one output: the usual case, spelt out
        fi, fo = fds
        for x in labels:
            r = items.get(x)
            if r is None:
                continue
            try:
                a = stat(x, dir_fd=fi, follow_symlinks=False)
                b = stat(x, dir_fd=fo, follow_symlinks=False)
            except OSError:
                continue
            now = f"{a.st_size}/{a.st_mtime_ns}/{a.st_ctime_ns}/{a.st_ino};"
            if r == now + f"{b.st_size}/{b.st_mtime_ns}/{b.st_ctime_ns}/{b.st_ino}":
                out.append(x)
        return out
    for x in labels:
        r = items.get(x)
        if r is None:
            continue
        try:
            sigs = [_sig(stat(x, dir_fd=fd, follow_symlinks=False)) for fd in fds]
        except OSError:
            continue
        if r == ";".join(sigs):
            out.append(x)
    return out


def _of_files(group) -> bool:
    """Whether a foreach maps over a folder's entries (not a list param's values)."""
    return bool(group.values) and group.values[0][0][1][1] != "value"


def _folder(group) -> str:
    """The mapped folder (workspace path) of a foreach group."""
    return os.path.dirname(group.values[0][0][1][0])


def fingerprint(manifest: dict, over: str, seen: Optional[list] = None) -> str:
    """The part of a task's key manifest that every task of its map shares. `seen`: a list
    of (shared part, fingerprint) kept by the caller across the tasks of one map, so that a
    part equal to one already hashed is compared (a dict ==) rather than encoded and hashed
    again: the same fingerprint, at a fraction of the cost per task."""
    m = dict(manifest)
    m.pop("command", None)
    ins = dict(m.get("inputs", {}))
    item = ins.pop(over, None) or {}
    ins[over] = {"folder": os.path.dirname(item.get("path", ""))}
    m["inputs"] = ins
    m["outputs"] = {n: [o.get("type"), os.path.dirname(o.get("path", ""))] for n, o in m.get("outputs", {}).items()}
    if seen is None:
        return hash_json(m)
    for part, fp in seen:
        if part == m:
            return fp
    fp = hash_json(m)
    if len(seen) < 4:  # (tasks of one map share one part; a few at most while it changes)
        seen.append((m, fp))
    return fp


def _over(group) -> str:
    return group.values[0][0][0]


def verify(graph, plan) -> bool:
    """Whether every settled task is still up to date: its map's probe is fresh with the
    record's fingerprint (else the session builds and plans every task)."""
    from .rebuilder import Verdict

    for g in graph.groups.values():
        if not g.settled:
            continue
        d = plan.decisions.get(f"{g.name}[{g.probe}]")
        if d is None:
            continue  # the map is not selected: neither are its settled tasks
        if d.verdict != Verdict.FRESH or d.key is None or fingerprint(d.key.manifest, _over(g)) != g.settled_fp:
            return False
    return True


def settled_tasks(graph, decisions) -> tuple:
    """The settled tasks of the maps a plan selected (they are fresh)."""
    return tuple(
        f"{g.name}[{x}]"
        for g in graph.groups.values()
        if g.settled and f"{g.name}[{g.probe}]" in decisions
        for x in g.labels
        if x in g.settled
    )


def makers_first(graph, plan) -> list:
    """The steps that make the folders of the selected maps over other steps' outputs, when
    a plan does not find them fresh: they run first, and the maps are expanded after (the
    folder's listing is known only then)."""
    from .rebuilder import Verdict

    first = []
    for g in graph.groups.values():
        if not g.after or not any(t in plan.decisions for t in g.tasks):
            continue
        makers = graph.resolve_targets(g.after)
        if g.pending or any(plan.decisions[m].verdict != Verdict.FRESH for m in makers if m in plan.decisions):
            first.append(g.after)
    return first


_DONE = (Outcome.RAN, Outcome.RESTORED, Outcome.FRESH)


def settled_folders(graph) -> tuple:
    """The folders (mapped and gathered) of the maps some of whose tasks are settled: their
    files' stat cache entries are not read (the session loads them if it plans every task)."""
    out = set()
    for g in graph.groups.values():
        if g.settled:
            out.add(_folder(g))
            out.update(g.outputs.values())
    return tuple(sorted(out))


def update(root: str, graph, summary, started_ns: int) -> None:
    """Write the record of each foreach step from what the run left (only when it changed).
    A cache: failing to write it fails nothing (the next run plans every task of the map)."""
    for g in graph.groups.values():
        if g.kind != "foreach" or g.batches or not _of_files(g):
            continue
        tasks = [graph.nodes.get(f"{g.name}[{x}]") for x in g.labels[:1]]
        if any(n is not None and n.step.always_run for n in tasks):
            continue
        try:
            _update_one(root, graph, g, summary, started_ns)
        except OSError:
            pass


def _update_one(root: str, graph, g, summary, started_ns: int) -> None:
    old = _read(root, g.name) or {"items": {}, "fp": ""}
    over = _over(g)
    folder = os.path.join(root, _folder(g))
    outputs = list(g.outputs.values())
    done = []  # (label, fingerprint) of the tasks this run left up to date
    dropped = []
    seen: list = []  # (fingerprint's memo)
    for label in [x for x in g.labels if x not in g.settled]:
        task = f"{g.name}[{label}]"
        r, d = summary.results.get(task), summary.decisions.get(task)
        if r is None:
            continue  # not selected this time: its entry (if any) stays
        if r.outcome in _DONE and not r.tolerated and d is not None and d.key is not None:
            done.append((label, fingerprint(d.key.manifest, over, seen)))
        else:
            dropped.append(label)  # failed, skipped, left on a remote: decided again next time
    fps = {f for _, f in done}
    fp = fps.pop() if len(fps) == 1 else old.get("fp", "")
    items = dict(old["items"]) if fp == old.get("fp") else {}
    changed = fp != old.get("fp")
    gone = items.keys() - set(g.labels)
    for label in list(gone) + dropped:
        changed = items.pop(label, None) is not None or changed
    fds: list = []
    try:
        # each entry stat'd relative to its open folder (as `settle` does): no path to walk
        for f in [folder] + [os.path.join(root, o) for o in outputs]:
            fds.append(os.open(f, os.O_RDONLY | os.O_DIRECTORY))
    except OSError:  # (a folder not there: every entry is dropped below)
        for fd in fds:
            os.close(fd)
        fds = []
    try:
        changed = _entries(items, done, fp, fds, started_ns) or changed
    finally:
        for fd in fds:
            os.close(fd)
    if not changed:
        return
    rec = {"v": VERSION, "fp": fp, "recorded_ns": started_ns, "items": items}
    path = _path(root, g.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, separators=(",", ":"))
    os.replace(tmp, path)


def _entries(items: dict, done: list, fp: str, fds: list, started_ns: int) -> bool:
    """Sets the entry of each task left up to date (its item's and its outputs' signatures,
    stat'd in the open folders `fds`); drops it where it cannot be trusted. Whether any changed."""
    changed = False
    for label, f in done:
        entry = None
        if f == fp and fds:
            try:
                item, *outs = [os.stat(label, dir_fd=fd, follow_symlinks=False) for fd in fds]
            except OSError:
                outs = None
            # A folder (or a link): its signature says nothing of what it holds. An item
            # changed just before (or while) this run: its signature may hide another change.
            if outs is not None and all(statmod.S_ISREG(st.st_mode) for st in [item] + outs):
                if not _racy(item, started_ns):
                    entry = ";".join([_sig(item)] + [_sig(st) for st in outs])
        if entry is None:
            changed = items.pop(label, None) is not None or changed
        elif items.get(label) != entry:
            items[label] = entry
            changed = True
    return changed
