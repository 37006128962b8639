"""Review of jobs, logs and their commands as a demanding user meets them: huge logs, odd
names, odd arguments. Real processes and files throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workspace_repo import PIPE, Repo

BIG = 32_000_000  # bytes of log: far more than pipe itself needs to print it


def _max_rss_mib(cmd: list, cwd) -> tuple:
    """(exit status, peak resident memory in MiB) of `cmd`, its output thrown away: measured
    by a parent of its own, so that no earlier child of the test counts."""
    code = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code, *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    rc, mib = out.stdout.split()
    return int(rc), int(mib)


def test_pipe_logs_prints_a_huge_log_without_holding_it(repo: Repo):
    # `pipe logs` read the whole log into memory, decoded it into a second copy and handed
    # that to click (a third): a log of gigabytes took gigabytes. It is printed a piece at a
    # time now, plainly, with --follow and for every step alike.
    repo.pipefile(
        f"""\
        version: 1
        steps:
          chatty:
            command: yes 'one line of a long training log' | head -c {BIG}; echo done > ${{{{outputs.o}}}}
            outputs: {{o: o.txt}}
        """
    )
    repo.pipe("run", check=True)
    assert os.path.getsize(repo.root / ".pipe/jobs/1/chatty.log") == BIG
    for args in (["logs", "last"], ["logs", "last", "chatty"], ["logs", "1", "chatty", "--follow"]):
        rc, mib = _max_rss_mib(PIPE + args, repo.root)
        assert rc == 0 and mib < 60, (args, rc, mib)
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    with open(repo.root / "printed", "wb") as out:
        subprocess.run(PIPE + ["logs", "last"], cwd=repo.root, env=env, stdout=out, check=True)
    header = b"==> chatty <==\n"
    assert os.path.getsize(repo.root / "printed") == len(header) + BIG  # every byte, once
    with open(repo.root / "printed", "rb") as f:
        assert f.read(len(header) + 32) == header + b"one line of a long training log\n"
        f.seek(-32, os.SEEK_END)
        assert f.read() == b"one line of a long training log\n"


def test_pipe_logs_heads_each_log_with_its_step_name_escaped(repo: Repo):
    # A task's name holds its matrix values as written: `pipe logs` headed its log with the
    # name raw, so a newline in a value split the header over two lines (forging a line of
    # output) and an escape sequence drove the terminal (--follow) or was cut out of the name
    # (click strips colour codes when the output is not a terminal): `m[x=clear]`.
    repo.pipefile(
        """\
        version: 1
        steps:
          m:
            matrix:
              x: ["\\e[2Jclear", "a\\nb"]
            inputs:
              x: {type: string}
            command: echo hello > ${{outputs.o}}/f; echo said
            outputs:
              o: out/
        """
    )
    repo.pipe("run", check=True)
    for args in (["logs", "last"], ["logs", "1", "--follow"]):
        out = repo.pipe(*args, check=True).out
        heads = [line for line in out.splitlines() if line.startswith("==>")]
        assert sorted(heads) == ["==> m[x=\\x1b[2Jclear] <==", "==> m[x=a\\nb] <=="], (args, out)
        assert "\x1b" not in out and out.count("said\n") == 2, (args, out)


def test_pipe_jobs_refuses_a_negative_count(repo: Repo):
    # `pipe jobs -n -1` was read as a Python slice: every job but the oldest, as if that were
    # what was asked. A count is 0 (all) or more, as for `pipe metrics history -n`.
    repo.pipefile(
        """\
        version: 1
        params: {n: 1}
        steps:
          s:
            command: echo ${{params.n}} > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)
    repo.pipe("run", "-p", "n=2", check=True)
    r = repo.pipe("jobs", "-n", "-1")
    assert r.code == 2 and "-1 is not in the range x>=0" in r.err, str(r)
    assert [j["id"] for j in repo.pipe("jobs", "-n", "0", "--json", check=True).json["jobs"]] == [2, 1]


