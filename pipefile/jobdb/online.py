"""OnlineStore: real-time deployments of a model (`pipe deploy`), in the job database
(`.pipe/jobs.db`; tables `online_endpoints` and `online_deployments`, layout in
jobdb/schema.py).

A name (what `POST /v1/online/NAME/score` answers for) has numbered deployments, each
pinning the content digest of one artifact version of a model folder: a deployment
always serves the same bytes, even after the artifact gets newer versions. The first
deployment of a name is its default; a later one becomes it only when asked
(`set_default`), as with batch endpoints (jobdb/serving.py). This module imports
neither jobs.py nor serving.py: it is handed the JobStore whose connection it shares.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Optional

from ..errors import PipefileError, did_you_mean
from ..lazyclass import dataclass
from .tokens import valid_endpoint_name

MAX_VERSION = 2**53  # numbers past this are not ones SQLite or JSON clients hold exactly


@dataclass
class OnlineDeployment:
    name: str
    version: int
    artifact: str
    artifact_version: int
    kind: str
    digest: str
    size: int
    model: dict  # the model folder's model.json, as read when it was deployed
    description: str
    disabled: bool
    created: float

    @property
    def model_ref(self) -> str:
        return f"{self.artifact}:{self.artifact_version}"

    def to_json(self, default: Optional[int] = None) -> dict:
        out = {
            "name": self.name,
            "version": self.version,
            "model": self.model_ref,
            "digest": self.digest,
            "size": self.size,
            "task": self.model.get("task"),
            "label": self.model.get("label"),
            "feature_columns": self.model.get("feature_columns", []),
            "classes": self.model.get("classes", []),
            "description": self.description,
            "disabled": self.disabled,
            "created": self.created,
        }
        if default is not None:
            out["default"] = default == self.version
        return out


class OnlineStore:
    """Names and their real-time deployments, over a JobStore's connection."""

    def __init__(self, jobs):
        self.db: sqlite3.Connection = jobs.db

    def _names(self) -> list:
        return [r[0] for r in self.db.execute("SELECT name FROM online_endpoints ORDER BY name")]

    def default_of(self, name: str) -> Optional[int]:
        """The default version of `name`; an error naming the known names when there is none such."""
        row = self.db.execute("SELECT default_version FROM online_endpoints WHERE name=?", (name,)).fetchone()
        if row is None:
            raise PipefileError(
                f"no online deployment '{name}'",
                hint=did_you_mean(name, self._names(), "deployment")
                or "deploy a model with `pipe deploy NAME --model ARTIFACT[:VERSION]`",
            )
        return row[0]

    def names(self) -> list:
        """(name, default version) of every name, sorted."""
        return list(self.db.execute("SELECT name, default_version FROM online_endpoints ORDER BY name"))

    def add(
        self,
        name: str,
        artifact: str,
        artifact_version: int,
        kind: str,
        digest: str,
        size: int,
        model: dict,
        description: str,
        set_default: bool,
    ) -> OnlineDeployment:
        """A new deployment numbered after the last one of `name` (created on first use,
        when its first deployment becomes the default)."""
        if not valid_endpoint_name(name):
            raise PipefileError(
                f"'{name}' is not a valid deployment name",
                hint="use letters, digits, '_' and '-' (at most 64), starting with a letter or '_'",
            )
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT default_version FROM online_endpoints WHERE name=?", (name,)).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO online_endpoints(name, default_version, created) VALUES(?,?,?)", (name, None, now)
                )
            top = self.db.execute("SELECT MAX(version) FROM online_deployments WHERE name=?", (name,)).fetchone()[0]
            version = (top or 0) + 1
            self.db.execute(
                "INSERT INTO online_deployments(name, version, artifact, artifact_version, kind, digest, size, "
                "model, description, disabled, created)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    version,
                    artifact,
                    artifact_version,
                    kind,
                    digest,
                    size,
                    json.dumps(model, sort_keys=True),
                    description,
                    0,
                    now,
                ),
            )
            if row is None or row[0] is None or set_default:
                self.db.execute("UPDATE online_endpoints SET default_version=? WHERE name=?", (version, name))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.deployment(name, version)

    def deployment(self, name: str, version: Optional[int] = None) -> OnlineDeployment:
        """Deployment `version` of `name` (None: its default)."""
        default = self.default_of(name)
        if version is None:
            if default is None:
                raise PipefileError(
                    f"online deployment '{name}' has no default (every version of it is disabled)",
                    hint=f"deploy a model again: pipe deploy {name} --model ARTIFACT[:VERSION]",
                )
            version = default
        row = (
            self.db.execute("SELECT * FROM online_deployments WHERE name=? AND version=?", (name, version)).fetchone()
            if 1 <= version <= MAX_VERSION
            else None
        )
        if row is None:
            top = self.db.execute("SELECT MAX(version) FROM online_deployments WHERE name=?", (name,)).fetchone()[0]
            raise PipefileError(
                f"online deployment '{name}' has no version {version}",
                hint=f"its versions are 1 to {top}" if top else "deploy a model first",
            )
        return _deployment(row)

    def deployments(self, name: Optional[str] = None) -> list:
        """Every deployment (of `name` only, if given), by name then version."""
        if name is not None:
            self.default_of(name)
            rows = self.db.execute("SELECT * FROM online_deployments WHERE name=? ORDER BY version", (name,))
        else:
            rows = self.db.execute("SELECT * FROM online_deployments ORDER BY name, version")
        return [_deployment(r) for r in rows]

    def set_default(self, name: str, version: int) -> OnlineDeployment:
        d = self.deployment(name, version)
        if d.disabled:
            raise PipefileError(
                f"version {version} of online deployment '{name}' is disabled",
                hint="a disabled version cannot be the default; deploy the model again instead",
            )
        self.db.execute("UPDATE online_endpoints SET default_version=? WHERE name=?", (version, name))
        return d

    def disable(self, name: str, version: int) -> OnlineDeployment:
        """Stop serving `version`; if it was the default, the newest enabled version becomes it."""
        self.deployment(name, version)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE online_deployments SET disabled=1 WHERE name=? AND version=?", (name, version))
            if self.default_of(name) == version:
                row = self.db.execute(
                    "SELECT MAX(version) FROM online_deployments WHERE name=? AND disabled=0", (name,)
                ).fetchone()
                self.db.execute("UPDATE online_endpoints SET default_version=? WHERE name=?", (row[0], name))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.deployment(name, version)

    def digests(self) -> list:
        """(kind, digest) of every deployment's model, enabled or not: what `pipe gc` keeps."""
        return list(self.db.execute("SELECT DISTINCT kind, digest FROM online_deployments"))


def _deployment(row) -> OnlineDeployment:
    return OnlineDeployment(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6] or 0,
        json.loads(row[7] or "{}"),
        row[8] or "",
        bool(row[9]),
        row[10],
    )
