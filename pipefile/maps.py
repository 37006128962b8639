"""The map record: which tasks of a `foreach:` step are up to date, known without a node,
a key or a job row each (issue 15's scale goal: a no-op over 100,000 items stats them
and compares, nothing more; an added item makes one task).

One file per foreach step, `.pipe/maps/STEP.json` (version 1):

    {"v": 1, "fp": FINGERPRINT, "recorded_ns": NS,
     "items": {LABEL: [FINGERPRINT, ITEM_SIG, [OUTPUT_SIG, ...]]}}

FINGERPRINT is the digest of a task's key manifest less what is the item's own (its name
and content, the entries it writes, the command as rendered for it): what all the tasks
share (command template, environment identity, params, other inputs and code, the mapped
folder and the declared outputs). ITEM_SIG and each OUTPUT_SIG are the stat signature
[size, mtime_ns, ctime_ns, inode] of the item's file and of the task's entry in each output
(the step's outputs in order), when the task was last found or made up to date; `fp` is the
latest fingerprint and `recorded_ns` when the run that wrote the file began.

A task is settled when its entry has the record's fingerprint, its item and entries still
have those signatures, and the item's mtime is older than the record by more than a clock
tick (`_racy`: a file changed in the tick of a record would look unchanged). Only plain files are settled; folder
items, batches, a step that always runs, and tasks some step reads by name get a node each.

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
from .outcomes import Outcome

VERSION = 1
RECORD_DIR = os.path.join(".pipe", "maps")
RACY_NS = 100_000_000  # 0.1 s: well above the kernel's coarse clock tick (as the stat cache)
RACY_COARSE_NS = 2_000_000_000  # a file system with whole-second times


def _racy(mtime_ns: int, recorded_ns: int) -> bool:
    """Whether a file of this mtime may have changed within the clock tick of a record."""
    window = RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return recorded_ns - mtime_ns <= window
_NONE = (frozenset(), "", "")


def _path(root: str, step: str) -> str:
    return os.path.join(root, RECORD_DIR, f"{step}.json")


def _read(root: str, step: str) -> Optional[dict]:
    try:
        with open(_path(root, step), encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None  # no record (or a damaged one): every task gets a node, as before
    if not isinstance(rec, dict) or rec.get("v") != VERSION or not isinstance(rec.get("items"), dict):
        return None
    return rec


def _sig(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _file_sigs(folder: str) -> dict:
    """name -> signature of each plain file directly in `folder` ({} if it is not there)."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return {}
    out = {}
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if statmod.S_ISREG(st.st_mode):
            out[e.name] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    return out


def settle(root: str, step, group) -> tuple:
    """(settled labels, the probe's label, the record's fingerprint) of a foreach step
    (see expand.expand); nothing settled without a record that fits."""
    if step.always_run or not group.values:
        return _NONE
    rec = _read(root, step.name)
    if rec is None:
        return _NONE
    fp, items = rec.get("fp"), rec["items"]
    recorded = int(rec.get("recorded_ns", 0))
    folder = os.path.dirname(group.values[0][0][1][0])
    items_now = _file_sigs(os.path.join(root, folder))
    outs = [_file_sigs(os.path.join(root, path)) for path in group.outputs.values()]
    settled = []
    for label in group.labels:
        r = items.get(label)
        if r is None or r[0] != fp:
            continue
        now = items_now.get(label)
        if now is None or now != r[1] or _racy(now[1], recorded):
            continue
        if all(o.get(label) == s for o, s in zip(outs, r[2])) and len(r[2]) == len(outs):
            settled.append(label)
    if len(settled) < 2:
        return _NONE  # (the probe is a node anyway: nothing to spare)
    probe = settled.pop()
    return frozenset(settled), probe, fp


def fingerprint(manifest: dict, over: str) -> str:
    """The part of a task's key manifest that every task of its map shares."""
    m = dict(manifest)
    m.pop("command", None)
    ins = dict(m.get("inputs", {}))
    item = ins.pop(over, None) or {}
    ins[over] = {"folder": os.path.dirname(item.get("path", ""))}
    m["inputs"] = ins
    m["outputs"] = {n: [o.get("type"), os.path.dirname(o.get("path", ""))] for n, o in m.get("outputs", {}).items()}
    return hash_json(m)


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


_DONE = (Outcome.RAN, Outcome.RESTORED, Outcome.FRESH)


def update(root: str, graph, summary, started_ns: int) -> None:
    """Write the record of each foreach step from what the run left (only when it changed)."""
    for g in graph.groups.values():
        if g.kind != "foreach" or g.batches or not g.values:
            continue
        tasks = [graph.nodes.get(f"{g.name}[{x}]") for x in g.labels[:1]]
        if any(n is not None and n.step.always_run for n in tasks):
            continue
        _update_one(root, graph, g, summary, started_ns)


def _update_one(root: str, graph, g, summary, started_ns: int) -> None:
    old = _read(root, g.name) or {"items": {}, "fp": ""}
    over = _over(g)
    folder = os.path.join(root, os.path.dirname(g.values[0][0][1][0]))
    outputs = list(g.outputs.values())
    items: dict = {}
    fps = set()
    for label in g.labels:
        prev = old["items"].get(label)
        if label in g.settled:
            items[label] = prev
            continue
        task = f"{g.name}[{label}]"
        r, d = summary.results.get(task), summary.decisions.get(task)
        if r is None:
            if prev is not None and not _racy(prev[1][1], int(old.get("recorded_ns", 0))):
                items[label] = prev  # not selected this time: as it was (if it could be trusted)
            continue
        if r.outcome not in _DONE or r.tolerated or d is None or d.key is None:
            continue  # failed, skipped, left on a remote: decided again next time
        fp = fingerprint(d.key.manifest, over)
        fps.add(fp)
        try:
            item = _sig(os.stat(os.path.join(folder, label)))
            outs = [os.stat(os.path.join(root, o, label), follow_symlinks=False) for o in outputs]
        except OSError:
            continue
        if not all(statmod.S_ISREG(st.st_mode) for st in outs) or _racy(item[1], started_ns):
            # An entry that is a folder: its signature says nothing of its files. An item
            # changed just before (or while) this run: its signature may hide another change.
            continue
        items[label] = [fp, item, [_sig(st) for st in outs]]
    fp = next(iter(fps)) if len(fps) == 1 else old.get("fp", "")
    if fp == old.get("fp") and items == old["items"]:
        return
    rec = {"v": VERSION, "fp": fp, "recorded_ns": started_ns, "items": items}
    path = _path(root, g.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, separators=(",", ":"))
    os.replace(tmp, path)

