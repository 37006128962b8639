"""The no-op record (pipefile/noop_record.py) against what its stats might not see: each
probe leaves a record, changes something the run depended on, and checks that the next
`pipe run` is not answered from the record (it runs the normal way and sees the change).

Whether a run was answered from the record is seen from outside, as in test_noop_record.py:
the answer leaves the record as it was, the normal path removes it (and may write its own)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from workspace_repo import REPO_ROOT, Repo, noop_record_job

SETTLE = 0.15  # past the racy-timestamp window (0.1 s): a run then may leave a record


def _record_job(repo: Repo):
    return noop_record_job(repo)


def _settled(repo: Repo, *args: str) -> None:
    """Run until a record stands for `pipe run ARGS` (the racy window waited out)."""
    for _ in range(3):
        time.sleep(SETTLE)
        repo.pipe("run", *args, check=True)
        if _record_job(repo) is not None:
            return
    raise AssertionError("no record was left")


def _answered(repo: Repo, *args: str):
    """(result, answered from the record?) of `pipe run ARGS`."""
    before = _record_job(repo)
    r = repo.pipe("run", *args)
    return r, before is not None and _record_job(repo) == before


def test_an_edit_to_a_module_of_pipe_imported_while_the_run_goes_on_declines(repo, tmp_path):
    # A development checkout (the same version number): a module of pipe's imported only while
    # the run goes on (a no-op's executor) was not looked at by the record.
    code = tmp_path / "checkout"
    shutil.copytree(
        Path(REPO_ROOT) / "pipefile", code / "pipefile", ignore=shutil.ignore_patterns("__pycache__", "web", "static")
    )
    env = {"PYTHONPATH": str(code)}
    repo.write("in.txt", "x\n")
    repo.pipefile(ONE_STEP)
    repo.pipe("run", env=env, check=True)
    for _ in range(5):  # (the copy's bytecode is written by the first runs)
        time.sleep(SETTLE)
        repo.pipe("run", env=env, check=True)
        if _record_job(repo) is not None:
            break
    assert _record_job(repo) is not None
    module = code / "pipefile" / "executors" / "dry_run.py"
    module.write_text(module.read_text() + "# edited\n")
    before = _record_job(repo)
    r = repo.pipe("run", env=env)
    assert r.code == 0 and _record_job(repo) != before, str(r)  # (the normal path: the record was dropped)


BUILD = """\
from pipefile import dsl
from helper import COMMAND

count = dsl.command(name="count", command=COMMAND, outputs={"n": dsl.Output(type="uri_file")})


@dsl.pipeline(name="demo")
def demo():
    count()


pipeline = demo()
"""


def test_a_module_a_python_pipefile_imports_is_seen_by_the_record(repo):
    # The import system reads a module through posix, not os: its edit (the command of a
    # step) was answered "1 fresh" from the record, and the step never ran.
    repo.write("helper.py", 'COMMAND = "echo one > ${{outputs.n}}"\n')
    repo.write("build.py", BUILD)
    for _ in range(3):  # (a record, were one left: a Python Pipefile leaves none now)
        repo.pipe("run", "-f", "build.py", check=True)
        time.sleep(SETTLE)
    repo.write("helper.py", 'COMMAND = "echo two > ${{outputs.n}}"\n')
    r, answered = _answered(repo, "-f", "build.py")
    assert not answered and r.code == 0, str(r)
    assert "1 fresh" not in r.err, str(r)
    assert repo.read("build/count/n") == "two\n"


def test_a_module_put_where_it_shadows_the_one_a_python_pipefile_imported_is_seen(repo):
    # `import shadowme` found it in a folder of PYTHONPATH; a shadowme.py put in the module's
    # own folder (first on sys.path while it runs) is what the next run imports. The import
    # system had listed that folder before the run (under `python -m`, the current folder).
    repo.write("lib/shadowme.py", 'WORD = "one"\n')
    repo.write(
        "build.py",
        BUILD.replace("from helper import COMMAND", "from shadowme import WORD").replace(
            "command=COMMAND", 'command=f"echo {WORD} > ${{{{outputs.n}}}}"'
        ),
    )
    env = {"PYTHONPATH": os.pathsep.join([str(repo.root / "lib"), os.environ["PYTHONPATH"]])}
    for _ in range(3):  # (a record, were one left: a Python Pipefile leaves none now)
        repo.pipe("run", "-f", "build.py", env=env, check=True)
        time.sleep(SETTLE)
    repo.write("shadowme.py", 'WORD = "two"\n')
    r = repo.pipe("run", "-f", "build.py", env=env)
    assert r.code == 0 and "1 fresh" not in r.err, str(r)
    assert repo.read("build/count/n") == "two\n"


STAMPED = """\
import subprocess

from pipefile import dsl

REV = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
count = dsl.command(name="count", command=f"echo {REV} > ${{{{outputs.n}}}}", outputs={"n": dsl.Output(type="uri_file")})