def test_artifacts_get_to_a_path_that_cannot_be_written_is_exit_2(repo: Repo):
    # `pipe artifacts get -o` under a file, in /proc or /sys ended in a traceback's exit 70
    # (FileExistsError, FileNotFoundError, PermissionError); `-o new/` for a file version
    # wrote a file named `new` (the slash dropped), exit 0.
    repo.write("d.txt", "data\n")
    repo.pipefile(
        """\
        steps:
          s:
            command: echo ok > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    assert repo.pipe("asset", "add", "d.txt", "--name", "data").code == 0
    for dest in ("Pipefile/x", "/proc/pipe-test/x"):
        r = repo.pipe("artifacts", "get", "data:1", "-o", dest)
        assert r.code == 2 and f"cannot write data:1 at '{dest}'" in r.err and "hint:" in r.err, str(r)
    r = repo.pipe("artifacts", "get", "data:1", "-o", "new/")
    assert r.code == 2 and "'new/' names a folder" in r.err and "new/data" in r.err, str(r)
    assert not repo.exists("new")
    assert repo.pipe("artifacts", "get", "data:1", "-o", "new/d.txt", check=True).code == 0
    assert (repo.root / "new/d.txt").read_text() == "data\n"


def test_asset_add_of_a_device_or_a_fifo_is_refused_not_read_for_ever(repo: Repo, tmp_path):
    # `pipe asset add /dev/zero` hashed without end (and a link to it the same); a FIFO
    # waited for a writer for ever. An asset is a file or a folder: anything else is exit 2.
    repo.pipefile("version: 1\nsteps: {}\n")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    for path, what in (
        ("/dev/zero", "a device"),
        (str(tmp_path / "zero"), "a device"),
        (str(tmp_path / "fifo"), "a FIFO"),
    ):
        r = repo.pipe("asset", "add", path, "--name", "data", timeout=30)
        assert r.code == 2 and f"is {what}, not a file or a folder" in r.err and "hint:" in r.err, str(r)
    assert "no artifacts yet" in repo.pipe("artifacts", check=True).out


def test_pipe_logs_reads_only_the_jobs_own_log_folder(repo: Repo, tmp_path):
    # STEP was joined to the job's log folder as it was: `pipe logs 1 /abs/x` (or enough
    # `../`) printed any x.log on the machine as if it were the job's log, exit 0.
    (tmp_path / "elsewhere.log").write_text("not a log of this job\n")
    repo.pipefile(
        """\
        steps:
          s:
            command: echo said; echo ok > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)
    up = "../" * (len((repo.root / ".pipe/jobs/1").parts) - 1)
    for step in (str(tmp_path / "elsewhere"), up + str(tmp_path / "elsewhere").lstrip("/")):
        for extra in ([], ["--json"], ["--follow"]):
            r = repo.pipe("logs", "1", step, *extra)
            assert r.code == 2 and "has no step" in r.err and "not a log" not in r.out, (extra, str(r))
    assert repo.pipe("logs", "1", "s", check=True).out == "said\n"


def _damage_tables(db_path, tables) -> None:
    """Write garbage over the first page of each of `tables` in the SQLite file `db_path`
    (its log folded in first), as a disk fault or a copy taken mid-write leaves it."""
    import sqlite3

    db = sqlite3.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [
        r[0]
        for r in db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name IN (%s)" % ",".join("?" * len(tables)), tables
        )
    ]
    db.close()
    with open(db_path, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xff" * 100)


def test_a_damaged_job_database_is_named_with_its_fix_not_an_internal_error(repo: Repo):
    # A jobs.db whose header is fine but whose pages are not (a disk fault, a copy taken while
    # a run wrote it) got through the open: every command that then read a job ended in
    # "internal error: DatabaseError('database disk image is malformed')", exit 70.
    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: echo hi > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)
    _damage_tables(repo.root / ".pipe/jobs.db", ("jobs", "job_steps"))
    for args in (["jobs"], ["jobs", "show", "last"], ["logs", "last"], ["lineage", "o.txt"], ["run"]):
        r = repo.pipe(*args)
        assert r.code == 2, (args, str(r))
        assert "jobs.db is damaged (database disk image is malformed)" in r.err and ".recover" in r.err, str(r)
        assert "internal error" not in r.err, str(r)


