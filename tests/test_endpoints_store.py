"""Without a server: the job database's migration to version 2, the Pipefile keys that
mark endpoint inputs and outputs, publishing's checks, tokens and archive checks."""

from __future__ import annotations

import io
import secrets
import sqlite3
import struct
import tarfile
import time
import zipfile

import pytest

from pipefile.jobdb.jobs import JobStore
from pipefile.jobdb.schema import JOBS_VERSION, SCHEMA_REVISION
from pipefile.jobdb.serving import ServeStore

V1_SCHEMA = """
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT UNIQUE, experiment TEXT, status TEXT,
  started REAL, ended REAL, user TEXT, pid INTEGER, git_commit TEXT, git_dirty INTEGER,
  pipefile TEXT, pipefile_digest TEXT, code TEXT, params TEXT, targets TEXT, argv TEXT,
  cloned_from INTEGER);
CREATE TABLE job_steps(
  job_id INTEGER, step TEXT, outcome TEXT, key TEXT, env TEXT, command TEXT, inputs TEXT,
  outputs TEXT, seconds REAL, exit_code INTEGER, log TEXT, error TEXT, finished REAL,
  PRIMARY KEY(job_id, step));
CREATE TABLE artifacts(
  name TEXT, version INTEGER, kind TEXT, digest TEXT, size INTEGER, job_id INTEGER, step TEXT,
  output TEXT, path TEXT, created REAL, PRIMARY KEY(name, version));
CREATE TABLE metrics(
  job_id INTEGER, step TEXT, name TEXT, value REAL, PRIMARY KEY(job_id, step, name));
INSERT INTO meta VALUES('jobs_version', '1');
"""


def test_version_1_database_is_migrated_in_place(repo):
    repo.pipefile("""
        steps:
          a: {command: "echo hi > out.txt", outputs: {o: out.txt}}
    """)
    (repo.root / ".pipe").mkdir()
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO jobs(uid, experiment, status, started, ended, user, pid, pipefile, pipefile_digest, "
        "code, params, targets, argv) VALUES('abcd1234', 'old', 'succeeded', ?, ?, 'me', 1, 'Pipefile', "
        "'x', '{}', '{\"lr\": 1}', '[]', '[]')",
        (time.time() - 10, time.time() - 5),
    )
    db.commit()
    db.close()
    js = JobStore(str(repo.root / ".pipe" / "jobs.db"))
    try:
        assert js.db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()[0] == str(JOBS_VERSION) == "2"
        old = js.get(1)
        assert (old.uid, old.status, old.params, old.state, old.endpoint) == (
            "abcd1234",
            "succeeded",
            {"lr": 1},
            None,
            None,
        )
        cols = {r[1] for r in js.db.execute("PRAGMA table_info(jobs)")}
        assert {"state", "endpoint", "deployment_digest", "token_id", "request_digest"} <= cols
        serve = ServeStore(js)
        tok, text = serve.create_token(["read"])
        assert serve.authenticate(text).id == tok.id
    finally:
        js.close()
    # Opening it again changes nothing; the CLI reads old and new jobs alike.
    JobStore(str(repo.root / ".pipe" / "jobs.db")).close()
    r = repo.pipe("run", check=True)
    listed = repo.pipe("jobs", "--json", check=True).json["jobs"]
    assert [j["experiment"] for j in listed][-1] == "old" and len(listed) == 2, r


def test_newer_database_is_still_refused(tmp_path):
    p = tmp_path / "jobs.db"
    JobStore(str(p)).close()
    db = sqlite3.connect(p)
    db.execute("UPDATE meta SET v='3' WHERE k='jobs_version'")
    db.commit()
    db.close()
    from pipefile.errors import PipefileError

    with pytest.raises(PipefileError, match="newer pipe"):
        JobStore(str(p))


