"""The CLI's own surfaces under a long history and odd input (review cli45): `pipe lineage`
of a path no job wrote answers from SQLite's reading of the records, and the did-you-mean
behind its hint gives difflib's answer without difflib's letter-by-letter cost."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import resource
import sqlite3
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st
from workspace_repo import PIPE

from pipefile.errors import _could_match, did_you_mean
from pipefile.jobdb.jobs import JobStore

CHAIN = """\
version: 1
params:
  n: 1
steps:
  a:
    command: echo ${{params.n}} > a.txt
    outputs: {o: a.txt}
  b:
    inputs: {x: "${{steps.a.outputs.o}}"}
    command: cat ${{inputs.x}} > b.txt
    outputs: {o: b.txt}
"""


def _grow_history(root, jobs: int, paths_per_job: int = 1) -> None:
    """Copy the recorded steps into `jobs` more jobs, each output with its own content (as
    retraining writes): a long history, built in a second rather than by running it."""
    db = sqlite3.connect(root / ".pipe/jobs.db")
    cols = [r[1] for r in db.execute("PRAGMA table_info(job_steps)")]
    at = cols.index("outputs")
    rows = db.execute("SELECT * FROM job_steps").fetchall()
    db.execute("BEGIN")
    for j in range(1000, 1000 + jobs):
        for r in rows:
            for k in range(paths_per_job):
                row = list(r)
                row[0], row[1] = j, f"{r[1]}{k}"
                outs = json.loads(r[at])
                for o in outs.values():
                    o["digest"] = hashlib.md5(f"{j} {row[1]}".encode()).hexdigest()
                    o["path"] = f"out/{k}/{o['path']}"
                row[at] = json.dumps(outs)
                db.execute(f"INSERT INTO job_steps VALUES ({','.join('?' * len(row))})", row)
    db.execute("COMMIT")
    db.close()


def _cpu_seconds(argv, cwd) -> tuple:
    """(exit code, stderr, CPU seconds the child used): CPU, not wall time, so a busy machine
    does not fail the bound."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, p.stderr, used


def test_lineage_of_a_path_no_job_wrote_is_quick_on_a_long_history(repo):
    """200,000 step rows: the hint's list of output paths parsed every row's JSON in Python
    (1.3 s more CPU than a short history, growing with it); SQLite reads them now (0.25 s
    more). The answer (message, hint, exit 2) is the one it was."""
    repo.pipefile(CHAIN)
    repo.pipe("run", check=True)
    code, err, small = _cpu_seconds(PIPE + ["lineage", "nothere.txt"], repo.root)
    assert code == 2 and "no artifact or output 'nothere.txt'" in err, err
    _grow_history(repo.root, 20000, paths_per_job=5)
    code, err, big = _cpu_seconds(PIPE + ["lineage", "nothere.txt"], repo.root)
    assert code == 2 and "error: no artifact or output 'nothere.txt'" in err, err
    assert "hint: known artifact and output names: 'a.txt', 'b.txt', 'out/0/a.txt'" in err, err
    assert big - small < 0.6, (small, big)
    code, err, _ = _cpu_seconds(PIPE + ["lineage", "out/3/b.tx"], repo.root)
    assert code == 2 and "hint: did you mean 'out/3/b.txt'?" in err, err


def test_output_paths_reads_odd_records_as_before(tmp_path):
    """The SQL reading of the recorded outputs keeps the Python one's answer: no path, an
    empty one, a number, outputs that are no object, NULL."""
    jobs = JobStore(str(tmp_path / "jobs.db"))
    try:
        records = [
            {"o": {"kind": "file", "digest": "d", "path": "b.txt"}, "p": {"kind": "file", "digest": "e"}},
            {"o": {"path": ""}, "q": {"path": "a/é.txt"}, "r": {"path": "b.txt"}},
            {"o": {"path": 5}},
            {},
        ]
        for i, rec in enumerate(records):
            jobs.db.execute("INSERT INTO job_steps(job_id, step, outputs) VALUES (?, 's', ?)", (i, json.dumps(rec)))
        jobs.db.execute("INSERT INTO job_steps(job_id, step, outputs) VALUES (9, 's', NULL)")
        jobs.db.execute("INSERT INTO job_steps(job_id, step, outputs) VALUES (10, 's', '[1, 2]')")
        assert jobs.output_paths() == ["a/é.txt", "b.txt"]
    finally:
        jobs.close()


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="abc./_-é", max_size=8),
    st.lists(st.text(alphabet="abc./_-é", max_size=8), max_size=20),
)
def test_did_you_mean_gives_difflibs_answer(word, choices):
    """The letter-count filter keeps every choice difflib could pick: the same suggestion."""
    choices = sorted(set(choices))
    expected = difflib.get_close_matches(word, [c for c in choices if c != word], n=1, cutoff=0.6)
    assert difflib.get_close_matches(word, _could_match(word, choices, 0.6), n=1, cutoff=0.6) == expected
    hint = did_you_mean(word, choices)
    assert (hint == f"did you mean '{expected[0]}'?") if expected else (hint is None or hint.startswith("known"))