def test_a_job_database_another_process_keeps_locked_is_a_clear_error(tmp_path, capsys):
    # Another process holding a write transaction on jobs.db (sqlite3 left in BEGIN, a database
    # browser) made a run wait 30 s, then end in "internal error: OperationalError('database
    # is locked')", exit 70. The wait is cut short here (busy_timeout) to keep the test quick.
    import pytest

    from pipefile.cli.guard import guard
    from pipefile.jobdb.jobs import JobStore

    path = str(tmp_path / "jobs.db")
    JobStore(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('BEGIN EXCLUSIVE'); db.execute('DELETE FROM noop_jobs'); print('held', flush=True); "
            "time.sleep(60)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        store = JobStore(path)
        store.db.execute("PRAGMA busy_timeout=100")
        with pytest.raises(SystemExit) as exit_:
            guard(lambda: store.begin("e", "Pipefile", "d", {}, {}, [], [], None, None, "me"))()
        err = capsys.readouterr().err
        assert exit_.value.code == 2, err
        assert f"{path} is locked: another process held a write on it" in err and "fuser" in err, err
        store.close()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_columns_a_newer_revision_appends_are_ignored_not_an_internal_error(repo: Repo):
    # docs/jobs.md: the columns a newer schema revision adds are added in place, and pipes
    # that predate them ignore them. They did not: a `jobs` row read whole (27 values) and
    # rows inserted without column names (metrics, points, artifact versions) failed once a
    # table had one more column: every command that read or recorded a job, exit 70.
    import sqlite3

    repo.write("data.txt", "d\n")
    repo.pipefile(
        """\
        version: 1
        params: {n: 1}
        assets:
          raw: {path: data.txt, name: raw}
        steps:
          s:
            command: >-
              echo '{"name": "loss", "value": ${{params.n}}}' >> "$PIPE_METRICS_STREAM";
              echo '{"acc": ${{params.n}}}' > ${{outputs.m}}; cat ${{inputs.raw}} > ${{outputs.o}}
            inputs: {raw: "${{assets.raw}}"}
            outputs:
              o: {path: o.txt, name: out}
              m: m.json
            metrics: [m.json]
        """
    )
    repo.pipe("run", check=True)
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    tables = [
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'") if r[0] != "sqlite_sequence"
    ]
    for table in tables:
        db.execute(f"ALTER TABLE {table} ADD COLUMN later_{table} TEXT")
    db.execute("UPDATE meta SET v='2.999' WHERE k='schema_revision'")  # (a newer pipe's stamp)
    db.commit()
    db.close()
    repo.write("data.txt", "e\n")
    r = repo.pipe("run", "-p", "n=2")
    assert r.code == 0, str(r)
    for args in (
        ["jobs", "--json"],
        ["jobs", "show", "last", "--json"],
        ["metrics", "show", "1", "2", "--json"],
        ["metrics", "curve", "last", "s.loss", "--json"],
        ["artifacts", "show", "out", "--json"],
        ["lineage", "out:2", "--json"],
    ):
        r = repo.pipe(*args)
        assert r.code == 0 and "internal error" not in r.err, (args, str(r))
    assert repo.pipe("metrics", "show", "last", "--json", check=True).json["jobs"][0]["metrics"] == {
        "s.acc": 2.0,
        "s.loss": 2.0,
    }
    assert [v["version"] for v in repo.pipe("artifacts", "show", "out", "--json", check=True).json["versions"]] == [
        1,
        2,
    ]


def test_pipe_jobs_reads_only_the_jobs_it_shows_of_a_long_history(repo: Repo):
    # `pipe jobs` read every job of the history whole (params, code, argv decoded), filtered
    # them in Python, and did it twice (once more to count the hidden no-ops): 0.7 s and 140
    # MB on 5,000 jobs, growing with the history however few it showed (-n 20). SQLite filters
    # and counts now, and the list is read only up to -n.

    from pipefile.jobdb.jobs import JobStore

    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: echo hi > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)  # job 1
    store = JobStore(str(repo.root / ".pipe/jobs.db"))
    params = {f"p{i}": "x" * 100 for i in range(200)}  # 20 kB a job
    row = store.db.execute("SELECT * FROM jobs WHERE id=1").fetchone()
    cols = [r[1] for r in store.db.execute("PRAGMA table_info(jobs)")][1:]
    values = dict(zip(cols, row[1:]))
    values["params"] = json.dumps(params)
    step = store.db.execute("SELECT * FROM job_steps WHERE job_id=1").fetchone()
    gone = subprocess.Popen(["true"])
    gone.wait()  # (its id: a process that no longer exists)
    store.db.execute("BEGIN")
    for i in range(2, 3002):
        values.update(uid=f"{i:08x}", experiment="noisy" if i % 2 else "quiet", status="succeeded")
        if i % 500 == 0:
            values.update(status="running", pid=gone.pid)  # (its process is gone: reads interrupted)
        store.db.execute(f"INSERT INTO jobs(id, {', '.join(cols)}) VALUES(?{', ?' * len(cols)})", (i, *values.values()))
        store.db.execute("INSERT INTO job_steps VALUES(?" + ", ?" * (len(step) - 1) + ")", (i, *step[1:]))
        if i % 3 == 0 and values["status"] == "succeeded":
            store.db.execute("INSERT INTO noop_jobs(job_id) VALUES(?)", (i,))
    store.db.execute("COMMIT")
    store.close()
    for args in (["jobs"], ["jobs", "-e", "quiet", "-n", "5"], ["jobs", "--json"]):
        rc, mib = _max_rss_mib(PIPE + args, repo.root)
        assert rc == 0 and mib < 45, (args, rc, mib)
    # What is listed and counted is as before.
    got = repo.pipe("jobs", "-e", "quiet", "-n", "4", "--json", check=True).json
    assert [j["id"] for j in got["jobs"]] == [3000, 2998, 2996, 2992]  # 2994: a no-op
    assert got["hidden"] == len([i for i in range(2, 3002, 2) if i % 3 == 0 and i % 500])
    got = repo.pipe("jobs", "-s", "interrupted", "-n", "0", "--json", check=True).json
    assert [j["id"] for j in got["jobs"]] == [3000, 2500, 2000, 1500, 1000, 500], got["jobs"][0]["status"]
    assert got["hidden"] == 0 and got["jobs"][0]["status"] == "interrupted"
    assert repo.pipe("jobs", "-s", "running", "--json", check=True).json == {"jobs": [], "hidden": 0}
    got = repo.pipe("jobs", "--all", "-n", "5", "--json", check=True).json
    assert [j["noop"] for j in got["jobs"]] == [False, False, False, False, True] and got["hidden"] == 0