def test_tokens(tmp_path):
    js = JobStore(str(tmp_path / "jobs.db"))
    try:
        s = ServeStore(js)
        tok, text = s.create_token(["invoke:score", "read"], "ci", time.time() + 60)
        assert text.startswith(f"pipe_{tok.id}_") and len(text) > 40
        stored = js.db.execute("SELECT sha256 FROM tokens").fetchone()[0]
        import hashlib

        assert stored == hashlib.sha256(text.encode()).hexdigest() and text not in str(
            list(js.db.execute("SELECT * FROM tokens"))
        )
        assert s.authenticate(text).scopes == ["invoke:score", "read"]
        assert s.authenticate(text + "x") is None and s.authenticate(f"pipe_{tok.id}_") is None
        assert s.authenticate("") is None and s.authenticate("pipe_nope_x") is None
        t = s.authenticate(text)
        assert t.can_invoke("score") and not t.can_invoke("other") and t.can_read_all() and not t.admin
        s.revoke(tok.id)
        assert s.authenticate(text) is None
        _, short = s.create_token(["admin"], expires=time.time() - 1)
        assert s.authenticate(short) is None
    finally:
        js.close()


def test_run_cache_entries_are_visible_by_who_made_them(tmp_path):
    """An entry no token's job made (the owner's runs) is every token's; one a token's job
    made is that token's, unless the token is admin or shares its cache."""
    from pipefile.cache.action_cache import ActionCache
    from pipefile.serve.worker import token_actions

    js = JobStore(str(tmp_path / "jobs.db"))
    try:
        s = ServeStore(js)
        a, _ = s.create_token(["invoke:score"])
        b, _ = s.create_token(["invoke:score"])
        admin, _ = s.create_token(["admin"])
        shared, _ = s.create_token(["invoke:score"], share_cache=True)
        assert shared.share_cache and shared.to_json()["share_cache"] is True and not a.share_cache
        assert s.entry_is_public("k-owner")
        s.note_producer("k-a", a.id)
        s.note_producer("k-admin", admin.id)
        s.note_producer("k-shared", shared.id)
        s.note_producer("k-gone", "000000000000")  # a token with no record
        seen = {
            t.id: {k for k in ("k-owner", "k-a", "k-admin", "k-shared", "k-gone") if s.may_use_entry(k, t)}
            for t in (a, b, admin)
        }
        assert seen[a.id] == {"k-owner", "k-a", "k-admin", "k-shared"}
        assert seen[b.id] == {"k-owner", "k-admin", "k-shared"}
        assert seen[admin.id] == {"k-owner", "k-a", "k-admin", "k-shared", "k-gone"}

        # Through the cache a job of b sees: a's entry is a miss; b writing the same key
        # records b first; an entry everyone may use stays everyone's when b writes it again.
        from pipefile.digest import FILE, PathDigest

        cache = ActionCache(str(tmp_path / "store"))
        out = {"o": PathDigest(FILE, "0" * 32, 1)}
        cache.put("k-a", out, {}, 0.1)
        cache.put("k-owner", out, {}, 0.1)
        seen_by_b = token_actions(cache, s, b.id)
        assert seen_by_b.get("k-a") is None and seen_by_b.read_raw("k-a") is None
        assert seen_by_b.get("k-owner") == out
        seen_by_b.put("k-a", out, {}, 0.2)
        assert seen_by_b.get("k-a") == out and s.may_use_entry("k-a", a)
        seen_by_b.put("k-owner", out, {}, 0.2)
        assert s.entry_is_public("k-owner")
        seen_by_b.put("k-new", out, {}, 0.2)
        assert not s.may_use_entry("k-new", a) and s.may_use_entry("k-new", b)
    finally:
        js.close()