def test_lineage_of_a_fifo_or_a_device_answers_at_once(repo):
    """`pipe lineage FIFO` waited for a writer for ever; a link to /dev/zero was read for ever."""
    import os

    repo.pipefile(CHAIN)
    repo.pipe("run", check=True)
    os.mkfifo(repo.root / "fifo")
    os.symlink("/dev/zero", repo.root / "zero")
    for name in ("fifo", "zero"):
        r = repo.pipe("lineage", name, timeout=30)
        assert r.code == 2 and f"error: '{name}' is not a file or folder (a FIFO, socket or device)" in r.err, r
        assert "hint: give an output path" in r.err, r


def test_lineage_of_the_workspace_or_pipes_own_folder_is_refused_unread(repo):
    """'' read as '.', and '.' or '.pipe' hashed the whole workspace or store (10 s on a long
    history) to say no job produced it: no step can write there, which is said at once."""
    repo.pipefile(CHAIN)
    repo.pipe("run", check=True)
    for target, what in [
        ("", "'' is empty"),
        (".", "'.' is the workspace itself"),
        (str(repo.root), "is the workspace itself"),
        (".pipe", "'.pipe' is in .pipe/, pipe's own folder"),
        ("./.pipe/jobs.db", "'./.pipe/jobs.db' is in .pipe/, pipe's own folder"),
    ]:
        r = repo.pipe("lineage", target)
        assert r.code == 2 and what in r.err and "no step writes there" in r.err, (target, str(r))
    assert repo.pipe("lineage", "b.txt").code == 0


def test_a_bad_gpus_flag_is_bad_usage_where_no_step_asks_for_a_gpu(repo):
    """--gpus was read only where a step asks for GPUs: `--gpus abc` ran (exit 0), as if right."""
    repo.pipefile(CHAIN)
    repo.pipe("run", check=True)
    for argv in (
        ["run", "--gpus", "abc"],
        ["run", "--gpus=0,0"],
        ["status", "--gpus", "x"],
        ["run", "-n", "--gpus", "-1"],
    ):
        r = repo.pipe(*argv)
        assert r.code == 2 and "error: --gpus: " in r.err and "hint: " in r.err, (argv, str(r))
    for argv in (["run", "--gpus", "none"], ["run", "--gpus", "0,1"], ["status", "--gpus", "0"]):
        assert repo.pipe(*argv).code == 0, argv


def test_gc_names_its_flag_for_a_bad_uploads_age_and_refuses_an_empty_one(repo):
    """`--uploads-older-than ''` was taken as no limit (exit 0, nothing said), and a bad value's
    error did not name the flag it came from."""
    repo.pipefile(CHAIN)
    repo.pipe("run", check=True)
    for value, what in [("", "'' is not a duration"), ("xyz", "'xyz' is not a duration")]:
        r = repo.pipe("gc", "--dry-run", "--uploads-older-than", value)
        assert r.code == 2 and f"error: --uploads-older-than {what}" in r.err and "hint: write e.g. 30d" in r.err, r
    assert repo.pipe("gc", "--dry-run", "--uploads-older-than", "30d").code == 0


def test_every_option_of_status_validate_dag_gc_and_lineage_says_what_it_does(repo):
    """`pipe dag --help` listed --format with no text but its default."""
    for command in ("status", "validate", "dag", "gc", "lineage", "verify"):
        r = repo.pipe(command, "--help")
        assert r.code == 0, r
        options = r.out.split("Options:", 1)[1]
        # An option line whose text is only its bracketed default says nothing.
        bare = re.findall(r"^  (-\S+(?: \S+)*)\s{2,}\[default: [^\]]*\]\s*$", options, re.M)
        assert not bare, (command, bare)


COPY = """\
version: 1
steps:
  a:
    command: echo 1 > in.txt
    outputs: {o: in.txt}
  b:
    inputs: {x: "${{steps.a.outputs.o}}"}
    command: cp ${{inputs.x}} out.txt
    outputs: {o: out.txt}
"""


def test_lineage_graph_keeps_apart_two_paths_of_the_same_content(repo):
    """Data nodes were keyed by digest: a step copying its input was drawn reading its own
    output (d0 -> s1 and s1 -> d0), and the step that made the input pointed at the copy."""
    repo.pipefile(COPY)
    repo.pipe("run", check=True)
    dot = repo.pipe("lineage", "out.txt", "--format", "dot", check=True).out
    assert dot.count("shape=note") == 2, dot
    ids = {
        label.split("\\n")[0]: i
        for i, label in re.findall(r'^  (\w+) \[shape=\w+(?:, style=\w+)?, label="([^"]*)"', dot, re.M)
    }
    assert {"out.txt", "in.txt", "a", "b"} <= set(ids), dot
    edges = set(re.findall(r"^  (\w+) -> (\w+)", dot, re.M))
    assert edges == {(ids["b"], ids["out.txt"]), (ids["a"], ids["in.txt"]), (ids["in.txt"], ids["b"])}, dot
    mermaid = repo.pipe("lineage", "out.txt", "--format", "mermaid", check=True).out
    assert len(re.findall(r'^  d\d+\["', mermaid, re.M)) == 2 and f"{ids['in.txt']} -->|x| {ids['b']}" in mermaid, (
        mermaid
    )
