"""The designer at scale and under hostile input, reviewed as a user drives it: real `pipe
run` jobs, a real `pipe ui` on 127.0.0.1 (test_ui_server's `Ui`), what the page is sent."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ui_server import start  # noqa: F401 - the fixture
from workspace_repo import Repo

from pipefile.ui import jobs_view

pytest.importorskip("httpx")


def _events(text: str) -> list:
    """(event, data) of an event stream's text."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


BIG_LOGS = """\
version: 1
steps:
  lines:
    command: python -c "import sys; sys.stdout.write(''.join('line %06d of a long log\\\\n' % i for i in range(200000)))"
  oneline:
    command: python -c "import sys; sys.stdout.write('x' * 3000000)"
"""


def test_a_long_log_is_followed_from_its_tail_with_a_note_not_sent_whole(start, tmp_path):  # noqa: F811
    # The page follows every log it opens (?follow=1), and the follower sent the whole file
    # from its first byte, one event a line: a 47 MB log was 68 MB of events over a minute
    # and froze the page. A log with no newline was held whole in memory and sent as one line.
    repo = Repo(tmp_path)
    repo.pipefile(BIG_LOGS)
    assert repo.pipe("run").code == 0
    ui = start(repo.root)
    r = ui.get("/api/jobs/1/steps/lines/log", params={"follow": "1"})
    assert r.status_code == 200
    assert len(r.content) < 2 * 2**20  # (6 MB of log: 9 MB of events before)
    events = _events(r.text)
    lines = [d["text"] for e, d in events if e == "line"]
    assert events[-1][0] == "end"
    assert len(lines) == jobs_view.FOLLOW_LINES + 1  # the note, then the last lines, whole
    assert lines[0].startswith("[pipe ui: ") and ".pipe/jobs/1/lines.log has it whole" in lines[0]
    assert lines[1] == f"line {200000 - jobs_view.FOLLOW_LINES:06d} of a long log"
    assert lines[-1] == "line 199999 of a long log"

    r = ui.get("/api/jobs/1/steps/oneline/log", params={"follow": "1"})
    pieces = [d["text"] for e, d in _events(r.text) if e == "line"]
    assert pieces[0].startswith("[pipe ui: ")
    assert all(len(p) <= jobs_view.LINE_MAX for p in pieces[1:])
    assert "".join(pieces[1:]) == "x" * jobs_view.FOLLOW_BYTES  # the tail, in pieces


def test_a_short_log_is_followed_whole_without_a_note(start, tmp_path):  # noqa: F811
    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a:\n    command: python -c \"print('one'); print('two')\"\n")
    assert repo.pipe("run").code == 0
    ui = start(repo.root)
    r = ui.get("/api/jobs/1/steps/a/log", params={"follow": "1"})
    assert [d["text"] for e, d in _events(r.text) if e == "line"] == ["one", "two"]


def _copy_job(db_path, copies: int) -> None:
    """The job database's job 1 (and its steps) copied as jobs 2..copies+1: a long history
    without running thousands of jobs."""
    import sqlite3

    db = sqlite3.connect(db_path)
    job = db.execute("SELECT * FROM jobs WHERE id=1").fetchone()
    steps = db.execute("SELECT * FROM job_steps WHERE job_id=1").fetchall()
    for i in range(2, copies + 2):
        db.execute(f"INSERT INTO jobs VALUES ({','.join('?' * len(job))})", (i, f"{i:08x}", *job[2:]))
        for s in steps:
            db.execute(f"INSERT INTO job_steps VALUES ({','.join('?' * len(s))})", (i, *s[1:]))
    db.commit()
    db.close()