def test_a_revision_2_2_database_learns_who_made_the_entries_from_its_jobs(tmp_path):
    """Upgrading: the entries served jobs made before they were recorded are theirs (read
    from the steps each job ran); tokens get the share_cache column."""
    path = str(tmp_path / "jobs.db")
    js = JobStore(path)
    s = ServeStore(js)
    tok, text = s.create_token(["invoke:score"])
    js.close()
    db = sqlite3.connect(path)
    # What a 2.2 pipe left: no action_producers, tokens without share_cache.
    db.execute("DROP TABLE action_producers")
    db.execute("ALTER TABLE tokens RENAME TO tokens_new")
    db.execute(
        "CREATE TABLE tokens(id TEXT PRIMARY KEY, sha256 TEXT, scopes TEXT, name TEXT, created REAL, "
        "expires REAL, revoked REAL, last_used REAL)"
    )
    db.execute(
        "INSERT INTO tokens SELECT id, sha256, scopes, name, created, expires, revoked, last_used FROM tokens_new"
    )
    db.execute("DROP TABLE tokens_new")
    db.execute("UPDATE meta SET v='2.2' WHERE k='schema_revision'")
    db.execute(
        "INSERT INTO jobs(id, uid, experiment, status, started, state, endpoint, token_id) "
        "VALUES(1, 'served01', 'score:1', 'succeeded', 1, 'completed', 'score', ?)",
        (tok.id,),
    )
    db.execute("INSERT INTO jobs(id, uid, experiment, status, started) VALUES(2, 'local002', 'x', 'succeeded', 1)")
    for job, step, outcome, key in (
        (1, "ran", "ran", "k-ran"),
        (1, "restored", "restored", "k-restored"),
        (1, "both", "ran", "k-both"),
        (2, "both", "ran", "k-both"),
    ):
        db.execute(
            "INSERT INTO job_steps(job_id, step, outcome, key, inputs, outputs, seconds, finished) "
            "VALUES(?,?,?,?,'{}','{}',0,1)",
            (job, step, outcome, key),
        )
    db.commit()
    db.close()
    js = JobStore(path)
    try:
        assert js.db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()[0] == SCHEMA_REVISION
        assert js.db.execute("SELECT key, token_id FROM action_producers").fetchall() == [("k-ran", tok.id)]
        s = ServeStore(js)
        assert s.authenticate(text).share_cache is False
        assert not s.entry_is_public("k-ran") and s.entry_is_public("k-restored") and s.entry_is_public("k-both")
    finally:
        js.close()


def test_token_create_refuses_a_lifetime_of_zero(repo):
    repo.pipefile("steps:\n  a: {command: 'echo hi > o.txt', outputs: {o: o.txt}}\n")
    for bad in ("0s", "0", "0.0h", "0d"):
        r = repo.pipe("token", "create", "--expires", bad)
        assert r.code == 2 and "--expires" in r.err and "above zero" in r.err and "hint" in r.err.lower(), str(r)
    assert repo.pipe("token", "create", "--expires", "-5s").code == 2
    assert repo.pipe("token", "list", "--json", check=True).json["tokens"] == []  # nothing was made
    made = repo.pipe(
        "token", "create", "--expires", "1h", "--share-cache", "--scope", "invoke:x", "--json", check=True
    ).json
    assert made["share_cache"] is True and made["expires"] > time.time() + 3500
    assert "shares run cache" in repo.pipe("token", "list", check=True).out


@pytest.mark.parametrize(
    "body, message",
    [
        ("assets:\n  d: {path: d.csv, input: yes please}\n", "'input' of asset 'd' must be true or false"),
        ("steps:\n  a:\n    command: x\n    outputs: {o: {path: o.txt, output: 1}}\n", "must be true or false"),
        ("steps:\n  a:\n    command: x\n    outputs: {o: {path: o.txt, outptu: true}}\n", "did you mean 'output'"),
    ],
)
def test_endpoint_keys_are_validated(repo, body, message):
    text = body if body.startswith("steps") else body + "steps:\n  a: {command: x, outputs: {o: o.txt}}\n"
    repo.write("Pipefile", text, dedent=False)
    r = repo.pipe("validate")
    assert r.code == 2 and message in r.err and "Pipefile:" in r.err, str(r)


