"""The no-op record on a terminal (pipefile/noop_record.py): a `pipe run` typed in a terminal,
or a git hook that inherits one, is answered from the record with exactly the bytes the normal
path draws there (rich: colours, the live view's frame, cursor codes), and declines when the
terminal is not the one the record was made on (its size, its colour settings).

Each run gets a real pseudo-terminal of a given size as stdin, stdout and stderr; what the
process wrote to it is read back from the master side, byte for byte."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_noop_record import _EDITS, PIPELINE, SETTLE, _apply
from workspace_repo import PIPE, Repo


def _on_terminal(repo: Repo, size: tuple, env: dict | None = None, args=()) -> tuple:
    """(exit code, the bytes `pipe run` wrote to a terminal of `size` (columns, rows))."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    e = {k: v for k, v in os.environ.items() if k not in ("PIPE_PLAIN", "CI", "COLUMNS", "LINES", "NO_COLOR")}
    e.pop("PIPE_STORE_DIR", None)
    e.update({"TERM": "xterm-256color", **(env or {})})
    try:
        p = subprocess.Popen(PIPE + ["run", *args], cwd=repo.root, stdin=slave, stdout=slave, stderr=slave, env=e)
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # (EIO: every writer closed the terminal)
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return p.wait(timeout=60), b"".join(chunks)


def _record(repo: Repo):
    try:
        s = os.stat(repo.root / ".pipe" / "noop")
    except FileNotFoundError:
        return None
    return (s.st_ino, s.st_mtime_ns, s.st_size)


def _answer(repo: Repo, size: tuple, env: dict | None = None, args=()) -> tuple:
    """(exit code, bytes, answered from the record?)."""
    before = _record(repo)
    code, shown = _on_terminal(repo, size, env, args)
    return code, shown, before is not None and _record(repo) == before


def _same(shown: bytes) -> bytes:
    """Less what differs from job to job: its number, id and time."""
    shown = re.sub(rb"job \d+ \(([0-9a-f]{8})\): `pipe jobs show \d+`", b"job N (UID): `pipe jobs show N`", shown)
    return re.sub(rb" in \d+\.\ds", b" in Ts", shown)


@pytest.fixture
def workspace(repo):
    repo.pipefile(PIPELINE)
    repo.write("data/in.txt", "hello\n")
    repo.write("src/train.py", "print('train')\n")
    repo.pipe("run", check=True)
    return repo


@pytest.mark.parametrize("colour", [{}, {"TERM": "dumb"}], ids=["colour", "no-colour"])
@pytest.mark.parametrize("size", [(80, 24), (43, 101)], ids=["80x24", "43x101"])
def test_a_terminal_no_op_is_answered_with_the_bytes_the_normal_path_draws(workspace, size, colour):
    time.sleep(SETTLE)
    code, slow, answered = _answer(workspace, size, colour)  # the normal way: it leaves a record
    assert code == 0 and not answered, slow
    assert _record(workspace) is not None, "a no-op on a terminal leaves a record"
    code, fast, answered = _answer(workspace, size, colour)
    assert code == 0 and answered, fast
    assert _same(fast) == _same(slow)
    assert b"succeeded: 3 fresh" in fast
    # rich drew it (the live view's frame, cursor codes), styled only on a terminal that can
    assert (b"\x1b[" in fast) == (not colour), fast


@pytest.mark.parametrize(
    "other",
    [
        ((100, 24), {}),  # wider
        ((80, 30), {}),  # taller
        ((80, 24), {"NO_COLOR": "1"}),
        ((80, 24), {"TERM": "dumb"}),
        ((80, 24), {"COLUMNS": "60"}),
    ],
    ids=["wider", "taller", "no-colour", "dumb", "columns"],
)
def test_a_record_made_on_another_terminal_declines(workspace, other):
    size, env = other
    time.sleep(SETTLE)
    assert _answer(workspace, (80, 24))[0] == 0
    assert _answer(workspace, (80, 24))[2], "settled: answered"
    code, shown, answered = _answer(workspace, size, env)
    assert code == 0 and not answered, shown
    # ... and the normal path's drawing for that terminal is then what the record gives
    code, again, answered = _answer(workspace, size, env)
    assert code == 0 and answered and _same(again) == _same(shown)


