"""Batch endpoints end to end: `pipe publish`, a real `pipe serve` on a loopback port
driven by httpx, and `pipe invoke`. The security tests follow the peers' CVEs: Ray's
unauthenticated job API (CVE-2023-48022), MLflow's path traversal (CVE-2023-1177,
CVE-2024-1560), Argo's zip slip (CVE-2025-62156), and DNS rebinding of localhost."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from serve_site import (
    Server,
    alive,
    make_endpoints,
    require_serve_deps,
    token,
    upload,
    wait_file,
    wait_job,
    wait_state,
)
from workspace_repo import Repo

DATA = b"0.1\n0.7\n0.9\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One workspace with three endpoints, tokens of every scope, and a server."""
    require_serve_deps()
    root = tmp_path_factory.mktemp("site") / "ws"
    root.mkdir()
    repo = Repo(root)
    make_endpoints(repo)
    toks = {
        "admin": token(repo, "--scope", "admin"),
        "read": token(repo, "--scope", "read"),
        "score": token(repo, "--scope", "invoke:score"),
        "score2": token(repo, "--scope", "invoke:score"),
        "shared": token(repo, "--scope", "invoke:score", "--share-cache"),
        "slow": token(repo, "--scope", "invoke:slow", "--scope", "invoke:count"),
    }
    server = Server(
        root,
        "--workers",
        "3",
        "--max-upload",
        "64KiB",
        "--max-unpacked",
        "128KiB",
        "--max-body",
        "16KiB",
        "--max-queue",
        "60",
        env={"PIPE_TEST_SECRET": "hunter2"},
    )
    yield repo, server, toks
    server.stop()


def _invoke(c, endpoint="score", **body):
    return c.post(f"/v1/endpoints/{endpoint}/jobs", json=body)


def _score_job(c, data=DATA, **params):
    d = upload(c, data).json()["digest"]
    r = _invoke(c, inputs=dict({"data": {"upload": d}}, **params))
    assert r.status_code in (200, 202), r.text
    return r


# --- the whole path ---------------------------------------------------------------------------
def test_publish_upload_invoke_events_download(site):
    repo, server, toks = site
    c = server.client(toks["score"])
    up = upload(c, DATA)
    assert up.status_code == 201, up.text
    digest = up.json()["digest"]
    assert up.json() == {"digest": digest, "kind": "file", "size": len(DATA)}
    assert c.head(f"/v1/uploads/{digest}").status_code == 200
    assert c.head("/v1/uploads/" + "0" * 32).status_code == 404

    r = _invoke(c, inputs={"data": {"upload": digest}, "threshold": 0.6, "label": "first"}, tags={"who": "t"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["reused"] is False

    # Server-sent events until the job ends.
    kinds, states = [], []
    with c.stream("GET", f"/v1/jobs/{job['id']}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in s.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                kinds.append(event)
            elif line.startswith("data: ") and event == "state":
                states.append(json.loads(line[6:])["state"])
    assert kinds[-1] == "end"
    assert states == ["queued", "preparing", "running", "finalizing", "completed"]
    assert kinds.count("step") == 4  # two steps, started and finished

    job = c.get(f"/v1/jobs/{job['id']}").json()
    assert job["state"] == "completed"
    assert [h["state"] for h in job["history"]] == states
    assert {s["step"]: s["outcome"] for s in job["steps"]} == {"score": "ran", "summary": "ran"}
    assert job["tags"] == {"who": "t"} and job["params"] == {"threshold": 0.6, "label": "first"}
    pred = c.get(f"/v1/jobs/{job['id']}/outputs/pred")
    assert pred.status_code == 200 and pred.content == b"0.1,0\n0.7,1\n0.9,1\n"
    assert pred.headers["x-pipe-digest"] == job["outputs"]["pred"]["digest"]
    report = c.get(f"/v1/jobs/{job['id']}/outputs/report")
    assert report.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(report.content)) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}
    assert files["count.txt"].strip() == b"3" and files["label.txt"] == b"first\n"

    # Every job records the deployment's digest and the token that submitted it.
    tid = toks["score"].split("_")[1]
    show = repo.pipe("jobs", "show", str(job["id"]), "--json", check=True).json
    dep = c.get("/v1/endpoints/score/deployments/1").json()
    assert show["endpoint"] == "score" and show["deployment"] == 1 and show["token"] == tid
    assert show["deployment_digest"] == dep["digest"] == job["deployment_digest"]
    listed = repo.pipe("jobs", check=True).out
    assert "score:1" in listed

    # Logs, also followed; only the deployment's steps can be named.
    assert c.get(f"/v1/jobs/{job['id']}/logs/score").text == "scored 3\n"
    with c.stream("GET", f"/v1/jobs/{job['id']}/logs/score", params={"follow": 1}) as s:
        assert b"".join(s.iter_bytes()) == b"scored 3\n"
    for bad in ("nope", "..%2F..%2Fjobs.db", "../../../jobs.db"):
        assert c.get(f"/v1/jobs/{job['id']}/logs/{bad}").status_code == 404


def test_identical_request_is_reused_and_steps_restore(site):
    repo, server, toks = site
    c = server.client(toks["score"])
    first = wait_job(c, _score_job(c, threshold=0.3, label="reuse").json()["id"])
    again = _score_job(c, threshold=0.3, label="reuse")
    assert again.status_code == 200 and again.json()["reused"] is True and again.json()["id"] == first["id"]
    # force_rerun runs it anew.
    d = upload(c, DATA).json()["digest"]
    forced = _invoke(c, inputs={"data": {"upload": d}, "threshold": 0.3, "label": "reuse"}, force_rerun=True)
    assert forced.status_code == 202 and forced.json()["id"] != first["id"]
    assert {s["step"]: s["outcome"] for s in wait_job(c, forced.json()["id"])["steps"]} == {
        "score": "ran",
        "summary": "ran",
    }
    # Another threshold that scores the same: score runs, summary is restored from the cache.
    other = wait_job(c, _score_job(c, threshold=0.35, label="reuse").json()["id"])
    assert {s["step"]: s["outcome"] for s in other["steps"]} == {"score": "ran", "summary": "restored"}
    # Another token may not be handed the first token's job.
    c2 = server.client(toks["score2"])
    mine = _score_job(c2, threshold=0.3, label="reuse")
    assert mine.status_code == 202 and mine.json()["id"] != first["id"]
    wait_job(c2, mine.json()["id"])


def test_idempotency_key(site):
    _, server, toks = site
    c = server.client(toks["score"])
    d = upload(c, DATA).json()["digest"]
    body = {"inputs": {"data": {"upload": d}, "threshold": 0.91, "label": "idem"}}
    key = {"Idempotency-Key": f"k-{time.time()}"}
    a = c.post("/v1/endpoints/score/jobs", json=body, headers=key)
    b = c.post("/v1/endpoints/score/jobs", json=body, headers=key)
    assert a.status_code == 202 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    changed = dict(body, inputs=dict(body["inputs"], threshold=0.92))
    conflict = c.post("/v1/endpoints/score/jobs", json=changed, headers=key)
    assert conflict.status_code == 409 and "Idempotency-Key" in conflict.json()["error"]["message"]
    wait_job(c, a.json()["id"])
    # A key answered with a job reused (completed) keeps naming that job.
    reuse_key = {"Idempotency-Key": f"r-{time.time()}"}
    r = c.post("/v1/endpoints/score/jobs", json=dict(body, tags={"t": "1"}), headers=reuse_key)
    assert r.status_code == 200 and r.json()["reused"] is True and r.json()["id"] == a.json()["id"]
    again = c.post("/v1/endpoints/score/jobs", json=dict(body, tags={"t": "1"}), headers=reuse_key)
    assert again.status_code == 200 and again.json()["id"] == a.json()["id"]
    assert c.post("/v1/endpoints/score/jobs", json=body, headers=reuse_key).status_code == 409  # other tags
    # A key answered with a job under way keeps naming it, even once it was canceled.
    s = server.client(toks["slow"])
    plain = s.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 300, "spam": 9}}).json()
    merge_key = {"Idempotency-Key": f"m-{time.time()}"}
    merged = s.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 300, "spam": 9}}, headers=merge_key)
    assert merged.status_code == 202 and merged.json()["id"] == plain["id"]
    assert s.post(f"/v1/jobs/{plain['id']}/cancel").status_code == 202
    wait_job(s, plain["id"])
    retry = s.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 300, "spam": 9}}, headers=merge_key)
    assert retry.status_code == 200 and retry.json()["id"] == plain["id"] and retry.json()["state"] == "canceled"


