"""Review of the store's 'objects are regular files only' change (a444c74, 356599e) as a user
meets it: a real `pipe run` and a real `pipe ui` in a temporary workspace."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from test_store_hostile import PIPEFILE, _fifo_in_place_of
from test_ui_server import start  # noqa: F401 - the fixture
from workspace_repo import Repo


@pytest.mark.parametrize(("name", "output"), [("o", "out.txt"), ("d", "d/x.txt")])
def test_pipe_ui_s_preview_of_an_output_whose_stored_object_is_a_fifo_answers(start, tmp_path, name, output):  # noqa: F811
    # `pipe run`, verify, deploy and serve's download read stored objects as regular files
    # only; the designer's output preview still opened them with open(): a FIFO there held a
    # server thread for ever, and the page's request never answered.
    repo = Repo(tmp_path)
    repo.write("Pipefile", PIPEFILE, dedent=False)
    assert repo.pipe("run").code == 0
    obj = _fifo_in_place_of(repo, output)
    ui = start(repo.root)
    params = {"path": "x.txt"} if name == "d" else {}
    try:
        r = ui.http.get(f"/api/jobs/1/steps/make/outputs/{name}/preview", params=params, timeout=15)
    except httpx.TimeoutException:
        pytest.fail("the preview waited on the FIFO")
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert "is not a regular file" in error["message"] and error["hint"], r.text
    assert not os.path.lexists(obj)  # moved to corrupt/, as `pipe run` and `pipe verify` do
    r = repo.pipe("run", timeout=60)
    assert r.code == 0 and repo.read(output).strip() in ("top", "inside"), str(r)


def test_pipe_serve_s_download_of_a_file_whose_stored_object_is_a_fifo_is_a_410_not_a_cut_stream(tmp_path):
    # 356599e made the download read objects as regular files only, but the check came once
    # the answer had begun: a 200 with no body, and "Exception in ASGI application" with a
    # traceback in the server's log. Now the object is checked (and moved aside) first: 410.
    from serve_site import SCORE, SCORE_PY, Server, require_serve_deps, token, upload, wait_job

    require_serve_deps()
    repo = Repo(tmp_path)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.pipe("publish", check=True)
    tok = token(repo, "--scope", "admin")
    server = Server(tmp_path, "--workers", "1")
    try:
        c = server.client(tok)
        digest = upload(c, b"0.1\n0.7\n").json()["digest"]
        job = c.post("/v1/endpoints/score/jobs", json={"inputs": {"data": {"upload": digest}}}).json()
        assert wait_job(c, job["id"])["state"] == "completed"
        outputs = c.get(f"/v1/jobs/{job['id']}").json()["outputs"]
        from pipefile.workspace import Workspace

        ws = Workspace(str(tmp_path))
        try:
            pred = ws.store.path(outputs["pred"]["digest"])
            walked = {rel: d for rel, _kind, d, _size in ws.store.walk(outputs["report"]["digest"])}
            count = ws.store.path(walked["count.txt"])
        finally:
            ws.close()
        before = server.output()
        for name, obj in (("pred", pred), ("report", count)):  # (a file; a file in a folder, sent as a tar)
            os.chmod(os.path.dirname(obj), 0o755)
            os.unlink(obj)
            os.mkfifo(obj)
            r = c.get(f"/v1/jobs/{job['id']}/outputs/{name}", timeout=15)
            assert r.status_code == 410 and "not a regular file" in r.text, (r.status_code, r.text)
            assert not os.path.lexists(obj)
        time.sleep(0.5)
        logged = server.output()[len(before) :]
        assert "Traceback" not in logged and "Exception in ASGI" not in logged, logged
    finally:
        server.stop()
