"""The log follower in-process: what a task printed reaches the sink, and a short task that
printed nothing costs no file opened (executors/follow.py)."""

from __future__ import annotations

import os

from pipefile.executors import follow
from pipefile.executors.follow import LogFollower


class Sink:
    def __init__(self):
        self.lines: list = []

    def output(self, step, line, env=None):
        self.lines.append((step, line, env))


def test_an_empty_log_is_never_opened(tmp_path, monkeypatch):
    opened: list = []
    real_open = os.open
    monkeypatch.setattr(follow.os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    f = LogFollower(Sink())
    f.watch("a", str(log))
    f.unwatch("a")
    f.close()
    assert opened == []


def test_lines_of_a_log_never_read_while_it_ran_are_told_at_its_end(tmp_path):
    sink = Sink()
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    f = LogFollower(sink)
    f.watch("a", str(log), env="py")
    log.write_bytes(b"building\n")
    f.command_starts("a")  # the build's lines, as the environment's
    with open(log, "ab") as w:
        w.write(b"one\ntwo without newline")
    f.unwatch("a")
    f.close()
    assert sink.lines == [("a", "building", "py"), ("a", "one", None), ("a", "two without newline", None)]


def test_a_log_gone_before_it_was_read_is_not_an_error(tmp_path):
    log = tmp_path / "a.log"
    f = LogFollower(Sink())
    f.watch("a", str(log))  # (never made)
    f.unwatch("a")
    f.close()