def test_identical_request_while_queued_or_running_returns_that_job(site):
    _, server, toks = site
    c = server.client(toks["slow"])
    body = {"inputs": {"seconds": 300, "spam": 7}}
    first = c.post("/v1/endpoints/slow/jobs", json=body)
    assert first.status_code == 202 and first.json()["reused"] is False, first.text
    jid = first.json()["id"]
    again = c.post("/v1/endpoints/slow/jobs", json=body)  # while it is queued or preparing
    assert again.status_code == 202 and again.json()["id"] == jid and again.json()["reused"] is True
    assert again.headers["location"] == first.headers["location"] == f"/v1/jobs/{jid}"
    wait_state(c, jid, ("running",))
    admin = server.client(toks["admin"])  # a token that reads every job is handed it too
    running = admin.post("/v1/endpoints/slow/jobs", json=body)
    assert running.status_code == 202 and running.json()["id"] == jid and running.json()["state"] == "running"
    forced = c.post("/v1/endpoints/slow/jobs", json=dict(body, force_rerun=True))
    assert forced.status_code == 202 and forced.json()["id"] != jid and forced.json()["reused"] is False
    for j in (jid, forced.json()["id"]):
        assert c.post(f"/v1/jobs/{j}/cancel").status_code == 202
        assert wait_job(c, j)["state"] == "canceled"

    # Identical requests at once: one transaction each, so exactly one job.
    def same(_):
        with server.client(toks["slow"]) as cl:
            return cl.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 300, "spam": 8}}).json()["id"]

    with cf.ThreadPoolExecutor(8) as ex:
        ids = set(ex.map(same, range(8)))
    assert len(ids) == 1, ids
    assert c.post(f"/v1/jobs/{ids.pop()}/cancel").status_code == 202
    # Ended: an identical request is a new job again (a canceled job is never reused).
    after = c.post("/v1/endpoints/slow/jobs", json=dict(body, inputs={"seconds": 0, "spam": 7}))
    assert after.status_code == 202 and after.json()["id"] not in (jid, forced.json()["id"])
    assert wait_job(c, after.json()["id"])["state"] == "completed"


def test_a_token_names_and_learns_of_only_the_uploads_it_sent(site):
    """Uploads are no oracle: whether the server holds some content is answered only to a
    token that sent it (or an admin), and only such a token can name it in a job."""
    _repo, server, toks = site
    a, b, admin = (server.client(toks[k]) for k in ("score", "score2", "admin"))
    data = b"0.11\n0.77\n"  # sent by no other test
    d = upload(a, data).json()["digest"]
    assert [c.head(f"/v1/uploads/{d}").status_code for c in (a, b, admin)] == [200, 404, 200]
    refused = _invoke(b, inputs={"data": {"upload": d}})
    assert refused.status_code == 422 and f"no upload {d}" in refused.text, refused.text
    assert upload(b, data).json()["digest"] == d  # sending it is how b may use it
    assert b.head(f"/v1/uploads/{d}").status_code == 200
    assert _invoke(b, inputs={"data": {"upload": d}}).status_code in (200, 202)
    assert _invoke(a, inputs={"data": {"upload": d}}).status_code in (200, 202)


