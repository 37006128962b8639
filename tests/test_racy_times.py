"""The racy-timestamp rule wherever a stat signature stands for content (filehash.racy): a
file's last change is the newer of its mtime and its ctime, since tar, cp -p and rsync -t set
an mtime back. A record taken within a clock tick of that change is not trusted: a rewrite of
the same size in that tick (mtime set back again) keeps the signature on a kernel with coarse
timestamps (this machine's gives fine-grained ones once a file was stat-ed, so the tests here
take the signature as such a kernel would show it). The stat cache's own: test_digest.py."""

from __future__ import annotations

import os
import time

from pipefile import maps


def test_a_change_is_racy_by_the_newer_of_its_times():
    from pipefile.filehash import racy

    now = time.time_ns()
    assert racy(now, now - 10_000_000)
    assert not racy(now, now - 500_000_000)
    assert racy(now, (now // 1_000_000_000 - 1) * 1_000_000_000)  # whole seconds: a coarse file system


def test_a_map_item_unpacked_with_an_old_mtime_just_before_the_run_is_not_settled(tmp_path):
    # The map record (maps.py) settles a task by the signatures of its item and its entry; an
    # item whose ctime lies in the tick of the run's start may change again unseen.
    for folder, text in (("data", "a\n"), ("out", "A\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.txt").write_text(text)
        old = time.time() - 3600
        os.utime(tmp_path / folder / "a.txt", (old, old))  # as tar leaves it: ctime now
    started_ns = time.time_ns()
    fds = [os.open(tmp_path / folder, os.O_RDONLY | os.O_DIRECTORY) for folder in ("data", "out")]
    try:
        items: dict = {}
        maps._entries(items, [("a.txt", "fp")], "fp", fds, started_ns)
        assert items == {}
        time.sleep(0.11)  # its change now clearly before the (next) run: settled then
        maps._entries(items, [("a.txt", "fp")], "fp", fds, time.time_ns())
        assert list(items) == ["a.txt"]
    finally:
        for fd in fds:
            os.close(fd)
