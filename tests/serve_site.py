"""A real `pipe serve` on a loopback port, started as a subprocess, and the pipelines
the endpoint tests publish."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from workspace_repo import PIPE, Repo, with_file_limit

SERVE_DEPS = ("fastapi", "uvicorn", "httpx")


def require_serve_deps():
    """Skip without the `serve` extra, unless CI demands everything (then fail)."""
    import importlib.util

    missing = [m for m in SERVE_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("PIPE_CI_REQUIRE_SERVICES") == "1":
            pytest.fail(
                f"PIPE_CI_REQUIRE_SERVICES=1 but {', '.join(missing)} is not installed (pip install -e .[serve])"
            )
        pytest.skip(f"the serve extra is not installed ({', '.join(missing)})")


SCORE = """\
name: score
params:
  threshold: 0.5
  label: {type: string, default: none}
assets:
  data: {type: uri_file, path: data/in.csv, input: true}
steps:
  score:
    command: python src/score.py ${{inputs.data}} ${{params.threshold}} ${{outputs.pred}}
    inputs: {data: "${{assets.data}}"}
    outputs:
      pred: {path: build/pred.csv, output: true}
    code: [src/score.py]
  summary:
    command: >-
      mkdir -p ${{outputs.report}} && wc -l < ${{inputs.p}} > ${{outputs.report}}/count.txt &&
      echo ${{params.label}} > ${{outputs.report}}/label.txt && env > ${{outputs.report}}/env.txt
    inputs: {p: "${{steps.score.outputs.pred}}"}
    outputs:
      report: {path: build/report/, output: true}
"""

SCORE_PY = """\
import sys
src, thr, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [l.strip() for l in open(src) if l.strip()]
with open(out, "w") as f:
    for r in rows:
        f.write(f"{r},{int(float(r) > thr)}\\n")
print("scored", len(rows))
"""

SLOW = """\
name: slow
params:
  seconds: 1
  marker: {type: string, default: /dev/null}
  spam: 0
steps:
  wait:
    command: >-
      head -c ${{params.spam}} /dev/zero | tr '\\0' x;
      sleep ${{params.seconds}} & echo $! > ${{params.marker}}; wait; echo done > ${{outputs.out}}
    outputs:
      out: {path: build/out.txt, output: true}
"""

COUNT = """\
name: count
assets:
  images: {type: uri_folder, path: data/images, input: true}
steps:
  count:
    command: cd ${{inputs.d}} && find . -type f | sort > ../../${{outputs.listing}} && cat a.txt >> ../../${{outputs.listing}}
    inputs: {d: "${{assets.images}}"}
    outputs:
      listing: {path: build/listing.txt, output: true}
"""


def make_endpoints(repo: Repo) -> None:
    """Three pipelines in one workspace, published as endpoints score, slow and count."""
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.write("Pipefile.slow", SLOW, dedent=False)
    repo.write("Pipefile.count", COUNT, dedent=False)
    repo.pipe("publish", check=True)
    repo.pipe("publish", "-f", "Pipefile.slow", check=True)
    repo.pipe("publish", "-f", "Pipefile.count", check=True)


def token(repo: Repo, *args: str) -> str:
    r = repo.pipe("token", "create", "--json", *args, check=True)
    return r.json["token"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`pipe serve` in `root`, as a subprocess; `url` once it answers /v1/health."""

    def __init__(self, root: Path, *args: str, env: dict | None = None, files: int | tuple | None = None):
        """`files`: the server's open-file limit (workspace_repo.with_file_limit)."""
        self.root = root
        self.args = args
        self.env = env
        self.files = files
        self.log_path = root.parent / f"serve-{time.monotonic_ns()}.log"
        self.clients: list = []
        self.start()

    def start(self) -> None:
        import httpx

        e = dict(os.environ)
        e.pop("PIPE_STORE_DIR", None)
        e.update(self.env or {})
        for _attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                with_file_limit(self.files) + PIPE + ["serve", "--port", str(self.port), *self.args],
                cwd=self.root,
                env=e,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            self.stop(signal.SIGKILL)
        raise AssertionError(f"pipe serve did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, tok: str | None = None, **headers):
        import httpx

        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        c = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(c)  # closed by stop(), never left to the garbage collector
        return c

    def stop(self, sig=signal.SIGTERM) -> int:
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


def wait_job(client, job_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/jobs/{job_id}", params={"wait": 10})
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("completed", "failed", "canceled", "interrupted"):
            return job
        assert time.monotonic() < deadline, job


def wait_state(client, job_id: int, states, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def upload(client, data: bytes, content_type: str = "application/octet-stream"):
    return client.post("/v1/uploads", content=data, headers={"Content-Type": content_type})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def wait_file(p: Path, timeout=20) -> str:
    deadline = time.monotonic() + timeout
    while not (p.exists() and p.read_text().strip()):
        assert time.monotonic() < deadline, f"{p} never appeared"
        time.sleep(0.05)
    return p.read_text().strip()