def test_the_newest_jobs_of_a_long_history_are_read_without_reading_every_job(tmp_path, monkeypatch):
    # A run the designer starts looks for its job in the newest 20, every 50 ms, and the job
    # list asks for the newest 50: each read every job of the database first (43 ms each
    # with 5,000 jobs: half a core while a run waited for the workspace).
    from pipefile.jobdb import jobs as jobs_mod
    from pipefile.ui.home import WorkspacePerThread

    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'echo a > ${{outputs.o}}', outputs: {o: a.txt}}\n")
    assert repo.pipe("run").code == 0
    _copy_job(tmp_path / ".pipe" / "jobs.db", 4999)
    store = WorkspacePerThread(str(tmp_path))().jobs
    every = store.jobs()
    assert len(every) == 5000 and every[0].id == 5000
    read = []
    real = jobs_mod.job_from_row

    def counted(row, *args, **kwargs):  # (the real conversion, counted: no mock)
        read.append(row)
        return real(row, *args, **kwargs)

    monkeypatch.setattr(jobs_mod, "job_from_row", counted)
    newest = store.jobs(limit=20)
    assert [j.id for j in newest] == [j.id for j in every[:20]]
    assert len(read) == 20
    assert [j.id for j in store.jobs(status="succeeded", limit=3)] == [5000, 4999, 4998]


@pytest.mark.parametrize("header", ["c0" + "".join(f",c{i}" for i in range(1, 60000)), "x," * 500000])
def test_a_csv_whose_first_line_is_over_the_preview_s_read_is_text_not_an_empty_table(tmp_path, header):
    # 100,000 columns (or a file with no newline): no whole line in the 256 KiB read, and the
    # preview was a table of no columns and no rows, as if the file were empty.
    from pipefile.ui import previews

    f = tmp_path / "wide.csv"
    f.write_text(header + "\n" + "1," * 10 + "\n")
    got = previews.preview_file(str(f), "wide.csv", f.stat().st_size)
    assert got["kind"] == "text" and got["truncated"] is True
    assert got["text"] == header[: previews.TEXT_MAX]
    assert "over 256 KiB" in got["note"]
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,2\n")
    assert previews.preview_file(str(small), "small.csv", 8)["rows"] == [["1", "2"]]


def _longest_step_before_a_dot(key: str, names) -> object:
    """The rule compare had (every step tried, longest first): what _step_of must still say."""
    return next((n for n in sorted(names, key=len, reverse=True) if key.startswith(n + ".")), None)


_PART = st.sampled_from(["a", "b", "fit", "fit[a=1", "b=2]", "x.y", "", "loss"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_PART, min_size=1, max_size=3).map(".".join), max_size=6),
    st.lists(_PART, min_size=1, max_size=5).map(".".join),
)
def test_a_metric_s_step_is_the_longest_step_name_before_one_of_its_dots(names, key):
    from pipefile.ui import compare

    assert compare._step_of(key, set(names)) == _longest_step_before_a_dot(key, names)


def test_two_jobs_of_6400_tasks_with_metrics_compare_in_well_under_the_seconds_it_took(tmp_path):
    # Each metric's step was found by trying every step name: 6,400 tasks with 3 metrics
    # each took 5.5 s (19,200 keys x 6,402 names) before the page's compare showed anything.
    import sqlite3
    import time

    from pipefile.ui import compare
    from pipefile.ui.home import WorkspacePerThread

    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'echo a > ${{outputs.o}}', outputs: {o: a.txt}}\n")
    assert repo.pipe("run").code == 0
    _copy_job(tmp_path / ".pipe" / "jobs.db", 1)
    db = sqlite3.connect(tmp_path / ".pipe" / "jobs.db")
    step = db.execute("SELECT * FROM job_steps WHERE job_id=1").fetchone()
    for job in (1, 2):
        for i in range(6400):
            task = f"fit[a={i // 80},b={i % 80}]"
            db.execute(f"INSERT INTO job_steps VALUES ({','.join('?' * len(step))})", (job, task, *step[2:]))
            db.executemany(
                "INSERT INTO metrics VALUES (?,?,?,?)", [(job, task, m, i + job) for m in ("loss", "acc", "f1")]
            )
    db.commit()
    db.close()
    ws = WorkspacePerThread(str(tmp_path))()
    t0 = time.perf_counter()
    got = compare.compare_jobs(ws, ws.jobs.get(1), ws.jobs.get(2))
    took = time.perf_counter() - t0
    metrics = [p for p in got["properties"] if p["what"] == "metric"]
    assert len(metrics) == 19200
    assert {"what": "metric", "step": "fit[a=3,b=7]", "name": "acc", "a": 248.0, "b": 249.0, "same": False} in metrics
    assert took < 2.5, f"{took:.1f} s"


