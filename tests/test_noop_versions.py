"""The no-op record of a pipeline with versioned assets and outputs (`name:`): a no-op finds
each content's version there already and records none, so the record may stand for it; it
declines whenever the normal path would record a version (new content, or the version it
found gone or renumbered)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

from test_noop_record import _last_job, _normal, _run, _same_as_normal, _settle
from workspace_repo import Repo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

NAMED = """\
version: 1
assets:
  raw: {type: uri_file, path: data/in.txt, name: raw-data}
steps:
  prep:
    command: "cat ${{inputs.d}} > ${{outputs.out}}"
    inputs: {d: "${{assets.raw}}"}
    outputs:
      out: {path: prep.txt, name: prepared}
  report:
    command: "wc -c < prep.txt > report.txt"
    inputs: {p: prep.txt}
    outputs: {out: report.txt}
"""


def _named(repo: Repo) -> Repo:
    repo.pipefile(NAMED)
    repo.write("data/in.txt", "hello\n")
    repo.pipe("run", check=True)
    _settle(repo)
    return repo


def _versions(repo: Repo) -> list:
    return json.loads(repo.pipe("artifacts", "--json", check=True).out)["artifacts"]


_VARYING = {"id", "uid", "started", "ended", "pid", "finished", "seconds", "created", "duration", "job", "job_id"}


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _shown(repo: Repo, job: int) -> dict:
    """`pipe jobs show --json` of a job, less what differs from job to job."""
    return _scrub(json.loads(repo.pipe("jobs", "show", str(job), "--json", check=True).out))


def test_a_no_op_with_versioned_assets_and_outputs_is_answered_from_the_record(repo):
    _named(repo)
    before = _versions(repo)
    assert _same_as_normal(repo)
    assert _versions(repo) == before  # (no version recorded by either)
    _settle(repo)
    r, answered = _run(repo)
    assert answered, str(r)
    fast = _last_job(repo)
    r = _normal(repo)
    assert _shown(repo, fast) == _shown(repo, _last_job(repo))
    assert repo.pipe("lineage", "prepared").out == repo.pipe("lineage", "prepared").out


def test_new_content_of_a_named_asset_declines_and_the_normal_path_records_its_version(repo):
    _named(repo)
    repo.write("data/in.txt", "hello again\n")
    r, answered = _run(repo)
    assert not answered and " ran" in r.err, str(r)
    names = {(v["name"], v["versions"]) for v in _versions(repo)}
    assert ("raw-data", 2) in names, names


def test_a_version_gone_from_the_job_database_declines(repo):
    # Whatever removed it (a `pipe gc` holds the workspace, and removes the record), the record
    # must not stand for a run that would record the version again.
    _named(repo)
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    db.execute("DELETE FROM artifacts WHERE name='raw-data'")
    db.commit()
    db.close()
    r, answered = _run(repo)
    assert not answered and r.code == 0, str(r)
    assert any(v["name"] == "raw-data" for v in _versions(repo))  # recorded again, by the normal path


def test_a_touched_named_asset_is_answered(repo):
    _named(repo)
    os.utime(repo.root / "data" / "in.txt")
    before = _versions(repo)
    assert _same_as_normal(repo)
    assert _versions(repo) == before


def test_the_readme_example_pipeline_is_answered_from_the_record(repo):
    shutil.copytree(EXAMPLES / "wine", repo.root, dirs_exist_ok=True)
    repo.pipe("run", check=True, timeout=600)
    _settle(repo)
    versions = _versions(repo)
    assert {v["name"] for v in versions} >= {"wine-data", "wine-model"}
    assert _same_as_normal(repo)
    _settle(repo)
    r, answered = _run(repo)
    assert answered, str(r)
    fast = _last_job(repo)
    lineage = repo.pipe("lineage", "wine-model").out
    r = _normal(repo)
    assert _shown(repo, fast) == _shown(repo, _last_job(repo))
    assert repo.pipe("lineage", "wine-model").out == lineage
    assert _versions(repo) == versions
