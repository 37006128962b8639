"""ProposalStore: a bayesian sweep's proposed rounds, kept so that a rerun need not ask Optuna.

A round's proposals are a pure function of what was given to the sampler (proposals.py):
the Optuna version, the sampler, the sweep's seed and search space, the objective's goal,
the round's number and size, and the exact history told (each earlier trial's inputs and
objective, in trial order). `key` is the SHA-256 of all of that; an unchanged rerun finds
every round under its key and never imports Optuna, and any change (a trial's result, the
space, another Optuna) is another key: asked again, never a stale answer.

Layout (PROPOSALS_VERSION 1), under `.pipe/cache/proposals/`:

    <sweep>-r<round>-<key>.json   {"v": 1, "key": ..., "sweep": ..., "round": R,
                                   "given": {what the key is made of, the history
                                   included}, "proposals": [{input: value}, ...]}

`<sweep>` is the first 16 hex digits of the SHA-256 of the sweep's step name (a name may
hold `/`). Written only by `pipe run` (temp file, rename; not fsynced: a torn or lost file
reads as a miss and the round is asked again). Writing a round removes that sweep's other
entries for the same round, so the folder holds one entry per round and sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

PROPOSALS_VERSION = 1


def round_key(given_head: str, history: list) -> str:
    """The key of a round: `given_head` (canonical JSON of everything but the history) and
    the history's entries, each already canonical JSON (kept per trial: a round's key then
    costs one hash over short strings, not the whole history encoded again)."""
    h = hashlib.sha256(f"pipe-proposals:{PROPOSALS_VERSION}\n".encode())
    h.update(given_head.encode())
    for entry in history:
        h.update(b"\n")
        h.update(entry.encode())
    return h.hexdigest()


class ProposalStore:
    def __init__(self, folder: str, writable: bool):
        """`writable`: a run keeps what it asked; status and `pipe sweep show` only read."""
        self.dir = folder
        self.writable = writable

    def _prefix(self, sweep: str, round_index: int) -> str:
        return f"{hashlib.sha256(sweep.encode()).hexdigest()[:16]}-r{round_index}-"

    def get(self, sweep: str, round_index: int, key: str, count: int, names: tuple) -> Optional[list]:
        """The round's proposals ([{input: value}] of `count` trials with inputs `names`), or
        None: not kept, unreadable, or not of that shape."""
        path = os.path.join(self.dir, self._prefix(sweep, round_index) + key + ".json")
        try:
            with open(path, "rb") as f:
                entry = json.loads(f.read())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("v") != PROPOSALS_VERSION or entry.get("key") != key:
            return None
        got = entry.get("proposals")
        if not isinstance(got, list) or len(got) != count:
            return None
        if not all(isinstance(p, dict) and sorted(p) == sorted(names) for p in got):
            return None
        return got

    def put(self, sweep: str, round_index: int, key: str, given: dict, proposals: list) -> None:
        """Keep a round (a no-op unless writable; a disk problem only costs asking again)."""
        if not self.writable:
            return
        import tempfile  # (here: a no-op run writes nothing)

        prefix = self._prefix(sweep, round_index)
        entry = {
            "v": PROPOSALS_VERSION,
            "key": key,
            "sweep": sweep,
            "round": round_index,
            "given": given,
            "proposals": proposals,
        }
        try:
            os.makedirs(self.dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f, sort_keys=True)
            os.replace(tmp, os.path.join(self.dir, prefix + key + ".json"))
            for old in os.listdir(self.dir):
                if old.startswith(prefix) and old != prefix + key + ".json":
                    os.unlink(os.path.join(self.dir, old))
        except OSError:
            pass

    def entries(self) -> list:
        """Every entry kept, as stored (for tests and inspection)."""
        out = []
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return out
        for n in names:
            if n.endswith(".json") and not n.startswith("."):
                try:
                    with open(os.path.join(self.dir, n), "rb") as f:
                        out.append(json.loads(f.read()))
                except (OSError, ValueError):
                    continue
        return out