CHATTY = """\
version: 1
steps:
  chatty:
    command: python chatty.py
"""

CHATTY_PY = """\
import os, sys, time
while not os.path.exists("go"):
    time.sleep(0.05)
for i in range(300000):
    sys.stdout.write("epoch %06d loss 0.123456 of a chatty training loop\\n" % i)
sys.stdout.flush()
time.sleep(1)
"""


def test_a_log_that_grows_faster_than_it_is_sent_goes_on_from_its_tail(start, tmp_path):  # noqa: F811
    # The follower sent one write per line, about 10,000 lines a second: a step printing
    # faster fell behind for good (a 36 MB log was still being sent minutes after the step
    # ended), and the page showed what was written minutes before.
    import time

    repo = Repo(tmp_path)
    repo.pipefile(CHATTY)
    repo.write("chatty.py", CHATTY_PY)
    ui = start(repo.root)
    job = ui.post("/api/run", {}).json()["job"]
    assert job is not None
    t0 = time.monotonic()
    with ui.http.stream("GET", f"/api/jobs/{job}/steps/chatty/log", params={"follow": "1"}) as r:
        assert r.status_code == 200
        (tmp_path / "go").write_text("")
        text = "".join(r.iter_text())
    took = time.monotonic() - t0
    print(f"followed in {took:.1f} s, {len(text) / 2**20:.1f} MiB")
    lines = [d["text"] for e, d in _events(text) if e == "line"]
    assert _events(text)[-1][0] == "end"
    assert lines[-1] == "epoch 299999 loss 0.123456 of a chatty training loop"
    # all of it, or (when it fell behind) its tail after a line saying what was left out
    assert all(x.startswith("epoch ") or "not shown here" in x for x in lines)
    assert took < 30, f"{took:.0f} s (89 s before)"


def test_the_jobs_list_says_when_older_jobs_match_and_names_every_experiment(start, tmp_path):  # noqa: F811
    # /api/jobs answered the newest `limit` jobs and nothing of the others: the page could not
    # say its list was cut, nor offer an experiment whose jobs were all older.
    import sqlite3

    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'echo a > ${{outputs.o}}', outputs: {o: a.txt}}\n")
    assert repo.pipe("run", "-e", "old-study").code == 0
    _copy_job(tmp_path / ".pipe" / "jobs.db", 60)
    db = sqlite3.connect(tmp_path / ".pipe" / "jobs.db")
    db.execute("UPDATE jobs SET experiment='recent' WHERE id > 1")
    db.commit()
    db.close()
    ui = start(repo.root)
    got = ui.get("/api/jobs", params={"limit": 50}).json()
    assert len(got["jobs"]) == 50 and got["more"] is True
    assert got["experiments"] == ["old-study", "recent"]
    assert ui.get("/api/jobs", params={"limit": 61}).json()["more"] is False
    assert ui.get("/api/jobs", params={"limit": 0}).json()["more"] is False  # 0: all of them
    assert len(ui.get("/api/jobs", params={"limit": 0}).json()["jobs"]) == 61
    only = ui.get("/api/jobs", params={"experiment": "old-study", "limit": 50}).json()
    assert [j["id"] for j in only["jobs"]] == [1] and only["more"] is False


