"""A served job whose Python pipeline's module hangs while the server loads it (a read that
never returns, at import): a real `pipe serve`, a real DSL pipeline published as an endpoint."""

from __future__ import annotations

import time

from serve_site import SCORE, SCORE_PY, Server, require_serve_deps, token, upload, wait_job
from workspace_repo import Repo

# Hangs when loaded by a served job (its folder is under .pipe/serve/work/) while the file
# that HANG_FLAG names exists; `pipe publish` (in the workspace) loads it as usual.
BUILD = """\
import os, time
from pipefile import dsl

if "/.pipe/serve/work/" in os.getcwd() + "/" and os.path.exists(os.environ.get("HANG_FLAG", "/nonexistent")):
    time.sleep(3600)


@dsl.command_component
def hello(out: dsl.Output(type="uri_file")):
    open(out, "w").write("hi\\n")


@dsl.pipeline
def pipeline():
    hello()
"""


def test_a_job_whose_python_pipeline_hangs_while_loading_is_stopped_by_the_timeout_and_cancel(tmp_path):
    # Before: the job stayed `preparing` for good: --job-timeout and cancel only reached a
    # job once its pipeline had loaded, and its worker was held with it.
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.write("build.py", BUILD, dedent=False)
    repo.pipe("publish", check=True)
    repo.pipe("publish", "-f", "build.py", "--endpoint", "hang", check=True)
    flag = tmp_path / "hang"
    flag.write_text("")
    tok = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "1", "--job-timeout", "4s", env={"HANG_FLAG": str(flag)})
    try:
        c = server.client(tok)
        started = time.monotonic()
        job = c.post("/v1/endpoints/hang/jobs", json={}).json()
        done = wait_job(c, job["id"], timeout=30)
        assert (done["state"], done["error"]) == (
            "failed",
            "the job ran longer than the server's limit of 4s (--job-timeout) (while its pipeline was loading)",
        )
        assert time.monotonic() - started < 20
        # The one worker is free again: a job of another endpoint runs.
        digest = upload(c, b"0.2\n0.9\n").json()["digest"]
        other = c.post("/v1/endpoints/score/jobs", json={"inputs": {"data": {"upload": digest}}}).json()
        assert wait_job(c, other["id"], timeout=60)["state"] == "completed"
        # Canceling one while it loads ends it at once (no need to wait for the timeout).
        job = c.post("/v1/endpoints/hang/jobs", json={"force_rerun": True}).json()
        deadline = time.monotonic() + 10
        while c.get(f"/v1/jobs/{job['id']}").json()["state"] != "preparing":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.post(f"/v1/jobs/{job['id']}/cancel").status_code in (200, 202)
        done = wait_job(c, job["id"], timeout=3)
        assert (done["state"], done["error"]) == ("canceled", "canceled by request (while its pipeline was loading)")
    finally:
        assert server.stop() == 0
