"""`pipe run --summary PATH` writes a regular file or nothing (attack review of issue 13, finding 9).

The summary replaces its file by a rename: renamed over a device, a FIFO or a link such as
/dev/stdout it would replace that instead. Anything but a regular file (or a link to one) is
refused, and a path that cannot be written is exit 2 naming it, never exit 70.
"""

from __future__ import annotations

import json
import os
import stat

PIPEFILE = """
version: 1
steps:
  s: {command: "echo hi > ${{outputs.o}}", outputs: {o: build/o.txt}}
"""


def _refused(repo, path: str, *words: str):
    r = repo.pipe("run", "--summary", path)
    assert r.code == 2, str(r)
    assert "internal error" not in r.err and "hint:" in r.err, str(r)
    for w in words:
        assert w in r.err, str(r)
    return r


def test_a_fifo_or_a_link_to_a_device_is_refused_and_left_alone(repo):
    repo.pipefile(PIPEFILE)
    os.mkfifo(repo.root / "fifo")
    _refused(repo, "fifo", "'fifo' is a FIFO", "only to a regular file")
    assert stat.S_ISFIFO(os.lstat(repo.root / "fifo").st_mode)
    os.symlink("/dev/null", repo.root / "out.json")  # as /dev/stdout is, when it is not a file
    _refused(repo, "out.json", "'out.json' is a link to a device")
    assert os.readlink(repo.root / "out.json") == "/dev/null"
    (repo.root / "adir").mkdir()
    os.symlink("adir", repo.root / "to-dir")
    assert repo.pipe("run", "--summary", "to-dir").code == 2  # (click already says it is a folder)
    assert os.listdir(repo.root / "adir") == []


def test_a_link_to_nothing_is_refused(repo):
    repo.pipefile(PIPEFILE)
    os.symlink("nowhere/x.json", repo.root / "dangling.json")
    _refused(repo, "dangling.json", "a symbolic link to nothing")
    assert not (repo.root / "nowhere").exists()


def test_a_path_that_cannot_be_written_is_exit_2(repo):
    repo.pipefile(PIPEFILE)
    _refused(repo, "/proc/x/y.json", "cannot write '/proc/x/y.json'")
    repo.write("file", "x")
    _refused(repo, "file/sub.json", "cannot write 'file/sub.json'")
    assert repo.read("file") == "x"


def test_a_link_to_a_file_writes_the_file_and_keeps_the_link(repo):
    repo.pipefile(PIPEFILE)
    repo.write("reports/real.json", "{}")
    os.symlink("reports/real.json", repo.root / "summary.json")
    r = repo.pipe("run", "--summary", "summary.json")
    assert r.code == 0, str(r)
    assert os.readlink(repo.root / "summary.json") == "reports/real.json"
    assert json.loads(repo.read("reports/real.json"))["status"] == "succeeded"
    r = repo.pipe("run", "--summary", "new/folder/s.json")  # missing folders are made, as before
    assert r.code == 0 and json.loads(repo.read("new/folder/s.json"))["exit_code"] == 0, str(r)
