"""Real-time scoring in processes of their own: each model a real-time deployment pins is
loaded, and its rows scored, by a child process of the server, never by the server itself.

Why a process: a model's code (its unpickling, its `predict`) is the user's, and may hang
(an infinite loop, a sleep, a blocked read). A thread running it can never be stopped, and
would hold a thread of the server and a CPU for good; a process can be killed. A request
waits for its rows at most `score_timeout` seconds (`pipe serve --score-timeout`), for a
model's first load at most LOAD_FACTOR times that; past it the model's process is killed
(its whole process group), the request is answered 504 (`TimedOut`), and the next request
for that model starts a fresh process.

One process per model digest, started by the first request for it, loads the model once and
keeps it; the processes of the MAX_MODELS models used most recently are kept (an older one
ends). A process is a fresh interpreter: it imports the model's own modules (the class a
pickle names) as they are when it starts, so a new version of a model never runs the code
an older one imported. It scores one request at a time (the others for that model wait
their turn, within their own timeout). It ends when the server does, and by itself if the
server is gone (kill -9).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, Optional

from ..jobdb.online import OnlineDeployment
from . import refusals
from .home import Home
from .online import materialize
from .refusals import CannotServe, Refused, TimedOut

MAX_MODELS = 16  # model processes a server keeps at most
SCORE_TIMEOUT = 30.0  # seconds a request's rows may take (pipe serve --score-timeout)
LOAD_FACTOR = 10  # a model's first load (a new interpreter, its libraries, the unpickling) may take this many times it

# A model's process: the server's module path (the model's modules found as the server would
# find them), then child_main on the two pipe ends it is given.
_CHILD = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    "from pipefile.serve.scorer import child_main; child_main(int(sys.argv[2]), int(sys.argv[3]))"
)


def _where(dep: OnlineDeployment) -> str:
    return f"online deployment '{dep.name}' version {dep.version} ({dep.model_ref})"


def _seconds(s: float) -> str:
    return f"{s:g}s"


def _answered(conn, timeout: float) -> bool:
    """Whether `conn` has something to read within `timeout` seconds, waited for an hour at a
    time (a wait of --score-timeout 100d at once overflows poll's milliseconds)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if conn.poll(min(max(0.0, left), 3600.0)):
            return True
        if left <= 3600.0:
            return False


class _Process:
    """One model's process: the pipes to it, and the lock a request holds while using it."""

    def __init__(self, digest: str):
        self.digest = digest
        self.lock = threading.Lock()
        self.proc: Optional[subprocess.Popen] = None
        self.retired = False  # dropped from the pool: ended by the request using it, if any

    def start(self) -> None:
        from multiprocessing.connection import Connection

        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(sys.path), str(to_child), str(from_child)],
                stdin=subprocess.DEVNULL,
                pass_fds=(to_child, from_child),
                start_new_session=True,  # its own group: a model that started processes is stopped whole
            )
        finally:
            os.close(to_child)
            os.close(from_child)
        self.send_conn = Connection(from_parent, readable=False)
        self.recv_conn = Connection(to_parent, writable=False)

    def ask(self, message: tuple, timeout: float, where: str, late: str, hint: str) -> Any:
        """The child's answer to `message`; TimedOut (and the child killed) past `timeout`.
        `where` names the deployment, `late` and `hint` say what took too long."""
        proc = self.proc  # (close() may stop it under this request: the server stops)
        assert proc is not None
        try:
            self.send_conn.send(message)
            if not _answered(self.recv_conn, timeout):
                self.stop()
                raise TimedOut(late, hint)
            answer = self.recv_conn.recv()
            if not (isinstance(answer, tuple) and answer and answer[0] in ("ok", "refused")):
                raise EOFError  # (the model's code wrote on the process's pipe: it is no longer to be trusted)
        except (EOFError, OSError, pickle.UnpicklingError):
            try:
                code = proc.wait(2)
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            how = (
                f"was killed by signal {-code}"
                if code is not None and code < 0
                else f"exited with status {code}"
                if code is not None
                else "stopped answering"
            )
            raise CannotServe(
                f"the process scoring with {where} {how}",
                "the model's code ended its process (it ran out of memory, crashed or exited): "
                "score the same rows where it was trained to see why; the next request starts it again",
            ) from None
        if answer[0] == "ok":
            return answer[1]
        kind = getattr(refusals, answer[1], CannotServe)
        raise kind(answer[2], answer[3], answer[4])

    def stop(self) -> None:
        """Kill the process (and any it started) and close the pipes; safe to call again."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        self.send_conn.close()
        self.recv_conn.close()


class ScorerPool:
    """digest -> its model's process, started on first use, the `limit` used most recently kept."""

    def __init__(self, score_timeout: float = SCORE_TIMEOUT, limit: int = MAX_MODELS):
        self.score_timeout = score_timeout
        self.limit = max(1, limit)
        self._procs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def score(self, home: Home, dep: OnlineDeployment, rows: Any, arrived: Optional[float] = None) -> dict:
        """The rows scored by dep's model; `arrived`: when the request came (its wait counts)."""
        timeout = self.score_timeout
        waited_from = time.monotonic() if arrived is None else arrived
        p = self._process(dep.digest)
        if not p.lock.acquire(timeout=min(max(0.0, timeout - (time.monotonic() - waited_from)), threading.TIMEOUT_MAX)):
            raise TimedOut(
                f"{_where(dep)} was busy with other requests for longer than {_seconds(timeout)} (--score-timeout)",
                "send fewer requests at once, or try again shortly",
            )
        try:
            if p.retired or self._closed:
                raise CannotServe("the server is stopping", "try again once it is back")
            if p.proc is None:
                self._load(home, dep, p)
            else:  # the time it waited for its turn counts: an answer comes within the timeout
                timeout = max(0.0, timeout - (time.monotonic() - waited_from))
            return p.ask(
                ("score", rows, (dep.name, dep.version, dep.model_ref)),
                timeout,
                _where(dep),
                f"scoring the rows with {_where(dep)} took longer than {_seconds(self.score_timeout)} "
                "(--score-timeout): its process was stopped",
                "the model's code may hang on these rows (score them where it was trained to see); "
                "if it is only slow, send fewer rows or serve with a longer --score-timeout",
            )
        finally:
            if p.retired:
                p.stop()
            p.lock.release()

    def _load(self, home: Home, dep: OnlineDeployment, p: _Process) -> None:
        """Start p's process and load the model in it; on any failure the process is gone
        (the next request starts afresh: a library installed since, the store repaired)."""
        limit = self.score_timeout * LOAD_FACTOR
        scratch = materialize(home, dep)
        try:
            p.start()
            p.ask(
                ("load", scratch, (dep.name, dep.version, dep.model_ref)),
                limit,
                _where(dep),
                f"loading the model of {_where(dep)} "
                f"took longer than {_seconds(limit)} ({LOAD_FACTOR} times --score-timeout): its process was stopped",
                "the model's code may hang when it is unpickled (load it where it was trained to see); if it "
                "is only slow, serve with a longer --score-timeout",
            )
        except BaseException:
            p.stop()
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _process(self, digest: str) -> _Process:
        with self._lock:
            p = self._procs.get(digest)
            if p is None:
                p = self._procs[digest] = _Process(digest)
                while len(self._procs) > self.limit:
                    _, old = self._procs.popitem(last=False)
                    self._retire(old)
            else:
                self._procs.move_to_end(digest)
            return p

    @staticmethod
    def _retire(p: _Process) -> None:
        p.retired = True
        if p.lock.acquire(blocking=False):  # else the request using it stops it when done
            try:
                p.stop()
            finally:
                p.lock.release()

    def pids(self) -> dict:
        """digest -> the id of its model's process, for the ones running."""
        with self._lock:
            return {d: p.proc.pid for d, p in self._procs.items() if p.proc is not None}

    def close(self) -> None:
        """Stop every model's process (the server stops)."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.values())
            self._procs.clear()
        for p in procs:
            p.retired = True
            if p.proc is not None:  # (one scoring now: killed under it, its request answered 503)
                p.stop()


class _Dep:
    """What a scorer process knows of the deployment a request names (its answer names it)."""

    def __init__(self, name: str, version: int, model_ref: str):
        self.name, self.version, self.model_ref = name, version, model_ref


def child_main(rfd: int, wfd: int) -> None:
    """A model's process: load the model when asked, then score rows, one request at a time."""
    from multiprocessing.connection import Connection

    from . import online

    inbox, outbox = Connection(rfd, writable=False), Connection(wfd, readable=False)
    parent = os.getppid()

    def watch_parent() -> None:  # the server killed (-9): end rather than live on, maybe hung
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()
    loaded = None
    while True:
        try:
            kind, arg, dep_fields = inbox.recv()
        except (EOFError, OSError):
            return
        dep = _Dep(*dep_fields)
        try:
            if kind == "load":
                loaded = online.load_folder(arg, dep)
                answer: tuple = ("ok", None)
            else:
                answer = ("ok", online.check_and_predict(loaded, arg, dep))
        except Refused as e:
            answer = ("refused", type(e).__name__, e.message, e.hint, e.field)
        except Exception as e:  # noqa: BLE001 - the model's code: answered, never the end of the process
            answer = (
                "refused",
                "CannotServe",
                f"the model of online deployment '{dep.name}' version {dep.version} ({dep.model_ref}) "
                f"failed: {type(e).__name__}: {str(e)[:300]}",
                "score the same rows where it was trained to see its traceback",
                "",
            )
        outbox.send(answer)
