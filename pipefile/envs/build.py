"""Building an environment: running a build tool with its output in the step's log, and the
lock that makes concurrent steps and concurrent `pipe` processes build one thing once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO, Optional

from .base import EnvError, LocalProcess, building_for


def run_tool(
    argv: list,
    log: IO[bytes],
    cancelled: threading.Event,
    what: str,
    cwd: Optional[str] = None,
    env: Optional[dict] = None,
) -> None:
    """Run one build command with its output in the step's log; EnvError if it fails.

    Stopped (SIGINT, then SIGKILL) when the run is cancelled, so Ctrl-C does not wait
    for a long install."""
    log.write(f"$ {' '.join(argv)}\n".encode())
    log.flush()
    run_id = building_for()
    if run_id:  # (the tool runs in a group of its own: the next run stops it if pipe is killed)
        env = dict(os.environ if env is None else env, PIPE_RUN_ID=run_id)
    try:
        proc = LocalProcess(argv, env, cwd, log)  # the way a step's command is started, in its own group
    except EnvError as e:
        raise EnvError(f"{what}: {e.message}", e.loc, e.hint) from None
    sent_at = None
    while True:
        try:
            rc = proc.proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if not cancelled.is_set():
                continue
            now = time.monotonic()
            if sent_at is None or now - sent_at > 3.0:
                proc.signal(signal.SIGINT if sent_at is None else signal.SIGKILL)
                sent_at = sent_at or now
    if cancelled.is_set():
        raise EnvError(f"{what}: interrupted")
    if rc != 0:
        raise EnvError(f"{what}: {os.path.basename(argv[0])} exited with status {rc} (its output is in the step's log)")


@contextlib.contextmanager
def build_lock(cache, build_id: str, log: IO[bytes], cancelled: threading.Event, what: str):
    """Hold the lock of a build (see `cache`): say in the step's log when another pipe holds
    it, and stop waiting (EnvError) when the run is cancelled."""

    def waiting():
        log.write(f"pipe: waiting for another pipe, which is building {what}\n".encode())
        log.flush()

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(cache.lock(build_id, cancelled, waiting))
        except InterruptedError:
            raise EnvError(f"{what}: interrupted while another pipe was building it") from None
        yield