def test_endpoint_names_must_be_distinct(repo):
    repo.write(
        "Pipefile",
        """\
params:
  data: 1
assets:
  data: {path: d.csv, input: true}
steps:
  a:
    command: x
    outputs: {pred: {path: a.txt, output: true}}
  b:
    command: x
    outputs: {pred: {path: b.txt, output: true}}
""",
        dedent=False,
    )
    r = repo.pipe("validate")
    assert r.code == 2
    assert "Pipefile:11:" in r.err and "endpoint outputs need distinct names" in r.err
    assert "Pipefile:4:" in r.err and "could not tell them apart" in r.err


def test_publish_checks_what_the_deployment_needs(repo):
    repo.write(
        "Pipefile",
        """\
assets:
  data: {type: uri_file, path: data/in.csv, input: true}
steps:
  a:
    command: python score.py ${{inputs.d}} ${{inputs.m}} > ${{outputs.o}}
    inputs: {d: "${{assets.data}}", m: models/model.txt}
    outputs: {o: {path: out.txt, output: true}}
    code: [score.py]
""",
        dedent=False,
    )
    r = repo.pipe("publish")
    assert r.code == 2 and "models/model.txt" in r.err and "score.py" in r.err and "Pipefile:6:" in r.err, str(r)
    repo.write("models/model.txt", "m")
    repo.write("score.py", "print(1)")
    r = repo.pipe("publish", "--endpoint", "sc", "--json", check=True).json
    assert r["number"] == 1 and r["default_deployment"] == 1
    # The input asset's path is not part of the snapshot (each invocation gives it); the rest is.
    from pipefile.workspace import Workspace

    ws = Workspace(str(repo.root), create=False)
    try:
        dep = ServeStore(ws.jobs).deployment("sc", 1)
        assert sorted(dep.manifest["files"]) == ["Pipefile", "models/model.txt", "score.py"]
        assert dep.manifest["inputs"]["data"]["kind"] == "asset" and dep.manifest["outputs"]["o"]["step"] == "a"
        assert ws.store.has(dep.digest)
    finally:
        ws.close()
    assert repo.pipe("publish", "--endpoint", "bad name").code == 2
    # gc keeps what deployments need.
    repo.pipe("gc", check=True)
    repo.write("score.py", "print(2)")
    assert repo.pipe("publish", "--endpoint", "sc", "--json", check=True).json["number"] == 2
    assert repo.pipe("verify").code == 0


