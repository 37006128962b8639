"""Artifact versions: named outputs and assets, versioned by content, in the `artifacts`
table of the job database (layout: jobdb/schema.py).

Invariant: a name gets a new version only for new content; the same content keeps the
version it first got. ArtifactIndex holds the queries; JobStore (jobs.py) mixes it in
over its connection, so `ws.jobs` answers for jobs and artifacts alike.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Optional

from ..errors import PipefileError, did_you_mean

MAX_ID = (1 << 63) - 1  # the largest integer SQLite holds: a job id or version past it names nothing


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

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": self.kind, "digest": self.digest,
                "size": self.size, "job": self.job_id, "step": self.step, "output": self.output,
                "path": self.path, "created": self.created}


class ArtifactIndex:
    """The artifact versions of the database `self.db` (set by the class that mixes it in)."""

    db: sqlite3.Connection

    def add_version(self, name: str, kind: str, digest: str, size: int, path: str, job_id: Optional[int],
                    step: Optional[str], output: Optional[str]) -> ArtifactVersion:
        """The version of `name` with this content: the existing one, or a new one."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT version FROM artifacts WHERE name=? AND digest=? AND kind=? "
                                  "ORDER BY version LIMIT 1", (name, digest, kind)).fetchone()
            if row is None:
                top = self.db.execute("SELECT MAX(version) FROM artifacts WHERE name=?", (name,)).fetchone()[0]
                version = (top or 0) + 1
                self.db.execute("INSERT INTO artifacts VALUES(?,?,?,?,?,?,?,?,?,?)",
                                (name, version, kind, digest, size, job_id, step, output, path, time.time()))
            else:
                version = row[0]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.artifact(name, version)

    def artifact(self, name: str, version: Optional[int] = None) -> ArtifactVersion:
        if version is None:
            row = self.db.execute("SELECT * FROM artifacts WHERE name=? ORDER BY version DESC LIMIT 1",
                                  (name,)).fetchone()
        else:
            row = None if not 0 <= version <= MAX_ID else \
                self.db.execute("SELECT * FROM artifacts WHERE name=? AND version=?", (name, version)).fetchone()
        if row is None:
            names = [r[0] for r in self.db.execute("SELECT DISTINCT name FROM artifacts")]
            if name not in names:
                raise PipefileError(f"no artifact '{name}'", hint=did_you_mean(name, names, "artifact")
                                    or "name an output with name: to version it")
            top = self.db.execute("SELECT MAX(version) FROM artifacts WHERE name=?", (name,)).fetchone()[0]
            raise PipefileError(f"artifact '{name}' has no version {version}", hint=f"versions are 1 to {top}")
        return ArtifactVersion(*row)

    def artifacts(self, name: Optional[str] = None) -> list:
        q = "SELECT * FROM artifacts" + (" WHERE name=?" if name else "") + " ORDER BY name, version"
        return [ArtifactVersion(*r) for r in self.db.execute(q, (name,) if name else ())]

    def versions_of(self, digest: str) -> list:
        return [ArtifactVersion(*r) for r in self.db.execute("SELECT * FROM artifacts WHERE digest=?", (digest,))]

    # --- queries for artifacts and lineage ----------------------------------------------------
    def artifact_names(self) -> list:
        """Every artifact name, sorted."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT name FROM artifacts ORDER BY name")]

    def artifact_summary(self) -> list:
        """(latest ArtifactVersion, number of versions) per artifact name, sorted by name."""
        rows = self.db.execute(
            "SELECT a.*, c.n FROM artifacts a JOIN (SELECT name, MAX(version) AS top, COUNT(*) AS n "
            "FROM artifacts GROUP BY name) c ON a.name = c.name AND a.version = c.top ORDER BY a.name")
        return [(ArtifactVersion(*r[:10]), r[10]) for r in rows]

    def find_version(self, name: str, kind: str, digest: str) -> Optional[ArtifactVersion]:
        """The version of `name` that holds this content, if there is one (no error)."""
        row = self.db.execute("SELECT * FROM artifacts WHERE name=? AND digest=? AND kind=? ORDER BY version "
                              "LIMIT 1", (name, digest, kind)).fetchone()
        return ArtifactVersion(*row) if row else None
