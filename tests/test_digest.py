"""Content digests and the StatCache."""

import os
import time

from pipefile import digest
from pipefile.digest import FILE, TREE, Hasher, StatCache


def test_file_digest_is_xxh3_128_of_the_content(tmp_path):
    import xxhash

    (tmp_path / "f").write_bytes(b"hello")
    d = Hasher(str(tmp_path)).digest("f")
    assert d.kind == FILE and d.digest == xxhash.xxh3_128_hexdigest(b"hello") and d.size == 5


def test_tree_digest_depends_on_names_content_and_exec_bit_not_on_times(tmp_path):
    root = tmp_path
    (root / "d/sub").mkdir(parents=True)
    (root / "d/a").write_text("1")
    (root / "d/sub/b").write_text("2")
    h = Hasher(str(root))
    first = h.digest("d")
    assert first.kind == TREE and first.size == 2
    os.utime(root / "d/a", (1, 1))
    assert Hasher(str(root)).digest("d") == first
    os.chmod(root / "d/a", 0o755)
    assert Hasher(str(root)).digest("d") != first
    os.chmod(root / "d/a", 0o644)
    (root / "d/sub/b").rename(root / "d/sub/c")
    assert Hasher(str(root)).digest("d") != first


def test_empty_folders_count(tmp_path):
    (tmp_path / "d").mkdir()
    empty = Hasher(str(tmp_path)).digest("d")
    (tmp_path / "d/e").mkdir()
    assert Hasher(str(tmp_path)).digest("d") != empty


def test_stat_cache_avoids_reading_unchanged_files(tmp_path):
    f = tmp_path / "f"
    f.write_text("x" * 1000)
    old = time.time() - 10
    os.utime(f, (old, old))
    time.sleep(0.11)  # (its ctime, which cannot be set back, out of the racy window too)
    cache = StatCache()
    h = Hasher(str(tmp_path), cache)
    d1 = h.digest("f")
    assert cache.hashed_bytes == 1000
    assert h.digest("f") == d1
    assert cache.hashed_bytes == 1000  # second time: a stat, no read


def test_stat_cache_distrusts_racy_entries(tmp_path):
    f = tmp_path / "f"
    f.write_text("abc")
    cache = StatCache()
    h = Hasher(str(tmp_path), cache)
    h.digest("f")  # mtime is "now": too close to the hash to trust
    h.digest("f")
    assert cache.hashed_bytes == 6


def test_same_size_rewrite_with_restored_mtime_is_still_noticed(tmp_path):
    """ctime and inode are part of the signature: resetting mtime cannot hide an edit."""
    f = tmp_path / "f"
    f.write_text("aaa")
    old = time.time() - 10
    os.utime(f, (old, old))
    cache = StatCache()
    first = Hasher(str(tmp_path), cache).digest("f")
    st = f.stat()
    f.write_text("bbb")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert Hasher(str(tmp_path), cache).digest("f") != first