def test_the_run_cache_is_no_oracle_between_tokens(site):
    """A token learns nothing of what another token ran: a step another token's job ran with
    the same data and params plans as `run` and runs (never `restored`), exactly as one
    nobody ran. Its own jobs', an admin's and a --share-cache token's runs it does restore."""
    repo, server, toks = site
    a, b, admin = (server.client(toks[k]) for k in ("score", "score2", "admin"))

    def inputs(c, data):
        return {"data": {"upload": upload(c, data).json()["digest"]}, "threshold": 0.5, "label": "oracle"}

    def plan(c, data):
        r = c.post("/v1/endpoints/score/plan", json={"inputs": inputs(c, data)})
        assert r.status_code == 200, r.text
        return {s["name"]: (s["state"], [x["kind"] for x in s["reasons"]]) for s in r.json()["steps"]}

    def outcomes(c, data):
        r = _invoke(c, inputs=inputs(c, data))
        assert r.status_code == 202 and r.json()["reused"] is False, r.text
        job = wait_job(c, r.json()["id"])
        assert job["state"] == "completed", (job.get("error"), job)
        return {s["step"]: s["outcome"] for s in job["steps"]}

    ran = {"score": "ran", "summary": "ran"}
    restored = {"score": "restored", "summary": "restored"}
    # Data sent by no other test.
    unseen = plan(b, b"0.29\n")
    assert {n: v[0] for n, v in unseen.items()} == {"score": "run", "summary": "pending"}
    private = b"0.21\n0.43\n"
    assert outcomes(a, private) == ran
    assert {n: v[0] for n, v in plan(a, private).items()} == {"score": "restore", "summary": "restore"}
    assert {n: v[0] for n, v in plan(admin, private).items()} == {"score": "restore", "summary": "restore"}
    # b sent the same content with the same params: for b nobody ran it.
    assert plan(b, private) == unseen
    assert outcomes(b, private) == ran
    assert {n: v[0] for n, v in plan(b, private).items()} == {"score": "restore", "summary": "restore"}
    assert {n: v[0] for n, v in plan(a, private).items()} == {"score": "restore", "summary": "restore"}

    # What an admin or a sharing token ran, every token may restore.
    shared = server.client(toks["shared"])
    for who, data in ((admin, b"0.22\n0.44\n"), (shared, b"0.23\n0.45\n")):
        assert outcomes(who, data) == ran
        assert {n: v[0] for n, v in plan(b, data).items()} == {"score": "restore", "summary": "restore"}
        assert outcomes(b, data) == restored
    listed = repo.pipe("token", "list", "--json", check=True).json["tokens"]
    assert [t["share_cache"] for t in listed if t["id"] == toks["shared"].split("_")[1]] == [True]


