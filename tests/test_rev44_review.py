"""Review of the store's 'objects are regular files only' change (a444c74, 356599e) as a user
meets it: a real `pipe run` and a real `pipe ui` in a temporary workspace."""

from __future__ import annotations

import os

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
