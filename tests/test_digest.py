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
