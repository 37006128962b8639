"""What `pipe run`, `pipe status` and `pipe logs` print, under hostile names and odd cases
(review cli39): a matrix value's line break or terminal escape never reaches the terminal
raw, `pipe status` says the Pipefile's warnings as run and validate do, `pipe logs last STEP`
stays with its own Pipefile, and the wording of a few messages."""

from __future__ import annotations

from test_live_output import _pty_run

# A value that would forge a progress line, one that would set the terminal's title, one that
# would colour it; and an ordinary one, whose name must print byte for byte as before.
HOSTILE = """\
version: 1
steps:
  t:
    matrix:
      v: ["plain", "x\\nok       forged", "\\e]0;PWNED\\a", "\\e[31mred"]
    inputs: {v: {type: string}}
    command: 'sleep 0.3; printf "%s" "${{inputs.v}}" > ${{outputs.m}}; test "${{inputs.v}}" = plain'
    outputs: {m: "build/m-${{inputs.v}}.txt"}
"""


def _no_raw_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    assert not any(line.startswith("ok       forged") for line in text.splitlines()), text


def test_run_and_status_show_a_matrix_value_escaped_never_raw(repo):
    repo.pipefile(HOSTILE)
    s = repo.pipe("status", "--tasks")
    assert s.code == 0, str(s)
    _no_raw_control(s.out + s.err)
    assert "t[v=x\\nok       forged]" in s.out, str(s)
    r = repo.pipe("run", "--keep-going", "--explain")
    assert r.code == 1, str(r)
    _no_raw_control(r.out + r.err)
    lines = r.err.splitlines()
    assert any(ln.startswith("ok       t[v=plain] (") for ln in lines), str(r)  # (as before, byte for byte)
    assert "run      t[v=x\\nok       forged]" in lines, str(r)
    assert any(ln.startswith("step 't[v=\\x1b%5D0;PWNED\\x07]' exited with") for ln in lines), str(r)
    s = repo.pipe("status", "--tasks")
    _no_raw_control(s.out + s.err)


def test_a_failed_steps_log_tail_cannot_drive_the_terminal(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          bad: {command: 'printf "\\033]0;PWNED\\007\\033[2Jcleared\\n"; exit 3', outputs: {o: never.txt}}
        """
    )
    r = repo.pipe("run", "-q")
    assert r.code == 1, str(r)
    assert "\x1b" not in r.err and "\x07" not in r.err, repr(r.err)
    assert "    \\x1b]0;PWNED\\x07cleared" in r.err.splitlines(), str(r)


def test_the_live_view_on_a_terminal_shows_a_matrix_value_escaped(repo):
    repo.pipefile(HOSTILE.replace(', "\\e[31mred"', "").replace('; test "${{inputs.v}}" = plain', ""))
    out, _ = _pty_run(repo, "run", "--jobs", "1")
    assert "PWNED\x07" not in out and "\x1b]0;" not in out, repr(out)
    assert "run t[v=\\x1b%5D0;PWNED\\x07]" in out, repr(out)
    assert "\nok       forged" not in out.replace("\r", ""), repr(out)


def test_status_says_the_pipefiles_warnings_on_stderr(repo):
    repo.write("src/train.py", "print(1)\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            command: python src/train.py > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """
    )
    v = repo.pipe("validate")
    assert "warning: Pipefile:4:" in v.err and "src/train.py" in v.err, str(v)
    for args in (("status",), ("status", "--json"), ("status",)):  # (the second load: the spec cache's)
        s = repo.pipe(*args)
        assert s.code == 0, str(s)
        assert "warning: Pipefile:4:" in s.err and "src/train.py" in s.err, str(s)
        assert "warning" not in s.out, str(s)