def test_a_record_made_without_a_terminal_declines_on_one_and_back(workspace):
    time.sleep(SETTLE)
    env = {k: v for k, v in os.environ.items() if k not in ("PIPE_PLAIN", "CI")}
    for _ in range(2):
        subprocess.run(PIPE + ["run"], cwd=workspace.root, env=env, capture_output=True, check=True)
    before = _record(workspace)
    code, shown, answered = _answer(workspace, (80, 24), {})
    assert code == 0 and not answered and b"\x1b[" in shown
    assert before is not None and _record(workspace) != before
    p = subprocess.run(PIPE + ["run"], cwd=workspace.root, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "\x1b" not in p.stderr, p.stderr


_SIZES = st.sampled_from([(80, 24), (43, 101)])


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_EDITS, st.integers(0, 1000), st.booleans(), _SIZES), min_size=2, max_size=4))
def test_on_a_terminal_the_record_answers_as_the_normal_path_or_declines(tmp_path_factory, steps):
    """tests/test_noop_record.py's property, on terminals of two sizes: after random edits,
    where the record answers, the normal path right after draws the same bytes."""
    repo = Repo(tmp_path_factory.mktemp("ws"))
    repo.pipefile(PIPELINE)
    repo.write("data/in.txt", "hello\n")
    repo.write("src/train.py", "print('train')\n")
    repo.pipe("run", check=True)
    nonce = 0
    for edit, rnd, then_wait, size in steps:
        args, env = _apply(repo, edit, rnd)
        if then_wait:
            time.sleep(SETTLE)
        code, fast, answered = _answer(repo, size, env, args or ())
        if answered:
            nonce += 1  # (a variable no record was made under: the normal path runs)
            slow_env = {**(env or {}), "PIPE_TEST_NONCE": str(nonce)}
            slow_code, slow, again = _answer(repo, size, slow_env, args or ())
            assert not again and (code, _same(fast)) == (slow_code, _same(slow))
            assert b" ran" not in slow and b"restored" not in slow, slow
        # Settled, the normal path leaves a record and the plain `pipe run` is answered from it
        time.sleep(SETTLE)
        (repo.root / ".pipe" / "noop").unlink(missing_ok=True)
        code, slow, _ = _answer(repo, size)
        if _record(repo) is None:
            # That run did something (an edit ran with `-p` restored the outputs of the default
            # params back): no record comes of it, the next one, settled, leaves one.
            assert b"restored" in slow or b" ran" in slow, slow
            time.sleep(SETTLE)
            code, slow, _ = _answer(repo, size)
        code2, fast, answered = _answer(repo, size)
        assert answered and (code, _same(slow)) == (code2, _same(fast))


# A run slow enough that rich's timer redraws the live view (as on a loaded machine): the
# reporter is held open past the timer's first tick (1/8 s).
_SLOW = """\
import time
from pipefile.report import run

_close = run.RunReporter.close


def close(self):
    time.sleep(0.4)
    _close(self)


run.RunReporter.close = close
"""


def test_what_a_timer_drew_leaves_no_record(workspace, tmp_path):
    """What the live view's timer thread drew depends on timing: no record is made of it."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SLOW)
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ["PYTHONPATH"]])}
    time.sleep(SETTLE)
    (workspace.root / ".pipe" / "noop").unlink(missing_ok=True)
    code, shown, _ = _answer(workspace, (80, 24), env)
    assert code == 0 and b"succeeded: 3 fresh" in shown
    assert shown.count(b"steps done") >= 2, shown  # (the timer did draw)
    assert _record(workspace) is None


def test_both_streams_on_a_terminal_leave_no_record(workspace):
    """`--json` on a terminal: the JSON on stdout and the drawing on stderr interleave on the
    one terminal in an order the record does not keep, so none is made."""
    time.sleep(SETTLE)
    for _ in range(2):
        code, shown, answered = _answer(workspace, (80, 24), args=("--json",))
        assert code == 0 and not answered and b'"job": ' in shown and b"steps done" in shown
    assert _record(workspace) is None