def test_manifest_round_trip(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/x").write_text("1")
    tree = Hasher(str(tmp_path)).tree("d")
    entries = digest.parse_manifest(tree.manifests[tree.digest])
    assert entries == [["x", "f", digest.hash_bytes(b"1"), 1]]


def test_hash_file_matches_whole_content_hash_at_every_chunk_boundary(tmp_path):
    import xxhash

    for size in (0, 1, 65535, 65536, 65537, 2 * 65536, (1 << 20) + 65536 + 3):
        data = os.urandom(size)
        (tmp_path / "f").write_bytes(data)
        assert digest.hash_file(str(tmp_path / "f")) == xxhash.xxh3_128_hexdigest(data), size


def _old(path):
    """Give every file under `path` an mtime well in the past (out of the racy window), and wait
    until their ctimes (which cannot be set back) are out of it too."""
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            if not os.path.islink(os.path.join(dirpath, f)):
                os.utime(os.path.join(dirpath, f), (time.time() - 10, time.time() - 10))
    time.sleep(0.11)


def _fresh_hasher(root, state):
    """A hasher as the next `pipe` process would have it: the cache reloaded from state."""
    return Hasher(str(root), state.stat_cache())


def test_unchanged_folder_is_known_from_its_listing_without_loading_file_entries(tmp_path):
    from pipefile.workspace.state import WorkspaceState

    root = tmp_path
    for i in range(30):
        (root / f"d/s{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"d/s{i % 3}/f{i}").write_text(str(i))
    _old(root / "d")
    state = WorkspaceState(str(tmp_path / "state.db"))
    h = _fresh_hasher(root, state)
    first = h.digest("d")
    assert first.digest == Hasher(str(root)).tree("d").digest  # same digest as the full walk
    state.save_stats(h.cache.take_dirty())

    h2 = _fresh_hasher(root, state)
    assert h2.digest("d") == first
    assert h2.cache.hashed_bytes == 0
    assert not any(p.startswith("d/") for p in h2.cache.entries)  # per-file entries never loaded


def test_every_kind_of_folder_change_is_noticed_through_the_listing(tmp_path):
    from pipefile.workspace.state import WorkspaceState

    root = tmp_path
    (root / "d/sub").mkdir(parents=True)
    (root / "d/a").write_text("aaaa")
    (root / "d/sub/b").write_text("bbbb")
    _old(root / "d")
    state = WorkspaceState(str(tmp_path / "state.db"))

    def digest_now():
        h = _fresh_hasher(root, state)
        d = h.digest("d")
        assert d.digest == Hasher(str(root)).tree("d").digest, "the listing shortcut disagrees with a full walk"
        state.save_stats(h.cache.take_dirty())
        return d.digest

    seen = {digest_now()}
    edits = [
        lambda: (root / "d/sub/b").write_text("BBBB"),  # same size, deep inside
        lambda: (root / "d/c").write_text("new"),  # a new file
        lambda: os.unlink(root / "d/c"),  # removed again (content as two steps ago)
        lambda: os.rename(root / "d/a", root / "d/a2"),  # renamed
        lambda: os.chmod(root / "d/a2", 0o755),  # made executable
        lambda: os.symlink("nowhere", root / "d/link"),  # a dangling link
        lambda: (root / "d/sub/deeper").mkdir(),  # an empty sub-folder
    ]
    for i, edit in enumerate(edits):
        edit()
        _old(root / "d")  # out of the racy window: only the listing can tell that it changed
        d = digest_now()
        if i != 2:
            assert d not in seen, f"edit {i} was not noticed"
        seen.add(d)
        assert digest_now() == d  # and then it is stable


def test_a_folder_listing_is_not_trusted_while_a_file_in_it_is_racy(tmp_path):
    from pipefile.workspace.state import WorkspaceState

    (tmp_path / "d").mkdir()
    f = tmp_path / "d/a"
    f.write_text("1111")
    state = WorkspaceState(str(tmp_path / "state.db"))
    h = _fresh_hasher(tmp_path, state)
    h.digest("d")
    state.save_stats(h.cache.take_dirty())
    # rewritten within the same tick, stat signature kept: only a re-read can tell
    st = os.stat(f)
    f.write_text("2222")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    h2 = _fresh_hasher(tmp_path, state)
    assert h2.digest("d").digest == Hasher(str(tmp_path)).tree("d").digest


def test_a_small_output_is_read_once_and_digests_as_digest_does(tmp_path):
    (tmp_path / "small.txt").write_bytes(b"x" * 100)
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    (tmp_path / "big.bin").write_bytes(b"y" * 5000)
    (tmp_path / "dir").mkdir()
    os.symlink("small.txt", tmp_path / "link")
    h = Hasher(str(tmp_path))
    for rel in ("small.txt", "run.sh"):
        d, data = h.small_output(rel, 4096)
        assert data == (tmp_path / rel).read_bytes()
        assert d == Hasher(str(tmp_path)).digest(rel, contained=True)  # kind, digest, size, exec bit
        assert d.executable == (rel == "run.sh")
    assert h.cache.hashed_bytes == 110  # each read once
    assert h.cache.entries["run.sh"][4] == d.digest  # recorded: known from its stat once no longer racy
    # Not here: a larger file, a folder, a link (the commit's normal path refuses it), nothing.
    for rel in ("big.bin", "dir", "link", "missing"):
        assert h.small_output(rel, 4096) is None


def test_a_small_file_read_in_one_call_has_the_streamed_digest(tmp_path):
    # Files up to 64 KiB are read with one os.read, the rest streamed (filehash.hash_file, which
    # the no-op record's answer to a touch also uses): both must name the same content alike.
    h = Hasher(str(tmp_path))
    for size in (0, 1, 4095, 65535, 65536, 65537, 200_000):
        data = os.urandom(size)
        (tmp_path / f"f{size}").write_bytes(data)
        assert h.digest(f"f{size}").digest == digest.hash_file(str(tmp_path / f"f{size}")) == digest.hash_bytes(data)


def test_a_small_file_that_grew_after_its_stat_is_digested_whole(tmp_path):
    # The stat said 3 bytes; the file holds more when it is read: what is there is hashed (and,
    # its stat having moved, not remembered).
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    st = os.stat(p)
    p.write_bytes(b"abcdef")
    cache = StatCache()
    assert cache.file_digest("f", str(p), st) == digest.hash_bytes(b"abcdef")
    assert "f" not in cache.entries


def test_a_file_whose_mtime_was_set_back_is_not_trusted_within_the_tick_of_its_change(tmp_path):
    """tar, cp -p and rsync -t set a file's mtime back: its ctime says when it was written. A
    rewrite of the same size in that clock tick (mtime set back again) leaves the signature as
    it was on a kernel with coarse timestamps: the stat taken before the rewrite is what stat
    says after it there (this machine's kernel gives fine-grained ones once a file was stat-ed)."""
    f = tmp_path / "f"
    f.write_text("aaa")
    old = time.time() - 10
    os.utime(f, (old, old))  # ctime: now
    cache = StatCache()
    assert Hasher(str(tmp_path), cache).digest("f").digest == digest.hash_bytes(b"aaa")
    st = os.stat(f)
    f.write_text("bbb")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.file_digest("f", str(f), st) == digest.hash_bytes(b"bbb")


def test_a_folder_whose_file_mtime_was_set_back_is_read_again_within_the_tick_of_its_change(tmp_path):
    # The folder's listing is trusted under the same rule, applied to its newest change.
    (tmp_path / "d").mkdir()
    f = tmp_path / "d/a"
    f.write_text("1111")
    old = time.time() - 10
    os.utime(f, (old, old))  # unpacked from an archive just now
    cache = StatCache()
    h = Hasher(str(tmp_path), cache)
    first = h.digest("d")
    assert h.digest("d") == first
    assert cache.hashed_bytes == 8  # read again: its change (ctime) is too recent to vouch for it
