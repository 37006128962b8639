"""The no-op record's answer to touched files (noop_record.py says what the record is).

A touch (an editor's save of the same text, `git checkout` of a branch with the same file,
`touch`) changes a file's stat signature and not its content. The normal path then reads
the file again, finds the digest it knew and the step fresh, and writes the new signature
to the stat cache (`.pipe/state.db`). The record keeps, for each regular file whose digest
the recorded run knew, that digest; when such a file's signature differs, and only its
times and inode do (same type and mode, same size), the answer reads it (the digest
digest.py computes: filehash.py) and goes on when the content is the same. Where the files
are big (WORTH_SAVING), it writes their stat cache rows as the normal path would, so that a
later normal run does not read them again; the caller rewrites the record with the new
signatures, so that the next no-op is answered by stats alone again.

A file hashed within a clock tick of its modification may change again unseen (racy
timestamps, digest.py): it is marked, and the next answer hashes it again.
"""

from __future__ import annotations

import os
import time

RACY_NS = 100_000_000  # as digest.py: well above the kernel's coarse clock tick
RACY_COARSE_NS = 2_000_000_000  # file systems with whole-second times
# Bytes read again below which the stat cache is left as it is: writing its rows (SQLite's
# commit and checkpoint, 5-25 ms here) would cost more than the normal path's next read of
# such files (it reads a file whose row is stale again, and writes the row itself).
WORTH_SAVING = 64 << 20
_REG = 0o100000
_TYPE = 0o170000


def racy(sig, hashed_ns: int) -> bool:
    """Whether a file of signature `sig` (noop_record._sig) was possibly still being written
    when it was hashed, at `hashed_ns`: then its signature alone may not vouch for it."""
    window = RACY_COARSE_NS if sig[2] % 1_000_000_000 == 0 else RACY_NS
    return max(sig[2], sig[3]) >= hashed_ns - window


def confirm(touched: list, digests: dict, sig_of) -> list | None:
    """touched: [(path, recorded signature, signature now)]; digests: path -> (workspace path,
    digest, in_folder). Each file hashed: [(path, workspace path, signature, digest, hashed_ns,
    in_folder)] when every one holds the recorded content, else None (anything else changed:
    a size, a mode, a link, a folder, a file without a recorded digest, a new content)."""
    from .filehash import hash_file  # (xxhash: only when something was touched)

    out = []
    for path, was, now in touched:
        known = digests.get(path)
        if known is None or now is None or was is None or len(now) != 6 or len(was) != 6:
            return None
        if (now[0] & _TYPE) != _REG or now[0] != was[0] or now[1] != was[1]:
            return None  # not a regular file, another mode (the exec bit is content), another size
        link = sig_of(path, False)
        if link is None or (link[0] & _TYPE) != _REG:
            return None  # a symbolic link now: the normal path decides
        hashed_ns = time.time_ns()
        digest = hash_file(path)
        after = sig_of(path)
        if after != now or digest != known[1]:
            return None  # changed while read, or another content
        out.append((path, known[0], now, digest, hashed_ns, known[2]))
    return out


def save_stats(state_dir: str, confirmed: list) -> None:
    """The stat cache's rows (workspace/state.py: table `stat`) for the files confirmed, as
    the normal path's StatCache.record writes them; raises on any doubt (nothing changed then)."""
    try:
        import _sqlite3 as driver  # (as noop_record: no datetime adapters)
    except ImportError:
        import sqlite3 as driver  # type: ignore[no-redef]

    path = os.path.join(state_dir, "state.db")
    if not os.path.isfile(path):
        raise LookupError("no stat cache")
    db = driver.connect(path, timeout=30, isolation_level=None)
    try:
        row = db.execute("SELECT v FROM meta WHERE k='state_version'").fetchone()
        if row is None or row[0] != STATE_VERSION:
            raise LookupError("another stat cache format")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            for _, rel, sig, digest, hashed_ns, in_folder in confirmed:
                db.execute(
                    "INSERT OR REPLACE INTO stat VALUES(?,?,?,?,?,?,?,?)",
                    (rel, sig[1], sig[2], sig[3], sig[4], digest, hashed_ns, in_folder),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.close()


STATE_VERSION = "2"  # workspace/state.py's STATE_VERSION (a test checks they agree)
