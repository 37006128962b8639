"""`pipe ui`'s server at scale (issue 16, "Scale"): a chain of N steps opened and edited.

    python -m benchmarks.ui_server                       # N = 1,000 and 10,000
    python -m benchmarks.ui_server --steps 10000 --reps 3
    python -m benchmarks.ui_server --pipe-root /tmp/old  # another checkout (before/after)

For each N a chain Pipefile is generated (benchmarks/generate.py), `pipe ui --no-browser` is
started on it and driven over HTTP as the page does:

    pipeline, first      GET /api/pipeline on a fresh server (the Pipefile loaded and planned)
    (the editor's read)  the CPU the server then spends on a thread of its own, reading the
                         text for the first edit (its wall figure is not a latency: 0)
    pipeline, again      the same, the file unchanged (the graph kept)
    neighbourhood        GET /api/pipeline?focus=STEP&depth=2 (a middle step; skipped where the
                         server does not know the parameter)
    preview              POST /api/preview: one param set (the diff and `pipe validate`'s errors)
    preview, next edit   the same again, another value (what a second edit of a session costs)
    preview, draft grown that edit and one more (a draft grows an operation at a time)
    preview again        the same draft again: the diff shown before a save of what the page
                         has just checked
    save                 POST /api/save of that edit (written)
    pipeline, after save GET /api/pipeline of the saved file (loaded anew)

and, as whole processes, `pipe validate` on the same file (no `.pipe/cache`: the YAML parsed,
checked and built into a graph); last, the first GET /api/pipeline of a fresh server where
`pipe run` left its spec cache (`.pipe/cache/specs`, written here as a run writes it). Each
figure is the wall time and the server's own CPU time (user + system, from /proc): on a
loaded machine the wall time swings with the load, the CPU time much less. The median of
--reps fresh servers is printed, as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

if __package__ in (None, ""):  # run as `python benchmarks/ui_server.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import generate  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URL_LINE = re.compile(r"^pipe ui: (http://127\.0\.0\.1:\d+)/\?token=(\S+)$")
TICK = os.sysconf("SC_CLK_TCK")


def _env(pipe_root: str) -> dict:
    env = dict(os.environ, PIPE_PLAIN="1", PYTHONPATH=pipe_root)
    env.pop("PIPE_UI_TOKEN", None)
    return env


def _cpu(pid: int) -> float:
    """The process's user + system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, root: str, pipe_root: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipefile", "ui", "--no-browser", "--port", "0"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(pipe_root),
        )
        m = URL_LINE.match(self.proc.stdout.readline().strip())
        if not m:
            self.close()
            raise SystemExit("pipe ui printed no URL line")
        self.base, self.token = m.group(1), m.group(2)

    def settle(self, quiet: float = 0.5, limit: float = 60.0) -> float:
        """Wait until the server uses no CPU for `quiet` seconds (what it does on a thread of
        its own after an answer, such as reading the Pipefile for the editor, is not counted
        in the next request); the CPU seconds it used meanwhile."""
        start = last = _cpu(self.proc.pid)
        still, t0 = time.perf_counter(), time.perf_counter()
        while time.perf_counter() - t0 < limit:
            time.sleep(0.1)
            now = _cpu(self.proc.pid)
            if now != last:
                last, still = now, time.perf_counter()
            elif time.perf_counter() - still >= quiet:
                break
        return last - start

    def call(self, method: str, path: str, body=None) -> tuple:
        """(status, answer, wall seconds, server CPU seconds), once the server is idle."""
        self.settle()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        cpu, t = _cpu(self.proc.pid), time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        wall = time.perf_counter() - t
        return status, json.loads(raw), wall, _cpu(self.proc.pid) - cpu

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def one_session(root: str, n: int, pipe_root: str, rep: int) -> dict:
    """One fresh server's figures: name -> (wall, cpu)."""
    out: dict = {}
    srv = Server(root, pipe_root)
    try:
        status, doc, wall, cpu = srv.call("GET", "/api/pipeline")
        assert status == 200 and doc["ok"] and len(doc["graph"]["nodes"]) == n, (status, doc.get("errors"))
        out["pipeline, first"] = (wall, cpu)
        t = time.perf_counter()
        out["(the editor's read, on its thread)"] = (time.perf_counter() - t, srv.settle())
        base = doc["digest"]
        status, doc, wall, cpu = srv.call("GET", "/api/pipeline")
        out["pipeline, again"] = (wall, cpu)
        status, focus, wall, cpu = srv.call("GET", f"/api/pipeline?focus=s{n // 2}&depth=2")
        if status == 200 and focus.get("graph") and len(focus["graph"]["nodes"]) < n:
            out["neighbourhood"] = (wall, cpu)
        for label, value in (("preview", 0.25 + rep), ("preview, next edit", 0.5 + rep)):
            edit = {"base": base, "operations": [{"op": "set_param", "name": "lr", "value": value}]}
            status, answer, wall, cpu = srv.call("POST", "/api/preview", edit)
            assert status == 200 and answer["changed"] and not answer["errors"], answer
            out[label] = (wall, cpu)
        # the page's flow: the draft grows by an operation (each preview sends all of it), and
        # save first shows the diff of the draft the page has just checked
        grown = {"base": base, "operations": edit["operations"] + [{"op": "set_param", "name": "lr2", "value": 1}]}
        for label, body in (("preview, draft grown", grown), ("preview again (diff before save)", grown)):
            status, answer, wall, cpu = srv.call("POST", "/api/preview", body)
            assert status == 200 and answer["changed"] and not answer["errors"], answer
            out[label] = (wall, cpu)
        status, answer, wall, cpu = srv.call("POST", "/api/save", grown)
        assert status == 200 and answer["changed"], answer
        out["save"] = (wall, cpu)
        status, doc, wall, cpu = srv.call("GET", "/api/pipeline")
        assert status == 200 and doc["digest"] == answer["digest"]
        out["pipeline, after save"] = (wall, cpu)
    finally:
        srv.close()
    return out