@dsl.pipeline(name="demo")
def demo():
    count()


pipeline = demo()
"""


def test_what_a_python_pipefile_asks_git_is_not_taken_for_pipes_own_git_status(repo):
    # A run may start git (its own `git status`: the answer asks it again, for the job's commit);
    # the module's `git rev-parse HEAD` was let through as that, and after a commit the record
    # answered the command of the old commit "1 fresh".
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no git")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo.root)]
    repo.write("build.py", STAMPED)
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "build.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    repo.pipe("run", "-f", "build.py", check=True)
    for _ in range(3):  # (a record, where one is left: none is, with this fix)
        time.sleep(SETTLE)
        repo.pipe("run", "-f", "build.py", check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    r = repo.pipe("run", "-f", "build.py")
    assert r.code == 0 and "1 fresh" not in r.err, str(r)
    assert repo.read("build/count/n") == head + "\n"


def test_a_python_pipefile_is_run_again_by_every_run(repo):
    # What a Python Pipefile builds is known only by running it (the spec cache keeps none):
    # here the command depends on a file the module reads, which pipe cannot see, as a date
    # stamped into a run's name would. The record answered the pipeline of its own run
    # "1 fresh" after what it read had changed. (A file, not the clock: a busy machine's runs
    # outlasted a deadline.)
    switch = os.path.join(str(repo.root), "word.txt")
    repo.write("word.txt", "one\n")
    repo.write(
        "build.py",
        BUILD.replace(
            "from helper import COMMAND",
            f"COMMAND = 'echo ' + open({switch!r}).read().strip() + ' > ${{{{outputs.n}}}}'",
        ),
    )
    repo.pipe("run", "-f", "build.py", check=True)
    for _ in range(3):
        time.sleep(SETTLE)
        assert "1 fresh" in repo.pipe("run", "-f", "build.py", check=True).err
    assert _record_job(repo) is None
    repo.write("word.txt", "two\n")
    r = repo.pipe("run", "-f", "build.py")
    assert r.code == 0 and "1 fresh" not in r.err, str(r)
    assert repo.read("build/count/n") == "two\n"


SELF_SAVING = """\
import os

from pipefile import dsl

WORD = "one"
count = dsl.command(name="count", command=f"echo {WORD} > ${{{{outputs.n}}}}", outputs={"n": dsl.Output(type="uri_file")})


@dsl.pipeline(name="demo")
def demo():
    count()


pipeline = demo()
if os.environ.get("SAVE_WHILE_RUNNING"):  # a save that lands while the run goes on (the designer's)
    with open(__file__) as f:
        text = f.read()
    with open(__file__, "w") as f:
        f.write(text.replace('WORD = "one"', 'WORD = "two"'))
"""


def test_a_pipefile_saved_while_a_run_goes_on_is_not_answered_as_the_text_it_loaded(repo):
    # The run loads the module (WORD one: fresh), the module is saved again (WORD two) before
    # the job's snapshot hashes it: the stat cache then knows the digest of the new text, and a
    # record that trusted it answered the new text "1 fresh" every time after.
    repo.write("build.py", SELF_SAVING)
    repo.pipe("run", "-f", "build.py", check=True)
    time.sleep(SETTLE)
    env = {"SAVE_WHILE_RUNNING": "1"}
    r = repo.pipe("run", "-f", "build.py", env=env)  # (loads the module: the spec cache has no entry yet)
    assert r.code == 0 and "1 fresh" in r.err, str(r)
    assert 'WORD = "two"' in repo.read("build.py")
    r = repo.pipe("run", "-f", "build.py", env=env)
    assert r.code == 0 and "1 ran" in r.err, str(r)
    assert repo.read("build/count/n") == "two\n"


ONE_STEP = """\
version: 1
steps:
  a: {command: "cat in.txt > a.txt", inputs: {i: in.txt}, outputs: {out: a.txt}}
"""


@pytest.mark.parametrize("how", ["half", "one_byte", "empty", "zeros", "fifo", "folder"])
def test_a_torn_or_odd_record_reads_as_no_record(repo, how):
    # (a guard) a crash while the record is written, a power loss, or something else at its
    # path: the run goes the normal way, without waiting on it, and leaves a good record again.
    repo.write("in.txt", "x\n")
    repo.pipefile(ONE_STEP)
    repo.pipe("run", check=True)
    _settled(repo)
    path = repo.root / ".pipe" / "noop"
    data = path.read_bytes()
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    else:
        path.write_bytes(
            {"half": data[: len(data) // 2], "one_byte": data[:1], "empty": b"", "zeros": bytes(len(data))}[how]
        )
    r = repo.pipe("run", env={"AFTER": "1"}, timeout=60)
    assert r.code == 0 and "1 fresh" in r.err, str(r)
    if how != "folder":  # (a folder there is left alone: no record then, nothing else lost)
        assert os.path.isfile(path) and _record_job(repo) is not None  # (the normal path's record)