def test_a_mistyped_uid_of_digits_only_gets_its_did_you_mean(repo: Repo):
    # One uid in forty is all digits (8 hex digits, each 0-9 with chance 10/16). A mistyped one
    # was looked up as a job id only: "no job '49552010'" without "did you mean '49552014'"
    # (tests/test_metrics.py failed so, now and then).
    import sqlite3

    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: echo hi > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    db.execute("UPDATE jobs SET uid='49552014' WHERE id=1")
    db.commit()
    db.close()
    for args in (["jobs", "show", "49552010"], ["metrics", "show", "49552010"]):
        r = repo.pipe(*args)
        assert r.code == 2 and "did you mean '49552014'" in r.err, str(r)
    r = repo.pipe("jobs", "show", "3")  # a short number is an id: its hint names the ids
    assert r.code == 2 and "the only job here is 1" in r.err, str(r)
    assert repo.pipe("jobs", "show", "4955", "--json", check=True).json["id"] == 1  # (a prefix still finds it)


def _two_jobs(repo: Repo) -> None:
    repo.pipefile(
        """\
        version: 1
        params: {lr: 0.1}
        steps:
          train:
            command: >-
              echo ${{params.lr}} > ${{outputs.o}}; echo "acc: ${{params.lr}}" > ${{outputs.m}}
            outputs: {o: o.txt, m: m.yaml}
            metrics: [m.yaml]
        """
    )
    repo.pipe("run", check=True)
    repo.pipe("run", "-p", "lr=0.2", check=True)


