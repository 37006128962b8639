"""Jobs as the designer shows them: the list and one job as `pipe jobs --json` and
`pipe jobs show --json` print them, one job's graph coloured by its steps' outcomes."""

from __future__ import annotations

from typing import Optional


def list_jobs(jobs, experiment: Optional[str], status: Optional[str], limit: int) -> dict:
    found = jobs.jobs(experiment or None, status or None, max(0, limit))
    return {"jobs": [dict(j.to_json(), steps=jobs.outcome_counts(j.id)) for j in found]}