def validate(root: str, pipe_root: str) -> tuple:
    """`pipe validate` as a whole process: (wall, CPU of the process)."""
    before = os.times()
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipefile", "validate"],
        cwd=root,
        env=_env(pipe_root),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def after_a_run(root: str, n: int, pipe_root: str) -> tuple:
    """The first GET /api/pipeline of a workspace where `pipe run` wrote its spec cache (as a
    run does, without running the steps); the entry is removed after."""
    os.makedirs(os.path.join(root, ".pipe"), exist_ok=True)
    code = "from pipefile import speccache; speccache.load_graph('Pipefile', keep=True)"
    subprocess.run([sys.executable, "-c", code], cwd=root, env=_env(pipe_root), check=True)
    srv = Server(root, pipe_root)
    try:
        status, doc, wall, cpu = srv.call("GET", "/api/pipeline")
        assert status == 200 and doc["ok"] and len(doc["graph"]["nodes"]) == n
    finally:
        srv.close()
        shutil.rmtree(os.path.join(root, ".pipe"), ignore_errors=True)
    return wall, cpu


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="1000,10000", help="chain sizes, comma-separated")
    ap.add_argument("--reps", type=int, default=3, help="fresh servers per size; the median is shown")
    ap.add_argument("--pipe-root", default=REPO_ROOT, help="the checkout whose pipe is measured")
    ap.add_argument("--workdir", default=None, help="where the workspaces go (default: a temp folder)")
    args = ap.parse_args(argv)
    rows: dict = {}
    with tempfile.TemporaryDirectory(prefix="pipe-ui-bench-", dir=args.workdir) as tmp:
        for n in [int(s) for s in args.steps.split(",") if s]:
            root = os.path.join(tmp, f"chain{n}")
            generate.create_workspace(generate.parse_shape(f"chain:{n}"), root, ["pipe"])
            pristine = open(os.path.join(root, "Pipefile"), "rb").read()
            samples: dict = {}
            for rep in range(args.reps):
                with open(os.path.join(root, "Pipefile"), "wb") as f:  # each server opens the same file
                    f.write(pristine)
                for k, v in one_session(root, n, args.pipe_root, rep).items():
                    samples.setdefault(k, []).append(v)
                samples.setdefault("pipe validate (process)", []).append(validate(root, args.pipe_root))
                samples.setdefault("pipeline, first, after a run", []).append(after_a_run(root, n, args.pipe_root))
                print(f"chain:{n} rep {rep + 1}/{args.reps} done", file=sys.stderr)
            rows[n] = {
                k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()
            }
    sizes = list(rows)
    names = list(dict.fromkeys(k for n in sizes for k in rows[n]))
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; wall / server CPU seconds, median of {args.reps}\n")
    print("| request | " + " | ".join(f"{n:,} steps" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for k in names:
        cells = [f"{rows[n][k][0]:.2f} / {rows[n][k][1]:.2f}" if k in rows[n] else "-" for n in sizes]
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
