"""pipefile/wholefile.py: a user's file holds the new text or the old, never part of either,
keeps its permissions, and no temporary file stays behind."""

from __future__ import annotations

import os
import stat

import pytest

from pipefile.wholefile import replace_whole


def test_a_file_is_replaced_whole_and_keeps_its_permissions(tmp_path):
    f = tmp_path / "report.md"
    f.write_text("old\n")
    f.chmod(0o640)
    replace_whole(str(f), b"new\n")
    assert f.read_bytes() == b"new\n" and stat.S_IMODE(f.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["report.md"]


def test_a_new_file_gets_an_ordinary_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        replace_whole(str(tmp_path / "new.txt"), b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_a_rename_refused_leaves_what_was_there_and_no_temporary(tmp_path):
    # (A folder where the file goes: the write beside it succeeds, the rename over it fails.)
    (tmp_path / "out.md").mkdir()
    (tmp_path / "out.md" / "keep.txt").write_text("kept")
    with pytest.raises(OSError):
        replace_whole(str(tmp_path / "out.md"), b"report")
    assert sorted(os.listdir(tmp_path)) == ["out.md"] and (tmp_path / "out.md" / "keep.txt").read_text() == "kept"


def test_a_missing_folder_is_an_error_and_makes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        replace_whole(str(tmp_path / "no" / "such.md"), b"x")
    assert os.listdir(tmp_path) == []
