"""What a request to `pipe serve` does, without HTTP: the server's logic (serve/access.py,
submission.py, jobs_view.py, endpoints_view.py) driven directly, in a process where
FastAPI, Starlette and uvicorn cannot be imported, over a real published endpoint."""

from __future__ import annotations

import json
import subprocess
import sys

from workspace_repo import Repo

SLOW = """\
name: slow
params:
  seconds: 1
steps:
  wait:
    command: sleep ${{params.seconds}}; echo done > ${{outputs.out}}
    outputs:
      out: {path: build/out.txt, output: true}
"""

# Runs in its own interpreter: the HTTP framework is made unimportable before pipefile loads.
SCRIPT = r"""
import json, sys
for name in ("fastapi", "starlette", "uvicorn", "httpx"):
    sys.modules[name] = None  # `import fastapi` now raises ImportError

from pipefile.serve import access, endpoints_view, jobs_view, submission
from pipefile.serve.home import Home
from pipefile.serve.refusals import Conflict, Forbidden, Invalid, NotFound, Unauthenticated

root, mine, other, reader = sys.argv[1:5]
home = Home(root)
out = {}


def refused(call):
    try:
        call()
    except (Conflict, Forbidden, Invalid, NotFound, Unauthenticated) as e:
        return [type(e).__name__, e.message, e.hint, e.field]
    return None


tok, tok2, rd = (access.authenticate(home, t) for t in (mine, other, reader))
out["unknown token"] = refused(lambda: access.authenticate(home, "pipe_0000_nope"))
out["no token"] = refused(lambda: access.authenticate(home, None))
req = submission.Invocation({"seconds": 0}, {"who": "t"}, False)
first = submission.submit(home, tok, "slow", None, req, "k1", max_queue=10)
out["first"] = [first.under_way, first.job["state"], first.job["reused"], first.job["tags"]]
out["id"] = first.job_id
again = submission.submit(home, tok, "slow", None, req, "k1", max_queue=10)
out["same key"] = [again.under_way, again.job_id == first.job_id, again.job["reused"]]
other_req = submission.Invocation({"seconds": 2}, {}, False)
out["key reused"] = refused(lambda: submission.submit(home, tok, "slow", None, other_req, "k1", max_queue=10))
merged = submission.submit(home, tok, "slow", None, req, None, max_queue=10)
out["merged"] = [merged.under_way, merged.job_id == first.job_id, merged.job["reused"]]
out["bad input"] = refused(lambda: submission.submit(home, tok, "slow", None,
                                                     submission.Invocation({"nope": 1}, {}, False), None, 10))
out["no deployment 9"] = refused(lambda: submission.submit(home, tok, "slow", 9, req, None, max_queue=10))
out["reader invokes"] = refused(lambda: submission.submit(home, rd, "slow", None, req, None, max_queue=10))
out["other sees"] = refused(lambda: access.visible_job(home, first.job_id, tok2))
out["other lists"] = len(jobs_view.list_jobs(home, tok2, None, 100)["jobs"])
out["reader lists"] = [j["id"] == first.job_id for j in jobs_view.list_jobs(home, rd, None, 100)["jobs"]]
out["reader cancels"] = refused(lambda: jobs_view.cancel(home, None, rd, first.job_id))
out["cancel"] = jobs_view.cancel(home, None, tok, first.job_id)["state"]
out["cancel again"] = refused(lambda: jobs_view.cancel(home, None, tok, first.job_id))
out["endpoint"] = endpoints_view.show_endpoint(home, tok, "slow")["default_deployment"]
out["no endpoint"] = refused(lambda: endpoints_view.show_endpoint(home, rd, "slwo"))
out["http framework loaded"] = [m for m in ("fastapi", "starlette") if sys.modules.get(m) is not None]
print(json.dumps(out))
"""


def _token(repo: Repo, *scopes: str) -> str:
    args = [a for s in scopes for a in ("--scope", s)]
    return repo.pipe("token", "create", "--json", *args, check=True).json["token"]


def test_the_request_logic_runs_without_the_http_framework(repo):
    repo.write("Pipefile", SLOW, dedent=False)
    repo.pipe("publish", check=True)
    toks = [_token(repo, "invoke:slow"), _token(repo, "invoke:slow"), _token(repo, "read")]
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(repo.root), *toks], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["unknown token"][:2] == ["Unauthenticated", "the token is unknown, revoked or expired"]
    assert out["no token"][:2] == ["Unauthenticated", "a token is required"]
    assert out["first"] == [True, "queued", False, {"who": "t"}]
    assert out["same key"] == [False, True, False]  # the job the key was answered with
    assert out["key reused"][0] == "Conflict" and "Idempotency-Key 'k1'" in out["key reused"][1]
    assert out["merged"] == [True, True, True]  # identical work under way: that job
    assert out["bad input"][0] == "Invalid"
    assert out["no deployment 9"][0] == "NotFound" and "no deployment 9" in out["no deployment 9"][1]
    assert out["reader invokes"][:2] == ["Forbidden", "this token may not invoke endpoint 'slow'"]
    assert out["other sees"][:2] == ["NotFound", f"no job {out['id']}"]  # not even that it exists
    assert out["other lists"] == 0 and out["reader lists"] == [True]
    assert out["reader cancels"][0] == "Forbidden"
    assert out["cancel"] == "canceled"
    assert out["cancel again"][0] == "Conflict" and "already ended (canceled)" in out["cancel again"][1]
    assert out["endpoint"] == 1
    assert out["no endpoint"][0] == "NotFound" and "slow" in (out["no endpoint"][2] or "")
    assert out["http framework loaded"] == []
