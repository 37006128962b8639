"""The store and crash safety, reviewed as a user meets them through the real CLI: what a
pull, a killed run, a full disk or a hand-made file in the store leaves behind."""

from __future__ import annotations

import os

import pytest
import xxhash
from test_remote import make_workspace, outcomes

ALL = ("prepare", "train", "evaluate")


@pytest.mark.parametrize("how", ["fifo", "zero"])
def test_pull_fetches_an_object_whose_local_copy_is_no_file(tmp_path, how):
    """Was: a FIFO (or a link to /dev/zero) in place of an object in the LOCAL store counted as
    present, so `pipe pull` said ok without fetching it and the next run ran the step again
    instead of restoring it. It is set aside and fetched."""
    cache = tmp_path / "cache"
    first, second = make_workspace(tmp_path / "first"), make_workspace(tmp_path / "second")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    assert first.pipe("push").code == 0
    weights = xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())
    obj = second.root / ".pipe" / "store" / "objects" / weights[:2] / weights[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    if how == "fifo":
        os.mkfifo(obj)
    else:
        os.symlink("/dev/zero", obj)

    r = second.pipe("pull", "--json", timeout=60)
    assert r.code == 0 and r.json["ok"], str(r)
    assert obj.is_file() and not obj.is_symlink(), "the object was not fetched"
    assert xxhash.xxh3_128_hexdigest(obj.read_bytes()) == weights
    assert outcomes(second) == dict.fromkeys(ALL, "restored")