def test_folder_upload_and_job_output_input(site):
    _, server, toks = site
    c = server.client(toks["slow"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("a.txt", b"hello\n"), ("sub/b.txt", b"b\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    up = upload(c, buf.getvalue(), "application/x-tar")
    assert up.status_code == 201 and up.json()["kind"] == "tree", up.text
    job = wait_job(c, _invoke(c, "count", inputs={"images": {"upload": up.json()["digest"]}}).json()["id"])
    assert job["state"] == "completed", job
    assert c.get(f"/v1/jobs/{job['id']}/outputs/listing").text == "./a.txt\n./sub/b.txt\nhello\n"
    # A file where a folder is expected is refused.
    f = upload(c, b"x").json()["digest"]
    bad = _invoke(c, "count", inputs={"images": {"upload": f}})
    assert bad.status_code == 422 and "uri_folder" in bad.json()["error"]["message"]
    # A zip of the same folder is the same content.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("a.txt", "hello\n")
        zf.writestr("sub/b.txt", "b\n")
    assert upload(c, zbuf.getvalue(), "application/zip").json()["digest"] == up.json()["digest"]


def test_job_output_and_artifact_inputs(site):
    repo, server, toks = site
    c = server.client(toks["admin"])
    first = wait_job(c, _score_job(c, threshold=0.8, label="chain").json()["id"])
    # The predictions of one job as the data of the next (the csv's first column still parses).
    r = _invoke(c, inputs={"data": {"job_output": f"{first['id']}/pred"}, "threshold": 0.0, "label": "chain"})
    assert r.status_code == 202, r.text
    assert wait_job(c, r.json()["id"])["state"] == "failed"  # "0.1,0" is not a number: the step fails
    bad = _invoke(c, inputs={"data": {"job_output": f"{first['id']}/prde"}})
    assert bad.status_code == 422 and "did you mean" in bad.json()["error"].get("hint", "")
    (repo.root / "asset.csv").write_bytes(b"0.2\n")
    repo.pipe("asset", "add", "asset.csv", "--name", "sample", check=True)
    r = _invoke(c, inputs={"data": {"artifact": "sample:1"}, "label": "art"})
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"])
    assert c.get(f"/v1/jobs/{job['id']}/outputs/pred").text == "0.2,0\n"
    assert _invoke(c, inputs={"data": {"artifact": "smaple:1"}}).status_code == 422


def test_plan_runs_nothing(site):
    _, server, toks = site
    c = server.client(toks["score"])
    done = wait_job(c, _score_job(c, threshold=0.4, label="plan").json()["id"])
    d = upload(c, DATA).json()["digest"]
    plan = c.post(
        "/v1/endpoints/score/plan", json={"inputs": {"data": {"upload": d}, "threshold": 0.4, "label": "plan"}}
    )
    assert plan.status_code == 200, plan.text
    assert {s["name"]: s["state"] for s in plan.json()["steps"]} == {"score": "restore", "summary": "restore"}
    plan = c.post("/v1/endpoints/score/plan", json={"inputs": {"data": {"upload": d}, "threshold": 0.45}})
    assert {s["name"]: s["state"] for s in plan.json()["steps"]}["score"] == "run"
    jobs = c.get("/v1/jobs").json()["jobs"]
    assert jobs[0]["id"] == done["id"] or all(j["id"] <= done["id"] or j["state"] != "queued" for j in jobs)


def test_invoke_cli_waits_and_downloads(site, tmp_path):
    repo, server, toks = site
    (tmp_path / "in.csv").write_bytes(DATA)
    out = tmp_path / "out"
    r = repo.pipe(
        "invoke",
        "score",
        "-i",
        f"data={tmp_path / 'in.csv'}",
        "-p",
        "threshold=0.75",
        "-p",
        "label=cli",
        "--url",
        server.url,
        "--out",
        str(out),
        env={"PIPE_TOKEN": toks["score"]},
    )
    assert r.code == 0, str(r)
    assert (out / "pred.csv").read_text() == "0.1,0\n0.7,0\n0.9,1\n"
    assert (out / "report" / "label.txt").read_text() == "cli\n"
    bad = repo.pipe("invoke", "score", "-p", "threshold=high", "--url", server.url, env={"PIPE_TOKEN": toks["score"]})
    assert bad.code == 2 and "threshold" in bad.err
    fail = repo.pipe("invoke", "slow", "-p", "seconds=x1", "--url", server.url, env={"PIPE_TOKEN": toks["slow"]})
    assert fail.code == 2
    none = repo.pipe("invoke", "score", "--url", server.url, env={"PIPE_TOKEN": ""})
    assert none.code == 2 and "token" in none.err


# --- authentication and scopes (CVE-2023-48022: no unauthenticated job API) -------------------
def test_every_route_but_health_needs_a_token(site):
    repo, server, toks = site
    anon = server.client()
    assert anon.get("/v1/health").json()["status"] == "ok"
    for method, path in (
        ("GET", "/v1/endpoints"),
        ("GET", "/v1/endpoints/score"),
        ("GET", "/v1/jobs"),
        ("POST", "/v1/endpoints/score/jobs"),
        ("POST", "/v1/uploads"),
        ("GET", "/v1/jobs/1"),
        ("POST", "/v1/jobs/1/cancel"),
        ("PATCH", "/v1/endpoints/score"),
    ):
        r = anon.request(method, path, json={} if method != "GET" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers.get("www-authenticate") == "Bearer"
    wrong = toks["admin"][:-4] + "AAAA"
    assert server.client(wrong).get("/v1/endpoints").status_code == 401
    assert server.client("garbage").get("/v1/endpoints").status_code == 401
    # Only the SHA-256 is stored: the token text is nowhere in the database.
    db = (repo.root / ".pipe" / "jobs.db").read_bytes()
    # (The secret is what follows "pipe_<id>_", and may hold "_" itself: split once, not at every "_".)
    secret = toks["admin"].split("_", 2)[-1]
    assert toks["admin"].encode() not in db and secret.encode() not in db


def test_revoked_and_expired_tokens_are_refused(site):
    repo, server, _ = site
    t = token(repo, "--scope", "read")
    assert server.client(t).get("/v1/endpoints").status_code == 200
    tid = t.split("_")[1]
    assert repo.pipe("token", "revoke", tid).code == 0
    assert server.client(t).get("/v1/endpoints").status_code == 401
    listed = repo.pipe("token", "list", "--json", check=True).json["tokens"]
    assert {x["id"]: x["state"] for x in listed}[tid] == "revoked"
    expired = token(repo, "--scope", "read", "--expires", "1s")
    time.sleep(1.1)
    assert server.client(expired).get("/v1/endpoints").status_code == 401
    born_expired = repo.pipe("token", "create", "--scope", "admin", "--expires", "0s")
    assert born_expired.code == 2 and "above zero" in born_expired.err and "hint:" in born_expired.err
    assert repo.pipe("token", "create", "--scope", "invoke").code == 2
    assert repo.pipe("token", "create", "--scope", "root").code == 2


def test_scopes(site):
    _, server, toks = site
    read = server.client(toks["read"])
    assert read.get("/v1/endpoints").status_code == 200
    assert _invoke(read, inputs={}).status_code == 403
    assert upload(read, b"x").status_code == 403
    assert read.patch("/v1/endpoints/score", json={"default_deployment": 1}).status_code == 403
    slow = server.client(toks["slow"])
    assert _invoke(slow, "score", inputs={}).status_code == 403
    assert slow.get("/v1/endpoints/score").status_code == 403
    assert [e["name"] for e in slow.get("/v1/endpoints").json()["endpoints"]] == ["count", "slow"]
    # An invoke token sees only the jobs it started.
    c1, c2 = server.client(toks["score"]), server.client(toks["score2"])
    mine = wait_job(c1, _score_job(c1, threshold=0.11, label="scope").json()["id"])
    assert c2.get(f"/v1/jobs/{mine['id']}").status_code == 404
    assert c2.get(f"/v1/jobs/{mine['id']}/outputs/pred").status_code == 404
    assert c2.post(f"/v1/jobs/{mine['id']}/cancel").status_code == 404
    assert mine["id"] not in [j["id"] for j in c2.get("/v1/jobs").json()["jobs"]]
    # Nor can it read another token's outputs by feeding them to a job of its own.
    r = _invoke(c2, inputs={"data": {"job_output": f"{mine['id']}/pred"}})
    assert r.status_code == 422 and f"no job '{mine['id']}'" in r.json()["error"]["message"]
    assert read.head("/v1/uploads/" + "0" * 32).status_code == 403
    assert mine["id"] in [j["id"] for j in read.get("/v1/jobs").json()["jobs"]]


# --- requests checked against the deployment's input schema -----------------------------------
def test_inputs_are_validated(site):
    _, server, toks = site
    c = server.client(toks["score"])
    d = upload(c, DATA).json()["digest"]

    def err(r, status=422):
        assert r.status_code == status, r.text
        return r.json()["error"]

    e = err(_invoke(c, inputs={"data": {"upload": d}, "threshold": "0.5"}))
    assert "threshold" in e["message"] and e["field"] == "inputs.threshold"
    e = err(_invoke(c, inputs={"data": {"upload": d}, "treshold": 0.5}))
    assert "did you mean 'threshold'" in e["hint"]
    assert "required" in err(_invoke(c, inputs={"threshold": 0.5}))["message"]
    assert "upload" in err(_invoke(c, inputs={"data": "/etc/passwd"}))["message"]
    assert "no upload" in err(_invoke(c, inputs={"data": {"upload": "f" * 32}}))["message"]
    assert err(_invoke(c, inputs={"data": {"upload": d}, "threshold": True}))
    # Values no command line can carry are refused up front, not failed in the job (or a 500).
    assert err(_invoke(c, inputs={"data": {"upload": d}, "label": "a\0b"}))["field"] == "inputs.label"
    huge = err(_invoke(c, inputs={"data": {"upload": d}, "threshold": 10**400}))
    assert huge["field"] == "inputs.threshold" and len(huge["message"]) < 200
    for raw in ('"label": "\\ud800"', '"data": {"upload": "\\udcff"}'):
        r = c.post(
            "/v1/endpoints/score/jobs",
            content=('{"inputs": {%s}}' % raw).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert "not valid Unicode" in err(r)["message"]
    r = c.post(
        "/v1/endpoints/score/jobs",
        content=b'{"inputs": {}, "tags": {"k": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
    )
    assert "not valid Unicode" in err(r)["message"]
    assert c.post("/v1/endpoints/score/jobs", json={"inputs": {}, "evil": 1}).status_code == 422
    assert (
        c.post(
            "/v1/endpoints/score/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )


def test_params_are_shell_quoted(site):
    _, server, toks = site
    c = server.client(toks["score"])
    evil = "x; touch pwned; $(touch pwned2) `touch pwned3`"
    job = wait_job(c, _score_job(c, threshold=0.12, label=evil).json()["id"])
    assert job["state"] == "completed", job
    with tarfile.open(fileobj=io.BytesIO(c.get(f"/v1/jobs/{job['id']}/outputs/report").content)) as tf:
        assert tf.extractfile("label.txt").read().decode() == evil + "\n"
    root = Path(site[0].root)
    assert not list(root.rglob("pwned*"))


def test_steps_get_a_scrubbed_environment(site):
    _, server, toks = site
    c = server.client(toks["score"])
    job = wait_job(c, _score_job(c, threshold=0.13, label="env").json()["id"])
    with tarfile.open(fileobj=io.BytesIO(c.get(f"/v1/jobs/{job['id']}/outputs/report").content)) as tf:
        env = tf.extractfile("env.txt").read().decode()
    assert "PATH=" in env and "PIPE_RUN_ID=" in env
    assert "hunter2" not in env and "PIPE_TEST_SECRET" not in env and "PYTHONPATH" not in env


def test_unknown_endpoint_deployment_and_job(site):
    _, server, toks = site
    c = server.client(toks["admin"])
    r = c.get("/v1/endpoints/scroe")
    assert r.status_code == 404 and "did you mean 'score'" in r.json()["error"]["hint"]
    assert c.get("/v1/endpoints/score/deployments/9").status_code == 404
    assert c.post("/v1/endpoints/score/deployments/9/jobs", json={"inputs": {}}).status_code == 404
    assert c.post("/v1/endpoints/nope/jobs", json={"inputs": {}}).status_code == 404
    assert c.get("/v1/jobs/999999").status_code == 404
    # Numbers past what SQLite holds are refused, not a server error.
    assert c.get("/v1/jobs/99999999999999999999999").status_code == 422
    assert c.patch("/v1/endpoints/score", json={"default_deployment": 10**30}).status_code == 422
    for data in ({"job_output": "99999999999999999999999/pred"}, {"artifact": "sample:99999999999999999999"}):
        r = _invoke(c, inputs={"data": data})
        assert r.status_code == 422, r.text
    assert c.get("/v1/jobs/1/outputs/nope").status_code in (404,)
    # FastAPI's own refusals answer in the same error shape as every other error.
    for r, status in (
        (c.get("/v1/nope"), 404),
        (c.delete("/v1/endpoints/score"), 405),
        (c.patch("/v1/endpoints/score", json={}), 422),
        (c.post("/v1/endpoints/score/jobs", json={"inputs": {}, "tags": {"a": 1}}), 422),
        (c.get("/v1/jobs/abc"), 422),
    ):
        assert r.status_code == status and set(r.json()) == {"error"} and r.json()["error"]["message"], r.text
    assert c.patch("/v1/endpoints/score", json={}).json()["error"]["field"] == "default_deployment"
    assert c.post("/v1/endpoints/score/jobs", json={"tags": {"a": 1}}).json()["error"]["field"] == "tags.a"


def test_deployments_default_and_disable(site):
    repo, server, toks = site
    c = server.client(toks["admin"])
    repo.write(
        "Pipefile.slow", (repo.root / "Pipefile.slow").read_text().replace("seconds: 1", "seconds: 0"), dedent=False
    )
    r = repo.pipe("publish", "-f", "Pipefile.slow", "--description", "faster", "--json", check=True).json
    assert r["number"] == 2 and r["new"] is True and r["default_deployment"] == 1  # the default did not move
    again = repo.pipe("publish", "-f", "Pipefile.slow", "--json", check=True).json
    assert again["number"] == 2 and again["new"] is False
    ep = c.get("/v1/endpoints/slow").json()
    assert ep["default_deployment"] == 1 and [d["number"] for d in ep["deployments"]] == [1, 2]
    assert c.patch("/v1/endpoints/slow", json={"default_deployment": 2}).json()["default_deployment"] == 2
    assert c.patch("/v1/endpoints/slow", json={"default_deployment": 7}).status_code == 404
    repo.pipe("endpoints", "disable", "slow", "2", check=True)
    assert c.get("/v1/endpoints/slow").json()["default_deployment"] == 1
    r = c.post("/v1/endpoints/slow/deployments/2/jobs", json={"inputs": {}})
    assert r.status_code == 409 and "disabled" in r.json()["error"]["message"]
    assert c.patch("/v1/endpoints/slow", json={"default_deployment": 2}).status_code == 409
    shown = repo.pipe("endpoints", "show", "slow", check=True).out
    assert "(disabled)" in shown and "seconds" in shown
    assert "slow" in repo.pipe("endpoints", check=True).out
    assert repo.pipe("endpoints", "set-default", "slow", "5").code == 2


# --- DNS rebinding: Host allowlist and foreign Origin -----------------------------------------
def test_foreign_host_and_origin_are_refused(site):
    _, server, toks = site
    c = server.client(toks["admin"])
    assert c.get("/v1/endpoints", headers={"Host": "evil.example"}).status_code == 403
    assert c.get("/v1/health", headers={"Host": "attacker.test:80"}).status_code == 403
    assert c.get("/v1/endpoints", headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.get("/v1/endpoints", headers={"Origin": "null"}).status_code == 403
    assert c.get("/v1/endpoints", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    assert c.get("/v1/endpoints", headers={"Origin": f"http://127.0.0.1:{server.port}"}).status_code == 200
    # Same host, another port: another local service's page (another origin).
    assert c.get("/v1/endpoints", headers={"Origin": f"http://127.0.0.1:{server.port + 1}"}).status_code == 403
    assert c.get("/v1/endpoints", headers={"Origin": f"http://localhost.evil.example:{server.port}"}).status_code == 403
    assert c.get("/v1/endpoints", headers={"Origin": "file://"}).status_code == 403


# --- uploads: caps, archive members (CVE-2025-62156 zip slip; CVE-2023-1177 traversal) --------
def _tar(*members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            tf.addfile(*m)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x", size: int | None = None):
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    return info, io.BytesIO(data)


def _link(name: str, target: str, hard: bool = False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return (info,)


def test_uploads_are_capped_and_archives_checked(site, tmp_path):
    repo, server, toks = site
    c = server.client(toks["slow"])
    assert upload(c, b"x" * (64 * 1024 + 1)).status_code == 413
    # Chunked, without Content-Length: counted as it streams.
    big = c.post("/v1/uploads", content=iter([b"x" * 40000, b"y" * 40000]))
    assert big.status_code == 413

    def refused(data, ct="application/x-tar", status=400, word=""):
        r = upload(c, data, ct)
        assert r.status_code == status, r.text
        assert word in r.json()["error"]["message"]

    refused(_tar(_file("../evil.txt")), word="outside")
    refused(_tar(_file("a/../../evil.txt")), word="outside")
    refused(_tar(_file("/etc/evil")), word="absolute")
    refused(_tar(_link("ln", "/etc/passwd")), word="link")
    refused(_tar(_file("ok.txt"), _link("hard", "ok.txt", hard=True)), word="link")
    refused(_tar(_file("a.txt"), _file("a.txt")), word="twice")
    # A bomb: members whose declared sizes add up past the unpacked cap (checked before unpacking).
    bomb = _tar(*[_file(f"f{i}", b"\0" * 40000) for i in range(4)])
    assert len(bomb) < 200_000
    c_admin = server.client(toks["admin"])
    r = c_admin.post("/v1/uploads", content=bomb, headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 413  # over --max-upload already (64KiB)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"z{i}", b"\0" * 60000)  # 180 KB unpacked from a few hundred bytes
    refused(zbuf.getvalue(), "application/zip", 413, "unpacks to more")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    refused(zbuf.getvalue(), "application/zip", word="outside")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    refused(zbuf.getvalue(), "application/zip", word="link")
    refused(b"not a tar at all", word="tar")
    # A file where another member needs a folder, in either order (was a server error).
    refused(_tar(_file("a"), _file("a/b")), word="which the archive has as a file")
    refused(_tar(_file("a/b"), _file("a")), word="twice")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("a", "x")
        zf.writestr("a/b", "y")
    refused(zbuf.getvalue(), "application/zip", word="which the archive has as a file")
    # Cut off inside a member's compressed data: refused, not a server error.
    gz = io.BytesIO()
    with tarfile.open(fileobj=gz, mode="w:gz") as tf:
        tf.addfile(*_file("big", os.urandom(30000)))
    refused(gz.getvalue()[:-100], "application/gzip", word="cannot be read")
    # Cut short where a member's header would start (or garbage there): refused, never taken
    # for a smaller folder.
    whole = _tar(_file("a.txt", b"a" * 100), _file("b.txt", b"b" * 100))
    assert upload(c, whole, "application/x-tar").status_code == 201
    for cut in (whole[:1024], whole[:2048], whole[: 1024 + 200], whole[:1024] + b"junk" * 256):
        refused(cut, word="cut short")
    refused(whole[: 1024 + 512 + 50], word="cannot be read")  # inside b's data
    # Nothing escaped, and nothing was stored under a client's name.
    assert not (repo.root / ".pipe" / "evil.txt").exists() and not (repo.root / "evil.txt").exists()
    assert not list(repo.root.parent.rglob("evil.txt"))
    r = c.post("/v1/uploads", params={"kind": "rar"}, content=b"x")
    assert r.status_code == 400
    # A pax header read whole by tarfile (a few KB of gzip holding 8 MiB of one record) and a
    # zip whose end record announces a million members: refused before they are read.
    gz = io.BytesIO()
    with tarfile.open(fileobj=gz, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        info, data = _file("a.txt")
        info.pax_headers = {"comment": "a" * (8 << 20)}
        tf.addfile(info, data)
    assert len(gz.getvalue()) < 64 * 1024
    refused(gz.getvalue(), "application/gzip", 413, "extended header")
    from test_endpoints_store import _zip_of_empty_members

    refused(_zip_of_empty_members(3, announce=10**6, zip64=True), "application/zip", 413, "members")


def test_request_body_is_capped(site):
    _, server, toks = site
    c = server.client(toks["score"])
    r = _invoke(c, inputs={"label": "x" * 20000})
    assert r.status_code == 413
    # Chunked (no Content-Length): counted as it arrives, and the same 413, not a parse error.
    body = json.dumps({"inputs": {"label": "x" * 20000}}).encode()
    for route in ("/v1/endpoints/score/jobs", "/v1/endpoints/score/plan", "/v1/endpoints/score"):
        r = c.post(route, content=iter([body[:9000], body[9000:]]), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, (route, r.text)
        assert "over the limit" in r.json()["error"]["message"] and r.json()["error"]["hint"]
    small = json.dumps({"inputs": {"threshold": 0.5}}).encode()
    r = c.post(
        "/v1/endpoints/score/jobs", content=iter([small[:5], small[5:]]), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "inputs.data", r.text  # read and checked


# --- cancel, queue, restart ------------------------------------------------------------------
def test_cancel_kills_the_process_group(site, tmp_path):
    _, server, toks = site
    c = server.client(toks["slow"])
    marker = tmp_path / "bg.pid"
    r = _invoke(c, "slow", inputs={"seconds": 300, "marker": str(marker)})
    assert r.status_code == 202, r.text
    job = r.json()
    bg = int(wait_file(marker))
    assert alive(bg)
    r = c.post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 202, r.text
    done = wait_job(c, job["id"], timeout=30)
    assert done["state"] == "canceled" and "canceled" in done["error"]
    deadline = time.monotonic() + 10
    while alive(bg) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(bg), "the step's background process outlived the cancel"
    assert c.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409


def test_twenty_clients_at_once(site):
    repo, server, toks = site
    c = server.client(toks["admin"])
    d = upload(c, b"0.25\n0.5\n0.75\n").json()["digest"]
    thresholds = [0.0, 0.3, 0.6, 0.9] * 5

    def one(i):
        with server.client(toks["admin"]) as cl:
            r = _invoke(cl, inputs={"data": {"upload": d}, "threshold": thresholds[i], "label": f"c{i}"})
            assert r.status_code in (200, 202), r.text
            return thresholds[i], r.json()["id"]

    with cf.ThreadPoolExecutor(20) as ex:
        jobs = list(ex.map(one, range(20)))
    assert len({jid for _, jid in jobs}) == 20  # twenty different requests: twenty jobs
    for thr, jid in jobs:
        job = wait_job(c, jid, timeout=120)
        assert job["state"] == "completed", (job.get("error"), job)
        want = "".join(f"{v},{int(v > thr)}\n" for v in (0.25, 0.5, 0.75))
        assert c.get(f"/v1/jobs/{jid}/outputs/pred").text == want
    v = repo.pipe("verify", "--json")
    assert v.code == 0, str(v)


def test_schemathesis_against_the_openapi_spec(site):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings

    _, server, toks = site
    schema = schemathesis.openapi.from_url(f"{server.url}/v1/openapi.json")
    spec = server.client(toks["admin"]).get("/v1/openapi.json").json()
    assert spec["info"]["title"] == "pipe endpoints" and "/v1/endpoints/{endpoint}/jobs" in spec["paths"]

    failures, calls, tested = [], [], []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.method.upper() == "POST" and op.path.endswith("/cancel"):
            continue  # canceling random jobs would stop the other tests' jobs
        tested.append(op.label)

        @settings(
            max_examples=int(os.environ.get("PIPE_SCHEMATHESIS_EXAMPLES", "3")),
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=op.as_strategy())
        def check(case):
            resp = case.call(headers={"Authorization": f"Bearer {toks['admin']}"}, timeout=30)
            calls.append(case.operation.label)
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {resp.status_code} {resp.text[:300]}")

        check()
    assert len(tested) >= 15 and set(calls) == set(tested)  # every operation was called
    assert not failures, "\n".join(failures)


def test_invoke_cli_uploads_a_folder_once(site, tmp_path):
    repo, server, toks = site
    from pipefile.digest import Hasher, StatCache

    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("from the cli\n")
    (d / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (d / "sub" / "run.sh").chmod(0o755)
    (d / ".DS_Store").write_text("junk")  # never hashed, never sent
    (d / "link.txt").symlink_to(d / "a.txt")
    r = repo.pipe(
        "invoke",
        "count",
        "-i",
        f"images={d}",
        "--url",
        server.url,
        "--out",
        str(tmp_path / "o"),
        "--json",
        env={"PIPE_TOKEN": toks["slow"]},
    )
    assert r.code == 0, str(r)
    assert (tmp_path / "o" / "listing.txt").read_text() == "./a.txt\n./link.txt\n./sub/run.sh\nfrom the cli\n"
    # The digest the client computes is the server's: a second invocation skips the upload.
    digest = Hasher(str(tmp_path), StatCache()).tree("imgs").digest
    c = server.client(toks["slow"])
    assert c.head(f"/v1/uploads/{digest}").status_code == 200
    assert r.json["inputs"]["images"] == {"upload": digest}


def test_tokens_are_never_echoed_or_logged(site):
    """Last in the module: after every other test has run against the server."""
    repo, server, toks = site
    c = server.client(toks["admin"])
    wait_job(c, _score_job(c, threshold=0.14, label="tokens").json()["id"])
    jobs = c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]
    answers = json.dumps(jobs) + json.dumps(c.get(f"/v1/jobs/{jobs[0]['id']}").json())
    listed = repo.pipe("token", "list", "--json", check=True).out + repo.pipe("jobs", "--json", check=True).out
    for t in toks.values():
        secret = t.split("_", 2)[2]
        assert secret not in server.output() and secret not in answers and secret not in listed
    assert {j["token"] for j in jobs} <= {t.split("_")[1] for t in toks.values()}  # ids only


def test_serving_makes_the_state_folder_private(repo):
    """On a shared host, what the server holds (every token's uploads, params, logs and
    outputs; the job database) is readable by its owner only, even under umask 022."""
    import stat

    from serve_site import SCORE, SCORE_PY

    require_serve_deps()
    old = os.umask(0o022)
    try:
        repo.write("Pipefile", SCORE, dedent=False)
        repo.write("src/score.py", SCORE_PY, dedent=False)
        repo.pipe("publish", check=True)
        tok = token(repo, "--scope", "admin")
        state = repo.root / ".pipe"
        assert (state / "jobs.db").stat().st_mode & 0o077  # as the umask made it
        server = Server(repo.root)
    finally:
        os.umask(old)
    try:
        c = server.client(tok)
        job = wait_job(c, _score_job(c, threshold=0.5).json()["id"])
        assert job["state"] == "completed", (job.get("error"), job)
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        exposed = []
        for dirpath, dirnames, filenames in os.walk(state):
            if Path(dirpath) == state / "store":
                dirnames[:] = []  # behind the 0700 .pipe/; objects are read-only by design
                continue
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if not p.is_symlink() and p.stat().st_mode & 0o077:
                    exposed.append(f"{p.relative_to(state)} {oct(stat.S_IMODE(p.stat().st_mode))}")
        assert not exposed, exposed
        assert (state / "jobs" / str(job["id"]) / "score.log").exists()  # written since, and covered above
    finally:
        server.stop()


ECHO = """\
name: echo
params:
  msg: {type: string, default: hi}
assets:
  data: {type: uri_file, path: data/in.txt, input: true, name: indata}
steps:
  copy:
    command: cp ${{inputs.d}} ${{outputs.o}} && echo ${{params.msg}} >> ${{outputs.o}}
    inputs: {d: "${{assets.data}}"}
    outputs:
      o: {path: build/out.txt, output: true, name: result}
"""


def test_a_token_names_and_learns_of_only_the_artifact_versions_it_may_see(tmp_path):
    """Served jobs version their named inputs and outputs; another invoke token can neither
    read those versions through an `artifact` input, nor learn their names or numbers from
    an error, nor learn from its own version numbers that someone sent the same content.
    The owner's versions are everyone's; an admin token sees all."""
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", ECHO, dedent=False)
    repo.pipe("publish", check=True)
    toks = {
        k: token(repo, *args)
        for k, args in {
            "a": ("--scope", "invoke:echo"),
            "b": ("--scope", "invoke:echo"),
            "admin": ("--scope", "admin"),
        }.items()
    }
    server = Server(root, "--workers", "1")
    try:
        a, b, admin = (server.client(toks[k]) for k in ("a", "b", "admin"))

        def run(c, inputs):
            r = _invoke(c, "echo", inputs=inputs)
            assert r.status_code in (200, 202), r.text
            job = wait_job(c, r.json()["id"])
            assert job["state"] == "completed", (job.get("error"), job)
            return job

        secret = b"alice secret data\n"
        run(a, {"data": {"upload": upload(a, secret).json()["digest"]}, "msg": "alice"})
        for ref in ("indata:1", "indata:latest", "indata", "result:1", "result", "indta:1", "indata:99"):
            r = _invoke(b, "echo", inputs={"data": {"artifact": ref}, "msg": "bob"})
            assert r.status_code == 422, (ref, r.text)
            err = r.json()["error"]
            said = (err["message"] + (err.get("hint") or "")).replace(f"'{ref.split(':')[0]}'", "")
            assert not any(w in said for w in ("result", "indata", "versions", "1 to")), (ref, err)
        # a's own versions and an admin's view.
        job = run(a, {"data": {"artifact": "result:1"}, "msg": "again"})
        assert a.get(f"/v1/jobs/{job['id']}/outputs/o").content == secret + b"alice\nagain\n"
        job = run(admin, {"data": {"artifact": "indata:1"}, "msg": "admin"})
        assert admin.get(f"/v1/jobs/{job['id']}/outputs/o").content == secret + b"admin\n"

        # b sends the same content: its job versions it anew, never as a's version 1.
        run(b, {"data": {"upload": upload(b, secret).json()["digest"]}, "msg": "bob"})
        r = _invoke(b, "echo", inputs={"data": {"artifact": "indata:99"}})
        mine = r.json()["error"]["hint"]
        assert r.status_code == 422 and mine.endswith("may use: 3"), mine  # its own (a made 1 and 2)
        job = run(b, {"data": {"artifact": "indata:latest"}, "msg": "b2"})
        assert b.get(f"/v1/jobs/{job['id']}/outputs/o").content == secret + b"b2\n"
        listed = repo.pipe("artifacts", "show", "indata", "--json", check=True).json
        versions = listed["versions"] if isinstance(listed, dict) else listed
        first = versions[0]["digest"]
        assert [v["version"] for v in versions if v["digest"] == first] == [1, 3], listed  # a's and b's

        # The owner's own versions are everyone's.
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / "in.txt").write_bytes(b"owner data\n")
        repo.pipe("run", check=True)
        owner = repo.pipe("artifacts", "show", "indata", "--json", check=True).json
        top = max(v["version"] for v in (owner["versions"] if isinstance(owner, dict) else owner))
        job = run(b, {"data": {"artifact": f"indata:{top}"}, "msg": "b3"})
        assert b.get(f"/v1/jobs/{job['id']}/outputs/o").content == b"owner data\nb3\n"
    finally:
        server.stop()