def test_logs_last_step_after_a_no_op_stays_with_its_own_pipefile(repo):
    # Job 1 of the Pipefile ran b, job 2 of other.pipe ran a, job 3 of the Pipefile ran
    # nothing: `pipe logs last b` went to job 2 (the other Pipefile's) and said it has no b.
    repo.pipefile(
        """\
        version: 1
        steps:
          b: {command: 'echo hello-b; echo b > ${{outputs.o}}', outputs: {o: b.txt}}
        """
    )
    repo.write(
        "other.pipe",
        """\
        version: 1
        steps:
          a: {command: 'echo hello-a; echo a > ${{outputs.o}}', outputs: {o: a.txt}}
        """,
    )
    repo.pipe("run", check=True)
    repo.pipe("run", "-f", "other.pipe", check=True)
    repo.pipe("run", check=True)  # a no-op
    for args in (("logs", "last", "b"), ("logs", "last")):
        r = repo.pipe(*args)
        assert r.code == 0 and "hello-b" in r.out and "hello-a" not in r.out, str(r)
        assert "showing job 1, the last that ran something" in r.err, str(r)


def test_an_unknown_job_is_answered_with_the_span_of_ids_not_a_list_of_ids_and_uids(repo):
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'echo a > ${{outputs.o}}', outputs: {o: a.txt}}\n")
    for _ in range(3):
        repo.pipe("run", "--force", check=True)
    for args in (("logs", "99"), ("jobs", "show", "zz")):
        r = repo.pipe(*args)
        assert r.code == 2, str(r)
        assert "the jobs here are 1 to 3" in r.err and "known job names" not in r.err, str(r)
    r = repo.pipe("logs", "22")
    assert r.code == 2 and "did you mean '2'?" in r.err, str(r)


def test_wording_of_the_status_summary_a_log_tail_of_one_line_and_a_param_without_a_name(repo):
    repo.pipefile(
        """\
        version: 1
        params: {lr: {type: number, default: 1}}
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: a.txt}}
          b: {command: 'echo b > ${{outputs.o}}', outputs: {o: b.txt}}
          bad: {command: 'echo "about to fail"; exit 3', outputs: {o: never.txt}}
        """
    )
    r = repo.pipe("run", "-q", "--keep-going")
    assert r.code == 1 and "(its last line below)" in r.err and "1 lines" not in r.err, str(r)
    assert repo.pipe("status", "a", "b").out.splitlines()[-1] == "all 2 steps up to date"
    assert repo.pipe("status", "a").out.splitlines()[-1] == "1 step up to date"
    for pair in ("=3", " =3"):
        s = repo.pipe("status", "-p", pair)
        assert s.code == 2 and f"-p {pair}: expected name=value" in s.err and "no param ''" not in s.err, str(s)
    s = repo.pipe("status", "-p", "x\nerror: forged=1")
    assert s.code == 2 and "-p x\\nerror: forged=1: the Pipefile has no param 'x\\nerror: forged'" in s.err, str(s)
    assert not any(line.startswith("error: forged") for line in s.err.splitlines()), str(s)


def test_a_hint_listing_names_shows_a_task_name_escaped(repo):
    # "known step names: ..." quoted a task's name raw: its value's line break forged a line.
    repo.pipefile(HOSTILE)
    repo.pipe("run", "--keep-going")
    for args in (("status", "nosuch"), ("logs", "1", "nosuch")):
        r = repo.pipe(*args)
        assert r.code == 2 and "t[v=x\\nok       forged]" in r.err, str(r)
        _no_raw_control(r.err)


def test_an_empty_job_is_refused_not_taken_for_the_only_job(repo):
    # '' was a uid prefix of every job: with one job, `pipe logs ""` printed it, exit 0.
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'echo hi; echo a > ${{outputs.o}}', outputs: {o: a.txt}}\n")
    repo.pipe("run", check=True)
    for args in (("logs", ""), ("jobs", "show", " ")):
        r = repo.pipe(*args)
        assert r.code == 2 and "no job given (JOB is empty)" in r.err and "hi" not in r.out, str(r)
    r = repo.pipe("logs", "7")
    assert r.code == 2 and "the only job here is 1" in r.err, str(r)