def test_a_preview_of_a_file_that_is_not_utf8_says_so(tmp_path):
    # Latin-1 text and a UTF-16 CSV were shown full of U+FFFD, as if the file were broken,
    # with nothing saying why.
    from pipefile.ui import previews

    latin = tmp_path / "notes.txt"
    latin.write_bytes("café naïve\n".encode("latin-1"))
    got = previews.preview_file(str(latin), "notes.txt", latin.stat().st_size)
    assert got["kind"] == "text" and got["note"] == previews.NOT_UTF8
    wide = tmp_path / "t.csv"
    wide.write_bytes("a,b\n1,2\n".encode("utf-16"))
    assert previews.preview_file(str(wide), "t.csv", wide.stat().st_size)["note"] == previews.NOT_UTF8
    fine = tmp_path / "ok.txt"
    fine.write_text("a" + "é" * (previews.TEXT_MAX // 2 + 1))  # (cut inside a character: still UTF-8)
    assert "note" not in previews.preview_file(str(fine), "ok.txt", fine.stat().st_size)
    csv = tmp_path / "ok.csv"
    csv.write_text("a,b\né,2\n")
    assert "note" not in previews.preview_file(str(csv), "ok.csv", csv.stat().st_size)


def test_pipe_ui_on_a_device_says_it_is_no_regular_file_not_that_there_is_none(tmp_path):
    repo = Repo(tmp_path)
    r = repo.pipe("ui", "--no-browser", "-f", "/dev/null")
    assert r.code == 2 and "'/dev/null' is not a regular file" in r.err, str(r)
    r = repo.pipe("ui", "--no-browser", "-f", "nosuch")
    assert r.code == 2 and "there is no file 'nosuch'" in r.err, str(r)


WIDE_LOGS = """\
version: 1
steps:
  wide:
    command: python -c "import sys; sys.stdout.buffer.write(('\\\\u20ac' * 100000 + '\\\\n').encode())"
  widetail:
    command: python -c "import sys; sys.stdout.buffer.write(('\\\\u20ac' * 400000).encode())"
  longlast:
    command: python -c "import sys; sys.stdout.write('short\\\\n' + 'y' * 1500000 + '\\\\n')"
"""


def test_a_followed_log_s_long_line_is_cut_between_characters_not_inside_one(start, tmp_path):  # noqa: F811
    # A line over LINE_MAX is sent in pieces, and a long log's tail starts FOLLOW_BYTES from its
    # end: both were cut at a byte count, inside a character of 3 bytes, and the page showed
    # U+FFFD where the text had a euro sign.
    repo = Repo(tmp_path)
    repo.pipefile(WIDE_LOGS)
    assert repo.pipe("run").code == 0
    ui = start(repo.root)
    r = ui.get("/api/jobs/1/steps/wide/log", params={"follow": "1"})
    pieces = [d["text"] for e, d in _events(r.text) if e == "line"]
    assert len(pieces) > 1 and all(len(p.encode()) <= jobs_view.LINE_MAX for p in pieces)
    assert "".join(pieces) == "\u20ac" * 100000
    r = ui.get("/api/jobs/1/steps/widetail/log", params={"follow": "1"})
    pieces = [d["text"] for e, d in _events(r.text) if e == "line"]
    assert pieces[0].startswith("[pipe ui: ")
    tail = "".join(pieces[1:])
    assert "\ufffd" not in tail and set(tail) == {"\u20ac"}
    assert len(tail.encode()) <= jobs_view.FOLLOW_BYTES


def test_a_log_whose_last_line_is_over_the_tail_shows_that_line_s_end_not_nothing(start, tmp_path):  # noqa: F811
    # A long log is followed from the first whole line of its last 1 MiB; where the only newline
    # there was the one ending the log (a progress bar's \r-joined line, a long JSON), the page
    # was sent the note that 1.5 MiB were left out and not one byte of the log.
    repo = Repo(tmp_path)
    repo.pipefile(WIDE_LOGS)
    assert repo.pipe("run", "longlast").code == 0
    ui = start(repo.root)
    r = ui.get("/api/jobs/1/steps/longlast/log", params={"follow": "1"})
    pieces = [d["text"] for e, d in _events(r.text) if e == "line"]
    assert pieces[0].startswith("[pipe ui: ")
    assert "".join(pieces[1:]) == "y" * (jobs_view.FOLLOW_BYTES - 1)  # (its newline the last byte)


INNER = """\
version: 1
steps:
  s:
    command: cp ${{inputs.d}} ${{outputs.o}}
    inputs: {d: data.txt}
    outputs: {o: {path: o.txt, output: true}}
"""


def test_a_job_page_builds_its_graph_once_while_the_files_it_read_hold(tmp_path, monkeypatch):
    # A running job's page reloads as its steps end, and each reload built the job's graph
    # again: about half a second of the server's time for a job of 6,400 tasks. Kept now, as
    # the pipeline's graph is, and built anew when a file it was read from changes.
    from pipefile import graph as graph_mod
    from pipefile.ui.home import WorkspacePerThread

    repo = Repo(tmp_path)
    repo.write("sub/Pipefile", INNER)
    repo.write("sub/data.txt", "x\n")
    repo.pipefile("version: 1\nsteps:\n  t:\n    component: ./sub/Pipefile\n    outputs: {o: build/o.txt}\n")
    assert repo.pipe("run").code == 0
    built = []
    real = graph_mod.build
    monkeypatch.setattr(graph_mod, "build", lambda *a, **k: built.append(1) or real(*a, **k))
    ws = WorkspacePerThread(str(tmp_path))()
    first = jobs_view.show_job(ws, "1")
    assert [n["name"] for n in first["graph"]["nodes"] if n["kind"] == "step"] == ["t/s"]
    assert jobs_view.show_job(ws, "1")["graph"] == first["graph"] and len(built) == 1
    # The inner Pipefile edited (its step renamed): the graph is built again, as it reads now.
    repo.write("sub/Pipefile", INNER.replace("  s:", "  renamed:"))
    again = jobs_view.show_job(ws, "1")
    assert len(built) == 2
    assert [n["name"] for n in again["graph"]["nodes"] if n["kind"] == "step"] == ["t/s"]  # (the job's records)


def test_a_python_pipelines_job_graph_is_never_kept(tmp_path, monkeypatch):
    # What it builds depends on the modules it imports, which no source lists: kept, an edit
    # of one would show the job the graph of before.
    from pipefile import graph as graph_mod
    from pipefile.ui.home import WorkspacePerThread

    repo = Repo(tmp_path)
    repo.write(
        "build.py",
        "from pipefile import dsl\n\n"
        "c = dsl.command(name='c', command='echo x > ${{outputs.o}}', outputs={'o': dsl.Output(type='uri_file')})\n\n\n"
        "@dsl.pipeline(name='p')\ndef p():\n    c()\n\n\npipeline = p()\n",
    )
    assert repo.pipe("run", "-f", "build.py").code == 0
    built = []
    real = graph_mod.build
    monkeypatch.setattr(graph_mod, "build", lambda *a, **k: built.append(1) or real(*a, **k))
    ws = WorkspacePerThread(str(tmp_path))()
    jobs_view.show_job(ws, "1")
    jobs_view.show_job(ws, "1")
    assert len(built) == 2


def test_a_grown_draft_s_preview_finds_the_text_it_edits_read_between_the_user_s_changes(tmp_path, monkeypatch):
    # Each change of a growing draft is applied to the text the last preview made, and the
    # editor read that text's spans (tree) first: 0.6 s of each preview of a 2,000-step file,
    # while the user waited. It is now read in the background once the preview answers.
    import threading
    import time

    from pipefile.edit import parsed
    from pipefile.ui import drafts, pipeline_view

    steps = "".join(
        f"  s{i}:\n    command: echo {i} > ${{{{outputs.o}}}}\n    outputs:\n      o: build/s{i}.txt\n"
        for i in range(40)
    )
    path = tmp_path / "Pipefile"
    path.write_text("params:\n  lr: 0.1\nsteps:\n" + steps)
    parsed.clear()
    cache = pipeline_view.GraphCache()
    digest = pipeline_view.pipeline_view(str(path), cache)["digest"]
    ops = [{"op": "set_param", "name": "lr", "value": 0.5}]
    first = drafts.preview(str(path), digest, ops, graphs=cache)
    deadline = time.monotonic() + 30
    while any(t.name == "pipe-ui-prepare" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    here = threading.get_ident()
    read: list = []
    real = parsed._read_tree
    monkeypatch.setattr(
        parsed, "_read_tree", lambda text: (threading.get_ident() == here and read.append(text)) or real(text)
    )
    ops.append({"op": "set", "step": "s3", "field": "command", "value": "echo x > ${{outputs.o}}"})
    grown = drafts.preview(str(path), digest, ops, graphs=cache)
    assert grown["errors"] == [] and "echo x" in grown["text"] and "lr: 0.5" in grown["text"]
    assert read == [], "the preview read the spans of the text the last preview made"
    assert first["text"] != grown["text"]
    parsed.clear()