def _set(repo: Repo, sql: str, *args) -> None:
    import sqlite3

    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    with db:
        db.execute(sql, args)
    db.close()


def test_a_damaged_job_record_is_named_and_the_other_jobs_still_listed(repo: Repo):
    # A job row whose JSON was cut short or edited by hand made `pipe jobs` an internal error
    # (exit 70, a JSONDecodeError), and every job with it. The listing shows every job it can
    # read (the damaged one too, as far as it reads), then names the record, the column and
    # the fix, exit 2; a command about that one job says the same.
    _two_jobs(repo)
    _set(repo, "UPDATE jobs SET params=? WHERE id=1", '{"lr": 0.')
    r = repo.pipe("jobs")
    assert r.code == 2, str(r)
    assert "internal error" not in r.err
    ids = [line.split()[0] for line in r.out.splitlines()[1:]]
    assert ids == ["2", "1"], r.out
    assert "the record of job 1 is damaged: its `params` is not JSON" in r.err, r.err
    assert "UPDATE jobs SET params=NULL WHERE id=1" in r.err, r.err
    r = repo.pipe("jobs", "--json")
    assert r.code == 2 and [j["id"] for j in r.json["jobs"]] == [2, 1], str(r)
    assert "damaged" in r.json["jobs"][1] and "damaged" not in r.json["jobs"][0]
    r = repo.pipe("jobs", "show", "1")
    assert r.code == 2 and "the record of job 1 is damaged" in r.err, str(r)
    assert repo.pipe("jobs", "show", "2").code == 0
    # a metric's history too: every job, then the error (it read every job whole, or failed)
    r = repo.pipe("metrics", "history", "acc")
    assert r.code == 2 and "the record of job 1 is damaged" in r.err, str(r)
    assert [line.split()[0] for line in r.out.splitlines()[2:4]] == ["1", "2"], r.out
    # JSON of another shape (a list where a mapping belongs) is damage too, not a crash later
    _set(repo, "UPDATE jobs SET params='[1]' WHERE id=1")
    r = repo.pipe("jobs", "show", "1")
    assert r.code == 2 and "is JSON, but not a mapping" in r.err, str(r)
    # the hint's fix works: the job reads again, without its params
    _set(repo, "UPDATE jobs SET params=NULL WHERE id=1")
    assert repo.pipe("jobs").code == 0
    assert repo.pipe("jobs", "show", "1").code == 0


def test_a_damaged_step_record_is_named(repo: Repo):
    # The same for a step's row: `pipe jobs show` and `pipe lineage` read its inputs and outputs.
    _two_jobs(repo)
    _set(repo, 'UPDATE job_steps SET outputs=\'{"o": {"path\' WHERE job_id=2')
    r = repo.pipe("jobs", "show", "2")
    assert r.code == 2, str(r)
    assert "the record of step 'train' of job 2 is damaged: its `outputs` is not JSON" in r.err, r.err
    assert "\"UPDATE job_steps SET outputs=NULL WHERE job_id=2 AND step='train'\"" in r.err, r.err
    assert repo.pipe("jobs").code == 0  # (the listing reads no step's JSON)


