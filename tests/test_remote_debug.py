"""A served job is as debuggable from the client as a local one: a failed `pipe invoke`
prints the failed step's log tail and says how to read it all in CLI terms; `pipe logs
--url URL JOB [STEP] [--follow]` reads a served job's logs; a missing input is asked for as
an option (-i NAME=PATH), not in the server's JSON terms. Against a real `pipe serve`."""

from __future__ import annotations

import subprocess
import time

import pytest
from serve_site import Server, require_serve_deps, token
from workspace_repo import PIPE, Repo

WINE = """\
name: wine
params:
  fail: 0
  pause: 0
assets:
  wine: {type: uri_file, path: data/wine.csv, input: true}
steps:
  train:
    command: >-
      echo reading ${{inputs.data}}; for i in $(seq 1 30); do echo line-$i; done;
      sleep ${{params.pause}}; echo after-the-pause;
      test ${{params.fail}} = 0 || { echo "boom: bad wine" >&2; exit 3; };
      cp ${{inputs.data}} ${{outputs.model}}
    inputs: {data: "${{assets.wine}}"}
    outputs:
      model: {path: build/model.csv, output: true}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_serve_deps()
    root = tmp_path_factory.mktemp("debug") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", WINE, dedent=False)
    repo.write("data/wine.csv", "1,2\n")
    repo.pipe("publish", "--description", "the wine model", check=True)
    tok = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "2")
    yield repo, server, tok
    server.stop()


def _invoke(repo, server, tok, tmp_path, *args):
    (tmp_path / "w.csv").write_text("3,4\n")
    return repo.pipe(
        "invoke", "wine", "-i", f"wine={tmp_path / 'w.csv'}", "--url", server.url, *args, env={"PIPE_TOKEN": tok}
    )


def test_a_failed_invoke_prints_the_failed_steps_log_tail_and_the_cli_command(site, tmp_path):
    repo, server, tok = site
    r = _invoke(repo, server, tok, tmp_path, "-p", "fail=1", "--wait")
    assert r.code == 1, str(r)
    assert "boom: bad wine" in r.err and "line-30" in r.err, str(r)
    assert "line-1\n" not in r.err  # a tail, not the whole log
    job = int(r.err.split("job ", 1)[1].split(" ", 1)[0])
    url = server.url
    assert f"log of step 'train' (last 20 lines; all of it: pipe logs --url {url} {job} train):" in r.err
    assert f"hint: read its logs: pipe logs --url {url} {job} train" in r.err
    assert "GET /v1/" not in r.err

    # The command the hint gives works, with the token from PIPE_TOKEN or --token.
    r = repo.pipe("logs", "--url", url, str(job), "train", env={"PIPE_TOKEN": tok})
    assert r.code == 0, str(r)
    assert r.out.startswith("reading ") and "line-1\n" in r.out and "boom: bad wine" in r.out
    r = repo.pipe("logs", "--url", url, "--token", tok, str(job), env={"PIPE_TOKEN": ""})
    assert r.code == 0 and r.out.startswith("==> train <==\n"), str(r)
    r = repo.pipe("logs", "--url", url, "last", "--json", env={"PIPE_TOKEN": tok})
    assert r.code == 0 and "boom: bad wine" in r.json["train"], str(r)
    # Mistakes are said in CLI terms.
    r = repo.pipe("logs", "--url", url, str(job), "trian", env={"PIPE_TOKEN": tok})
    assert r.code == 2 and "has no step 'trian'" in r.err and "train" in r.err, str(r)
    r = repo.pipe("logs", "--url", url, "9999", env={"PIPE_TOKEN": tok})
    assert (
        r.code == 2
        and "no job 9999" in r.err
        and f"hint: the newest job this token may see: pipe logs --url {url} last" in r.err
    ), str(r)
    assert "GET /v1" not in r.err
    r = repo.pipe("logs", "--url", url, "abc", env={"PIPE_TOKEN": tok})
    assert r.code == 2 and "a served job is named by its number" in r.err, str(r)
    r = repo.pipe("logs", "--url", url, str(job), env={"PIPE_TOKEN": ""})
    assert r.code == 2 and "PIPE_TOKEN" in r.err, str(r)


def test_pipe_logs_url_follow_shows_lines_before_the_step_ends(site, tmp_path):
    repo, server, tok = site
    r = _invoke(repo, server, tok, tmp_path, "-p", "pause=6", "-p", "fail=0", "--force-rerun")
    assert r.code == 0, str(r)
    job = r.err.split("job ", 1)[1].split(" ", 1)[0]
    deadline = time.monotonic() + 30
    while True:  # the step has started once the server lists it
        got = repo.pipe("logs", "--url", server.url, job, "train", env={"PIPE_TOKEN": tok})
        if got.code == 0 and "line-30" in got.out:
            break
        assert time.monotonic() < deadline, str(got)
        time.sleep(0.2)
    env = dict(subprocess.os.environ, PIPE_TOKEN=tok, PIPE_PLAIN="1")
    with subprocess.Popen(
        PIPE + ["logs", "--url", server.url, job, "train", "--follow"],
        cwd=repo.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as p:
        try:
            first = p.stdout.readline().decode()
            assert first.startswith("reading "), first
            assert p.poll() is None  # still following: the step sleeps
            out = first + p.stdout.read().decode()
            assert p.wait(30) == 0, p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
    assert out.rstrip().endswith("after-the-pause"), out


def test_a_missing_input_is_asked_for_as_an_option(site):
    repo, server, tok = site
    r = repo.pipe("invoke", "wine", "--url", server.url, env={"PIPE_TOKEN": tok})
    assert r.code == 2, str(r)
    assert "the endpoint needs input 'wine', not given" in r.err
    assert "hint: give -i wine=PATH" in r.err and '"upload"' not in r.err, str(r)
    r = repo.pipe("invoke", "wine", "-i", "wine=x", "-p", "fail=abc", "--url", server.url, env={"PIPE_TOKEN": tok})
    assert r.code == 2 and "'fail' is an integer, and 'abc' is not one" in r.err, str(r)


def test_endpoints_show_keeps_the_endpoints_own_description(site):
    repo, _, _ = site
    repo.write("Pipefile", WINE + "# another deployment\n", dedent=False)
    repo.pipe("publish", "--description", "retrained on 2026 data", check=True)
    shown = repo.pipe("endpoints", "show", "wine", "--json", check=True).json
    assert shown["description"] == "the wine model"
    assert [d["description"] for d in shown["deployments"]] == ["the wine model", "retrained on 2026 data"]
    assert repo.pipe("endpoints", "show", "wine", check=True).out.startswith("endpoint wine: the wine model\n")