def _tar(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def _two_members(mode="w"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name in ("a", "b"):
            info = tarfile.TarInfo(name)
            info.size = 300
            tf.addfile(info, io.BytesIO(b"x" * 300))
    return buf.getvalue()


MEMBER = 512 + 512  # a header block and one data block


def _gz(data):
    import gzip

    return gzip.compress(data)


@pytest.mark.parametrize(
    "data, status",
    [
        # Cut short, or followed by garbage, where a header starts: tarfile alone would stop
        # there quietly and take it for a smaller folder.
        (_two_members()[:MEMBER], 400),
        (_two_members()[: 2 * MEMBER], 400),
        (_two_members()[: MEMBER + 100], 400),
        (_two_members()[:MEMBER] + b"g" * 1024, 400),
        (_gz(_two_members()[:MEMBER]), 400),
        (_tar("../x"), 400),
        (_tar("/abs"), 400),
        (_tar("l", kind=tarfile.SYMTYPE, link="../../etc"), 400),
        (_tar("fifo", kind=tarfile.FIFOTYPE), 400),
        (_tar("dev", kind=tarfile.CHRTYPE), 400),
        (_tar("sparse", kind=tarfile.GNUTYPE_SPARSE), 400),
        (_tar("big", b"x" * 2000), 413),
        (_tar("C:/windows"), 400),
    ],
    ids=lambda v: "" if isinstance(v, bytes) else str(v),
)
def test_archive_members_are_checked_before_anything_is_written(tmp_path, data, status):
    from pipefile.serve.uploads import UploadError, _unpack_tar

    p = tmp_path / "a.tar"
    p.write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UploadError) as e:
        _unpack_tar(str(p), str(dest), 1000)
    assert e.value.status == status
    assert not list(dest.iterdir())


def test_deployment_pins_the_artifact_versions_it_read(repo):
    """A deployment keeps reading the version `latest` meant when it was published; its
    job runs through the worker pool (in this process, no HTTP)."""
    from pipefile.publish import check_request
    from pipefile.serve.worker import Limits, WorkerPool
    from pipefile.workspace import Workspace

    repo.write("Pipefile", "steps:\n  a: {command: x, outputs: {o: o.txt}}\n")
    repo.write("model.txt", "v1\n")
    repo.pipe("asset", "add", "model.txt", "--name", "model", check=True)
    repo.write(
        "Pipefile",
        """\
steps:
  use:
    command: cat ${{inputs.m}} > ${{outputs.o}}
    inputs: {m: "${{artifacts.model}}"}
    outputs: {o: {path: out.txt, output: true}}
""",
        dedent=False,
    )
    repo.pipe("publish", "--endpoint", "m", check=True)
    repo.write("model.txt", "v2\n")
    repo.pipe("asset", "add", "model.txt", "--name", "model", check=True)
    ws = Workspace(str(repo.root))
    pool = WorkerPool(str(repo.root), 1, Limits())
    try:
        serve = ServeStore(ws.jobs)
        dep = serve.deployment("m", 1)
        assert dep.manifest["artifacts"]["model:latest"]["version"] == 1
        checked = check_request(ws, serve, dep, {})
        job, _how = serve.submit(
            "m",
            dep,
            None,
            {"inputs": {}, "params": checked.params, "assets": checked.assets},
            checked.digest,
            None,
            "test",
        )
        pool.start()
        deadline = time.monotonic() + 60
        while ws.jobs.get(job.id).state not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        done = ws.jobs.get(job.id)
        assert done.state == "completed", done.error
        out = ws.jobs.step_record(job.id, "use").outputs["o"]
        assert ws.store.read(out["digest"]) == b"v1\n"
        assert [e["data"]["state"] for e in serve.events(job.id) if e["kind"] == "state"] == [
            "queued",
            "preparing",
            "running",
            "finalizing",
            "completed",
        ]
        assert not (repo.root / ".pipe" / "serve" / "work" / str(job.id)).exists()  # removed after the job
    finally:
        pool.stop()
        ws.close()


def test_a_whole_tar_unpacks_with_or_without_compression(tmp_path):
    from pipefile.serve.uploads import _unpack_tar

    for i, data in enumerate((_two_members(), _two_members("w:gz"), _two_members()[: 2 * MEMBER + 512])):
        p = tmp_path / f"{i}.tar"
        p.write_bytes(data)
        dest = tmp_path / f"dest{i}"
        dest.mkdir()
        _unpack_tar(str(p), str(dest), 10_000)  # the last: one block of zeros ends it, as tarfile reads it
        assert sorted(x.name for x in dest.iterdir()) == ["a", "b"] and (dest / "b").read_bytes() == b"x" * 300


def _peak_bytes(call) -> tuple:
    """(the exception call() raised, or None; the peak of Python allocations while it ran)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            call()
            got = None
        except Exception as e:  # noqa: BLE001 - the caller looks at it
            got = e
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _raw_member(name: str, typ: bytes, data: bytes) -> bytes:
    """One tar member as its header block and padded data, of any type (pax headers in a row)."""
    info = tarfile.TarInfo(name)
    info.type, info.size = typ, len(data)
    return info.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def _pax(records: dict) -> bytes:
    out = b""
    for k, v in records.items():
        body = f" {k}={v}\n".encode()
        n = len(body) + len(str(len(body)))
        n = len(body) + len(str(n))  # the length counts its own digits
        out += str(n).encode() + body
    return out


def _tgz(*members: bytes) -> bytes:
    import gzip

    return gzip.compress(b"".join(members) + b"\0" * 1024, 6)


@pytest.mark.parametrize("case", ["pax comment", "GNU long name", "global headers", "headers in a row"])
def test_tar_headers_are_capped_before_they_are_read(tmp_path, case):
    """A tar's extended headers (pax, GNU long names) are refused over 1 MiB before tarfile
    reads one into memory, more than 8 in a row refused, and the decompressed stream is
    counted: headers and padding beyond 1 MiB plus 64 KiB a member are refused."""
    from pipefile.serve.uploads import UploadError, _unpack_tar

    ok = _raw_member("ok.txt", tarfile.REGTYPE, b"fine")
    big = "a" * (8 << 20)
    data = {
        "pax comment": _tgz(_raw_member("././@PaxHeader", tarfile.XHDTYPE, _pax({"comment": big})), ok),
        "GNU long name": _tgz(_raw_member("././@LongLink", tarfile.GNUTYPE_LONGNAME, big.encode() + b"\0"), ok),
        # Each under the cap, but together far more than a few members' headers.
        "global headers": _tgz(
            *[
                _raw_member("g", tarfile.XGLTYPE, _pax({f"k{i}": "b" * 900_000}))
                + _raw_member(f"ok{i}.txt", tarfile.REGTYPE, b"fine")
                for i in range(4)
            ]
        ),
        "headers in a row": _tgz(*[_raw_member("x", tarfile.XHDTYPE, _pax({"comment": "c"})) for _ in range(20)], ok),
    }[case]
    assert len(data) < 200_000
    p = tmp_path / "bomb.tar.gz"
    p.write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    got, peak = _peak_bytes(lambda: _unpack_tar(str(p), str(dest), 100 << 20))
    assert isinstance(got, UploadError) and got.status in (400, 413), (case, got)
    assert peak < 4 << 20, (case, peak)
    assert not list(dest.iterdir())


def test_ordinary_pax_and_long_names_still_unpack(tmp_path):
    from pipefile.serve.uploads import _unpack_tar

    long = "d" * 150 + "/" + "f" * 200
    for fmt, mode in ((tarfile.PAX_FORMAT, "w:gz"), (tarfile.GNU_FORMAT, "w:bz2"), (tarfile.PAX_FORMAT, "w:xz")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode, format=fmt) as tf:
            for i in range(50):
                info = tarfile.TarInfo(f"{long}{i}")
                info.size = 3
                info.pax_headers = {"comment": "é" * 100} if fmt == tarfile.PAX_FORMAT else {}
                tf.addfile(info, io.BytesIO(b"abc"))
        p = tmp_path / f"ok.{mode[2:]}"
        p.write_bytes(buf.getvalue())
        dest = tmp_path / f"dest-{mode[2:]}"
        dest.mkdir()
        _unpack_tar(str(p), str(dest), 10_000)
        assert len(list((dest / ("d" * 150)).iterdir())) == 50


def _zip_of_empty_members(n: int, announce=None, zip64: bool = False) -> bytes:
    """A zip of n empty stored members named by number, its directory written directly (fast);
    `announce`: the count its end record gives (default n)."""
    import zlib

    local, central, off = [], [], 0
    for i in range(n):
        name = str(i).encode()
        lh = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(b""), 0, 0, len(name), 0) + name
        central.append(
            struct.pack(
                "<4s4B4HL2L5H2L",
                b"PK\x01\x02",
                20,
                3,
                20,
                0,
                0,
                0,
                0,
                0,
                zlib.crc32(b""),
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                off,
            )
            + name
        )
        local.append(lh)
        off += len(lh)
    body, cd = b"".join(local), b"".join(central)
    count = n if announce is None else announce
    end = b""
    if zip64:
        end += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(cd), len(body))
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body) + len(cd), 1)
        count = 0xFFFF
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), len(cd), len(body), 0)
    return body + cd + end


def test_a_zip_with_too_many_members_is_refused_before_its_directory_is_parsed(tmp_path):
    """The member count is read from the end record (zip64 too) and the directory's headers
    counted as zipfile would walk them, before zipfile builds a ZipInfo of each."""
    from pipefile.serve.uploads import MAX_MEMBERS, UploadError, _unpack_zip

    dest = tmp_path / "dest"
    dest.mkdir()
    cases = {
        "many": _zip_of_empty_members(MAX_MEMBERS + 50_000),
        "many, understated": _zip_of_empty_members(MAX_MEMBERS + 50_000, announce=10),
        "announced, zip64": _zip_of_empty_members(3, announce=10**6, zip64=True),
    }
    for what, data in cases.items():
        p = tmp_path / "many.zip"
        p.write_bytes(data)
        got, peak = _peak_bytes(lambda p=p: _unpack_zip(str(p), str(dest), 1 << 20))
        assert isinstance(got, UploadError) and got.status == 413 and "members" in got.message, (what, got)
        assert peak < 2 << 20, (what, peak)  # zipfile never built its member list
        assert not list(dest.iterdir())
    # Well-formed zips, with a comment, and zip64 records, still unpack.
    for what, data in {"zip64": _zip_of_empty_members(5, zip64=True), "plain": _zip_of_empty_members(5)}.items():
        p = tmp_path / f"{what}.zip"
        p.write_bytes(data)
        out = tmp_path / f"out-{what}"
        out.mkdir()
        _unpack_zip(str(p), str(out), 1 << 20)
        assert sorted(x.name for x in out.iterdir()) == ["0", "1", "2", "3", "4"], what
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.comment = b"a comment after the end record"
        zf.writestr("a.txt", "x" * 100)
    p = tmp_path / "comment.zip"
    p.write_bytes(buf.getvalue())
    out = tmp_path / "out-comment"
    out.mkdir()
    _unpack_zip(str(p), str(out), 1 << 20)
    assert (out / "a.txt").read_text() == "x" * 100


def _served_job(serve: ServeStore, token_id) -> int:
    dep = serve.publish("ep", "d" * 32, {"pipefile": "Pipefile", "files": {}, "inputs": {}, "outputs": {}}, "", False)
    job, _how = serve.submit("ep", dep, token_id, {"inputs": {}}, secrets.token_hex(8), None, "t")
    return job.id


def test_artifact_versions_are_seen_by_who_made_them(tmp_path):
    """A version an invoke token's served job made is that token's: another invoke token
    cannot name it (as if it did not exist: errors list only what it sees), and its own job
    with the same content gets a version of its own, so a version number tells nobody that
    someone else holds that content. The owner's versions, an admin's and a --share-cache
    token's are everyone's; an admin token (and the owner, viewer None) sees all."""
    from pipefile.errors import PipefileError

    js = JobStore(str(tmp_path / "jobs.db"))
    try:
        s = ServeStore(js)
        a, _ = s.create_token(["invoke:ep"])
        b, _ = s.create_token(["invoke:ep"])
        admin, _ = s.create_token(["admin"])
        shared, _ = s.create_token(["invoke:ep"], share_cache=True)
        secret = "5" * 32
        v1 = js.add_version("indata", "file", secret, 5, "data/in.txt", _served_job(s, a.id), None, None)
        assert v1.version == 1 and js.artifact("indata", 1, viewer=a.id).digest == secret
        for ref in (("indata", 1), ("indata", None)):
            with pytest.raises(PipefileError) as e:
                js.artifact(*ref, viewer=b.id)
            assert e.value.message == "no artifact 'indata'" and "indata" not in (e.value.hint or ""), e.value
        js.add_version("result", "file", "6" * 32, 5, "build/out.txt", _served_job(s, a.id), "s", "o")
        with pytest.raises(PipefileError) as e:
            js.artifact("resutl", None, viewer=b.id)  # no did-you-mean of a name b cannot see
        assert "result" not in (e.value.hint or ""), e.value
        with pytest.raises(PipefileError) as e:
            js.artifact("resutl", None)  # the owner is told
        assert "'result'" in e.value.hint, e.value

        # b sends the same content: a version of its own, not a's number.
        v2 = js.add_version("indata", "file", secret, 5, "data/in.txt", _served_job(s, b.id), None, None)
        assert v2.version == 2 and js.artifact("indata", None, viewer=b.id).version == 2
        assert (
            js.add_version("indata", "file", secret, 5, "data/in.txt", _served_job(s, b.id), None, None).version == 2
        )  # the same content again: the same version
        with pytest.raises(PipefileError) as e:
            js.artifact("indata", 1, viewer=b.id)
        assert "no version 1" in e.value.message and e.value.hint.endswith(": 2"), e.value
        assert js.artifact("indata", None, viewer=a.id).version == 1  # a's latest is still its own

        # The owner's, an admin's and a sharing token's versions: everyone's.
        v3 = js.add_version("indata", "file", "7" * 32, 5, "data/in.txt", None, None, None)
        v4 = js.add_version("indata", "file", "8" * 32, 5, "data/in.txt", _served_job(s, admin.id), None, None)
        v5 = js.add_version("indata", "file", "9" * 32, 5, "data/in.txt", _served_job(s, shared.id), None, None)
        for tok in (a, b):
            assert [js.artifact("indata", v.version, viewer=tok.id).version for v in (v3, v4, v5)] == [3, 4, 5]
        # An admin's job sees everything: a's content is a's version, not a new one.
        assert js.add_version("indata", "file", secret, 5, "x", _served_job(s, admin.id), None, None).version == 1
        # b's own content that is public already: the public version.
        assert js.add_version("indata", "file", "7" * 32, 5, "x", _served_job(s, b.id), None, None).version == 3
        assert [v.version for v in js.artifacts("indata")] == [1, 2, 3, 4, 5]  # the owner lists all
        assert js.artifact("indata", 1).digest == secret
    finally:
        js.close()


def test_a_revision_2_3_database_learns_who_made_its_artifact_versions(tmp_path):
    """Upgrading: the versions served jobs made before they were recorded are their tokens'."""
    path = str(tmp_path / "jobs.db")
    js = JobStore(path)
    s = ServeStore(js)
    tok, _ = s.create_token(["invoke:ep"])
    other, _ = s.create_token(["invoke:ep"])
    served = _served_job(s, tok.id)
    js.add_version("indata", "file", "5" * 32, 5, "data/in.txt", served, None, None)
    js.add_version("model", "file", "6" * 32, 5, "model.bin", None, None, None)
    js.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE artifact_producers")  # what a 2.3 pipe left
    db.execute("UPDATE meta SET v='2.3' WHERE k='schema_revision'")
    db.commit()
    db.close()
    js = JobStore(path)
    try:
        assert js.db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()[0] == SCHEMA_REVISION
        assert js.db.execute("SELECT * FROM artifact_producers").fetchall() == [("indata", 1, tok.id)]
        assert js.artifact("indata", 1, viewer=tok.id).version == 1
        assert js.artifact("model", 1, viewer=other.id).version == 1
        from pipefile.errors import PipefileError

        with pytest.raises(PipefileError):
            js.artifact("indata", 1, viewer=other.id)
    finally:
        js.close()


def test_a_served_param_outside_its_enum_is_refused(repo):
    """The deployment's input schema carries a param's enum, and a request is checked against it."""
    from pipefile.publish import RequestError, check_request
    from pipefile.workspace import Workspace

    repo.write(
        "Pipefile",
        """\
params:
  model: {type: string, default: ridge, enum: [ridge, lasso]}
steps:
  a:
    command: echo ${{params.model}} > ${{outputs.o}}
    outputs: {o: {path: out.txt, output: true}}
""",
        dedent=False,
    )
    repo.pipe("publish", "--endpoint", "m", check=True)
    ws = Workspace(str(repo.root))
    try:
        serve = ServeStore(ws.jobs)
        dep = serve.deployment("m", 1)
        assert dep.manifest["inputs"]["model"]["enum"] == ["ridge", "lasso"]
        with pytest.raises(RequestError) as e:
            check_request(ws, serve, dep, {"model": "lasos"})
        assert "not one of its enum values" in e.value.message and e.value.field == "inputs.model"
        assert "did you mean 'lasso'?" in e.value.hint and "ridge, lasso" in e.value.hint
        assert check_request(ws, serve, dep, {"model": "lasso"}).params == {"model": "lasso"}
    finally:
        ws.close()