_UNSET = """\
type: pipeline
inputs:
  lr: {type: number, optional: true}
  tag:
jobs:
  c:
    component: ./c.yml
    inputs:
      lr: ${{parent.inputs.lr}}
      tag: ${{parent.inputs.tag}}
"""

_UNSET_COMPONENT = """\
type: command
inputs:
  lr: {type: number, optional: true}
  tag: {type: string, optional: true}
command: echo lr=$[[${{inputs.lr}}]] tag=$[[${{inputs.tag}}]] > ${{outputs.o}}/o.txt
outputs:
  o: {type: uri_folder}
"""


def test_a_param_with_no_value_is_said_so_never_none(repo: Repo):
    # An Azure ML pipeline input given no value is a param whose value is None: `pipe jobs
    # show` printed `lr=None` (Python's word), `pipe params diff` `-` as for a param the job
    # has not got, and the job's HTML page `null`.
    repo.write("pipeline.yml", _UNSET)
    repo.write("c.yml", _UNSET_COMPONENT)
    repo.pipe("run", "-f", "pipeline.yml", check=True)
    repo.pipe("run", "-f", "pipeline.yml", "-p", "lr=0.5", "-p", "tag=a, b", check=True)
    shown = repo.pipe("jobs", "show", "1", "-f", "pipeline.yml", check=True).out
    assert "params: lr=(no value), tag=(no value)" in shown and "None" not in shown, shown
    shown = repo.pipe("jobs", "show", "2", "-f", "pipeline.yml", check=True).out
    assert 'params: lr=0.5, tag="a, b"' in shown, shown  # (text quoted: its comma is no new param)
    diff = repo.pipe("params", "diff", "1", "2", "-f", "pipeline.yml", check=True).out
    assert diff.splitlines()[1].split() == ["lr", "(no", "value)", "0.5", "changed"], diff
    repo.pipe("report", "2", "-f", "pipeline.yml", "-o", "page.html", check=True)
    page = repo.read("page.html")
    assert "(no value)" in page and ">null<" not in page and ">None<" not in page


def test_a_param_set_twice_with_other_values_says_the_last_is_used(repo: Repo):
    # `-p lr=0.1 -p lr=0.5` ran with 0.5 and recorded it, without a word: a script's default
    # and the user's value on one command line. The last still wins (a script's defaults
    # before "$@" are overridden so, as make's VAR=, docker's -e do), and a warning says so.
    _two_jobs(repo)
    for command in (("run",), ("status",), ("validate",)):
        r = repo.pipe(*command, "-p", "lr=0.1", "-p", "lr=0.5")
        assert r.code == 0, str(r)
        assert "warning: -p lr=0.5 replaces -p lr=0.1 given before it: the last given is used" in r.err, r.err
    shown = repo.pipe("jobs", "show", "last", "--json", check=True).json
    assert shown["params"]["lr"] == 0.5, shown
    # the same value twice, written two ways, is no conflict
    r = repo.pipe("run", "-p", "lr=0.5", "-p", "lr=.5")
    assert r.code == 0 and "replaces" not in r.err, str(r)


def test_a_read_only_jobs_db_is_said_not_an_internal_error(repo: Repo):
    # jobs.db on a read-only mount (or a read-only file): the listing reads it, but `pipe run`
    # was an internal error at its first record (OperationalError: attempt to write a readonly
    # database, exit 70). As root only a read-only mount makes it so: one in a mount namespace
    # of the command's own (skipped where this machine allows none).
    import shutil

    import pytest

    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    _two_jobs(repo)
    db = str(repo.root / ".pipe/jobs.db")
    script = (
        f"mount --bind {db} {db} && mount -o remount,bind,ro {db} || exit 99; "
        f"{sys.executable} -m pipefile jobs >/dev/null || exit 98; exec {sys.executable} -m pipefile run -p lr=0.7"
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=repo.root, env=env, capture_output=True, text=True)
    if r.returncode == 99 or "unshare:" in r.stderr:
        pytest.skip(f"no read-only mount here: {r.stderr.strip()[:200]}")
    assert r.returncode == 2, r.stderr
    assert f"{db} is read-only, and this command records in it" in r.stderr, r.stderr
    assert "chmod u+w" in r.stderr and "nothing was changed" in r.stderr
    assert repo.read("o.txt") == "0.2\n"  # nothing ran


