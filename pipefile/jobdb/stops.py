"""Kept stops of sweep trials: what early termination (stopping.py) stopped, in the
`trial_stops` table of the job database (layout: jobdb/schema.py).

A row is keyed by the trial's key and the policy it was judged by (`stopping.policy_of`: the
policy's settings and the objective), and says which job stopped it, why, and on what
evidence (the curves of the other trials it was compared with). While both are the same, the
planner plans the trial `stopped` without running it; another key or policy finds no row.
TrialStops holds the queries; JobStore (jobs.py) mixes it in over its connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Optional


class TrialStops:
    """The kept stops of the database `self.db` (set by the class that mixes it in)."""

    db: sqlite3.Connection

    def record_stop(self, job_id: int, step: str, key: str, policy: str, detail: str, evidence: dict) -> None:
        """Job `job_id` stopped trial `step` (key `key`) under `policy`: the newest stop wins."""
        self.db.execute(
            "INSERT OR REPLACE INTO trial_stops(key, policy, job_id, step, detail, evidence, stopped) "
            "VALUES(?,?,?,?,?,?,?)",
            (key, policy, job_id, step, detail, json.dumps(evidence, sort_keys=True), time.time()),
        )

    def stops(self, policies) -> dict:
        """{(key, policy): (job id, detail)} of the stops kept under any of `policies`."""
        policies = sorted(set(policies))
        if not policies:
            return {}
        marks = ",".join("?" * len(policies))
        rows = self.db.execute(
            f"SELECT key, policy, job_id, detail FROM trial_stops WHERE policy IN ({marks})", policies
        )
        return {(key, policy): (job, detail) for key, policy, job, detail in rows}

    def stop_of(self, key: str, policy: str) -> Optional[dict]:
        """The kept stop of one trial: {job, step, detail, policy, evidence, stopped}, or None."""
        row = self.db.execute(
            "SELECT job_id, step, detail, evidence, stopped FROM trial_stops WHERE key=? AND policy=?", (key, policy)
        ).fetchone()
        if row is None:
            return None
        job, step, detail, evidence, stopped = row
        return {
            "job": job,
            "step": step,
            "detail": detail,
            "policy": json.loads(policy),
            "evidence": json.loads(evidence),
            "stopped": stopped,
        }
