"""Artifact versions: named outputs and assets, versioned by content, in the `artifacts`
table of the job database (layout: jobdb/schema.py).

Invariant: a name gets a new version only for new content; the same content keeps the
version it first got. ArtifactIndex holds the queries; JobStore (jobs.py) mixes it in
over its connection, so `ws.jobs` answers for jobs and artifacts alike.

Served jobs (`pipe serve`) make versions too (an upload into a named asset, a named
output). A version an invoke token's job made is that token's (`artifact_producers`): other
invoke tokens cannot name it, learn of it from an error, or learn from its number that
someone made that content, as for uploads and the run cache. What a token sees (`viewer`,
a token id; None: everything, as the workspace's owner and admin tokens see) is its own
versions and every public one: made by no token (the owner's runs, a pull, a clone), or by
an admin or `--share-cache` token. For a job of a token, "new content" means new to what
that token sees: content another token holds privately gets a version of its own.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Optional

from ..errors import PipefileError, did_you_mean
from ..lazyclass import dataclass

MAX_ID = (1 << 63) - 1  # the largest integer SQLite holds: a job id or version past it names nothing

# Whether the version `a` is visible to the token bound as the one parameter: no token's job
# made it, that token's did, or an admin or --share-cache token's did (its scopes are a JSON
# list of validated scopes, so '"admin"' is found only as the admin scope).
_VISIBLE = (
    "(NOT EXISTS (SELECT 1 FROM artifact_producers p WHERE p.name = a.name AND p.version = a.version) "
    "OR EXISTS (SELECT 1 FROM artifact_producers p LEFT JOIN tokens t ON t.id = p.token_id "
    "WHERE p.name = a.name AND p.version = a.version "
    "AND (p.token_id = ? OR t.share_cache = 1 OR instr(t.scopes, '\"admin\"') > 0)))"
)


def _seen_by(viewer: Optional[str]) -> tuple:
    """(SQL to add to a WHERE over `artifacts a`, its parameters) for what `viewer` sees."""
    return ("", ()) if viewer is None else (" AND " + _VISIBLE, (viewer,))


@dataclass
class ArtifactVersion:
    name: str
    version: int
    kind: str
    digest: str
    size: int
    job_id: Optional[int]
    step: Optional[str]
    output: Optional[str]
    path: str
    created: float
    registered: Optional[str] = None  # the remote whose register holds this number (None: local)
    local: bool = False  # shown as local: numbers are agreed through a remote, and this one is not yet

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "digest": self.digest,
            "size": self.size,
            "job": self.job_id,
            "step": self.step,
            "output": self.output,
            "path": self.path,
            "created": self.created,
        }


class ArtifactIndex:
    """The artifact versions of the database `self.db` (set by the class that mixes it in)."""

    db: sqlite3.Connection

    def add_version(
        self,
        name: str,
        kind: str,
        digest: str,
        size: int,
        path: str,
        job_id: Optional[int],
        step: Optional[str],
        output: Optional[str],
    ) -> ArtifactVersion:
        """The version of `name` with this content: the existing one, or a new one. For a
        served job of a token, only a version that token may see counts as existing, and a
        new one is recorded as that token's."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            maker, viewer = self._maker(job_id)
            where, args = _seen_by(viewer)
            row = self.db.execute(
                "SELECT a.version FROM artifacts a WHERE a.name=? AND a.digest=? AND a.kind=?"
                + where
                + " ORDER BY a.version LIMIT 1",
                (name, digest, kind, *args),
            ).fetchone()
            if row is None:
                # Past the numbers a remote's register holds too, even for content not here.
                top = self.db.execute(
                    "SELECT MAX(v) FROM (SELECT MAX(version) AS v FROM artifacts WHERE name=? "
                    "UNION ALL SELECT MAX(version) FROM artifact_numbers WHERE name=?)",
                    (name, name),
                ).fetchone()[0]
                version = (top or 0) + 1
                self.db.execute(
                    "INSERT INTO artifacts(name, version, kind, digest, size, job_id, step, output, path, created)"
                    " VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (name, version, kind, digest, size, job_id, step, output, path, time.time()),
                )
                if maker is not None:
                    self.db.execute(
                        "INSERT OR IGNORE INTO artifact_producers(name, version, token_id) VALUES(?,?,?)",
                        (name, version, maker),
                    )
            else:
                version = row[0]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.artifact(name, version)

    def _maker(self, job_id: Optional[int]) -> tuple:
        """(the token whose served job `job_id` is, or None; what that token sees: its id,
        or None for an admin token or no token)."""
        if job_id is None:
            return None, None
        row = self.db.execute(
            "SELECT j.token_id, instr(t.scopes, '\"admin\"') > 0 FROM jobs j "
            "LEFT JOIN tokens t ON t.id = j.token_id "
            "WHERE j.id=? AND j.endpoint IS NOT NULL AND j.token_id IS NOT NULL",
            (job_id,),
        ).fetchone()
        if row is None:
            return None, None
        return row[0], (None if row[1] else row[0])

    def artifact(self, name: str, version: Optional[int] = None, viewer: Optional[str] = None) -> ArtifactVersion:
        """Version `version` of `name` (None: the newest), as `viewer` sees them (a token
        id; None: all). An error names only names and versions the viewer sees."""
        where, args = _seen_by(viewer)
        if version is None:
            row = self.db.execute(
                "SELECT a.* FROM artifacts a WHERE a.name=?" + where + " ORDER BY a.version DESC LIMIT 1", (name, *args)
            ).fetchone()
        else:
            row = (
                None
                if not 0 <= version <= MAX_ID
                else self.db.execute(
                    "SELECT a.* FROM artifacts a WHERE a.name=? AND a.version=?" + where, (name, version, *args)
                ).fetchone()
            )
        if row is None:
            names = [r[0] for r in self.db.execute("SELECT DISTINCT a.name FROM artifacts a WHERE 1" + where, args)]
            if name not in names:
                raise PipefileError(
                    f"no artifact '{name}'",
                    hint=did_you_mean(name, names, "artifact") or "name an output with name: to version it",
                )
            if viewer is None:
                top = self.db.execute("SELECT MAX(version) FROM artifacts WHERE name=?", (name,)).fetchone()[0]
                held = (
                    None
                    if not 0 <= version <= MAX_ID  # (a number SQLite cannot hold names nothing)
                    else self.db.execute(
                        "SELECT remote FROM artifact_numbers WHERE name=? AND version=?", (name, version)
                    ).fetchone()
                )
                if held is not None:  # the team's number, whose content was not pulled here
                    raise PipefileError(
                        f"artifact '{name}' has no version {version} here: {held[0]} holds {name}:{version}, "
                        "and its content was not pulled",
                        hint="pipe pull --all-jobs fetches every version the remote holds",
                    )
                raise PipefileError(f"artifact '{name}' has no version {version}", hint=f"versions are 1 to {top}")
            seen = [
                r[0]
                for r in self.db.execute(
                    "SELECT a.version FROM artifacts a WHERE a.name=?" + where + " ORDER BY a.version", (name, *args)
                )
            ]
            shown = ", ".join(str(v) for v in seen[-12:])
            raise PipefileError(
                f"artifact '{name}' has no version {version} that this token may use",
                hint=f"its versions this token may use: {'..., ' if len(seen) > 12 else ''}{shown}",
            )
        return ArtifactVersion(*row[:10])

    def artifacts(self, name: Optional[str] = None) -> list:
        q = "SELECT * FROM artifacts" + (" WHERE name=?" if name else "") + " ORDER BY name, version"
        return [ArtifactVersion(*r[:10]) for r in self.db.execute(q, (name,) if name else ())]

    def versions_of(self, digest: str) -> list:
        return [ArtifactVersion(*r[:10]) for r in self.db.execute("SELECT * FROM artifacts WHERE digest=?", (digest,))]

    # --- queries for artifacts and lineage ----------------------------------------------------
    def artifact_names(self) -> list:
        """Every artifact name, sorted."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT name FROM artifacts ORDER BY name")]

    def artifact_summary(self) -> list:
        """(latest ArtifactVersion, number of versions) per artifact name, sorted by name."""
        rows = self.db.execute(
            "SELECT a.*, c.n FROM artifacts a JOIN (SELECT name, MAX(version) AS top, COUNT(*) AS n "
            "FROM artifacts GROUP BY name) c ON a.name = c.name AND a.version = c.top ORDER BY a.name"
        )
        return [(ArtifactVersion(*r[:10]), r[-1]) for r in rows]

    def find_version(self, name: str, kind: str, digest: str) -> Optional[ArtifactVersion]:
        """The version of `name` that holds this content, if there is one (no error)."""
        row = self.db.execute(
            "SELECT * FROM artifacts WHERE name=? AND digest=? AND kind=? ORDER BY version LIMIT 1",
            (name, digest, kind),
        ).fetchone()
        return ArtifactVersion(*row[:10]) if row else None

    # --- numbers agreed with a remote (version_numbers.py) ------------------------------------
    def with_registration(self, versions: list) -> list:
        """The same versions, each with the remote whose register holds its number (or None)."""
        held = {(n, v): r for n, v, r in self.db.execute("SELECT name, version, remote FROM artifact_numbers")}
        for v in versions:
            v.registered = held.get((v.name, v.version))
        return versions

    def any_registered(self) -> bool:
        return self.db.execute("SELECT 1 FROM artifact_numbers LIMIT 1").fetchone() is not None

    def mark_registered(self, name: str, version: int, remote: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO artifact_numbers(name, version, remote) VALUES(?,?,?)", (name, version, remote)
        )

    def renumber(self, name: str, moves: dict, added: list, remote: str, registered: list) -> None:
        """In one transaction: local versions of `name` move to new numbers ({old: new}), the
        remote's versions `added` (dicts of the register's fields) are recorded at their own
        numbers, and `registered` numbers are marked as the remote's (also those whose content
        is not here: a new version here is numbered past them)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # A number a version leaves is no longer known to be registered (a mark it had
            # there, from a number held for content not here, must not follow it); the
            # numbers the remote holds are marked again below.
            for old in moves:
                self.db.execute("DELETE FROM artifact_numbers WHERE name=? AND version=?", (name, old))
            # Through negative numbers first, so that two versions may swap places.
            for table in ("artifacts", "artifact_producers"):
                for old in moves:
                    self.db.execute(f"UPDATE {table} SET version=? WHERE name=? AND version=?", (-old, name, old))
                for old, new in moves.items():
                    self.db.execute(f"UPDATE {table} SET version=? WHERE name=? AND version=?", (new, name, -old))
            for rec in added:
                self.db.execute(
                    "INSERT INTO artifacts(name, version, kind, digest, size, job_id, step, output, path, created)"
                    " VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (
                        name,
                        rec["version"],
                        rec["kind"],
                        rec["digest"],
                        rec["size"],
                        None,
                        rec.get("step"),
                        rec.get("output"),
                        rec.get("path") or "",
                        rec.get("created") or time.time(),
                    ),
                )
            for version in registered:
                self.db.execute(
                    "INSERT OR REPLACE INTO artifact_numbers(name, version, remote) VALUES(?,?,?)",
                    (name, version, remote),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