def test_jobs_compare_names_the_commands_that_compare_jobs(repo: Repo):
    # `pipe jobs compare 1 2` (or `jobs diff`, `metrics compare`) said only "No such command".
    _two_jobs(repo)
    for args in (("jobs", "compare", "1", "2"), ("jobs", "diff", "1", "2"), ("metrics", "compare", "1", "2")):
        r = repo.pipe(*args)
        assert r.code == 2, str(r)
        assert "`pipe metrics diff JOB_A JOB_B`" in r.err and "`pipe params diff JOB_A JOB_B`" in r.err, r.err
    assert "Did you mean 'show'?" in repo.pipe("jobs", "shwo").err  # (click's own, kept)
    assert repo.pipe("metrics", "diff", "1", "2").code == 0


def test_jobs_show_lists_the_step_running_and_the_one_a_kill_cut_off(repo: Repo):
    # A step is recorded as it ends: `pipe jobs show` of a running job listed only the steps
    # done, not the one running; after kill -9 of the pipe, nothing said which step it was in.
    import signal
    import time

    repo.pipefile(
        """\
        version: 1
        steps:
          fast:
            command: echo a > ${{outputs.o}}
            outputs: {o: a.txt}
          slow:
            inputs: {a: "${{steps.fast.outputs.o}}"}
            command: >-
              for i in $(seq 600); do [ -e go ] && break; sleep 0.1; done; cp ${{inputs.a}} ${{outputs.o}}
            outputs: {o: b.txt}
        """
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    run = subprocess.Popen(PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (repo.root / ".pipe/jobs/1/slow.log").exists() and time.time() < deadline:
            time.sleep(0.1)
        r = repo.pipe("jobs", "show", "1")
        rows = {line.split()[0]: line.split()[1] for line in r.out.splitlines()[4:]}
        assert rows == {"fast": "ran", "slow": "running"}, r.out
        assert r.out.rstrip().endswith(".pipe/jobs/1/slow.log")
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        r = repo.pipe("jobs", "show", "1")
        rows = {line.split()[0]: line.split()[1] for line in r.out.splitlines()[4:]}
        assert rows == {"fast": "ran", "slow": "interrupted"}, r.out
        shown = repo.pipe("jobs", "show", "1", "--json").json
        assert [s["step"] for s in shown["steps"]] == ["fast"]  # (the records as they are)
        assert shown["unfinished"] == [{"step": "slow", "log": ".pipe/jobs/1/slow.log"}]
    finally:
        (repo.root / "go").touch()  # (the orphaned step ends)
        if run.poll() is None:
            run.kill()
            run.wait()
    repo.pipe("run", check=True)
    r = repo.pipe("jobs", "show", "2", "--json")
    assert "unfinished" not in r.json, r.out


def test_jobs_show_of_a_record_without_a_pipefile_digest_prints_no_empty_brackets(repo: Repo):
    # A record with no snapshot of its Pipefile (one written by an older pipe) printed
    # `pipefile Pipefile ()`.
    _two_jobs(repo)
    _set(repo, "UPDATE jobs SET pipefile_digest=NULL, pipefile=NULL WHERE id=1")
    r = repo.pipe("jobs", "show", "1")
    assert r.code == 0 and "  pipefile -  git -" in r.out.splitlines(), r.out
    assert "()" not in r.out
