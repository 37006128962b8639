"""Live output: what a step prints is shown as it comes (issue 19, item 1).

Without a terminal, every line, prefixed with its step (`slow | first`); under a pseudo-
terminal, the running steps' last lines in the live view; -q hides them, -v shows them in
full; an environment's build shows its lines as `env NAME | ...`. The step's log keeps
everything, as before. pipe is read as a stream (Popen, a real pty), never after the fact.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

import pytest
from workspace_repo import PIPE

from pipefile.executors.follow import LINE_MAX_BYTES, split_lines

SLOW = """
    steps:
      slow:
        command: 'echo first; sleep 2; echo second; echo done > ${{outputs.o}}'
        outputs: {o: out/slow.txt}
"""


def _env(tty: bool) -> dict:
    e = dict(os.environ)
    e.pop("PIPE_STORE_DIR", None)
    e.pop("CI", None)
    if tty:
        e.pop("PIPE_PLAIN", None)
        e["COLUMNS"] = "120"
    else:
        e["PIPE_PLAIN"] = "1"
    return e


def _stream_lines(repo, *args: str, timeout: float = 120) -> tuple:
    """Run `pipe ARGS` without a terminal, reading its output line by line as it comes:
    ([(seconds since start, line)], exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen(
        PIPE + list(args),
        cwd=repo.root,
        env=_env(False),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # progress and step output are on stderr; answers (JSON) on stdout
        text=True,
        bufsize=1,
    )
    got = []
    try:
        for line in p.stdout:
            got.append((time.monotonic() - t0, line.rstrip("\n")))
            assert time.monotonic() - t0 < timeout, got
        return got, p.wait(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()


def _first(got: list, text: str) -> float:
    for t, line in got:
        if line == text:
            return t
    raise AssertionError(f"no line {text!r} in:\n" + "\n".join(line for _, line in got))


def test_without_a_terminal_each_line_comes_as_it_is_printed_prefixed_with_its_step(repo):
    repo.pipefile(SLOW)
    got, code = _stream_lines(repo, "run")
    assert code == 0, got
    first, second, ok = _first(got, "slow | first"), _first(got, "slow | second"), None
    ok = next(t for t, line in got if line.startswith("ok") and "slow" in line)
    # Shown while the step slept, not when it ended: the two lines are the sleep apart.
    assert second - first > 1.0, got
    assert first < second <= ok
    # The log keeps exactly what the step printed.
    assert repo.read(".pipe/jobs/1/slow.log") == "first\nsecond\n"


def test_output_goes_with_the_progress_on_stderr_and_json_stays_clean(repo):
    repo.pipefile("""
        steps:
          talk: {command: 'echo "to stdout"; echo "to stderr" >&2; printf "\\033[31mred\\033[0m\\n"; printf "no newline"; touch ${{outputs.o}}', outputs: {o: t.txt}}
    """)
    r = repo.pipe("run", "--json")
    assert r.code == 0, str(r)
    assert r.json["steps"][0]["outcome"] == "ran"  # stdout is the JSON alone
    lines = r.err.splitlines()
    for want in ("talk | to stdout", "talk | to stderr", "talk | red", "talk | no newline"):
        assert want in lines, str(r)
    assert "\x1b" not in r.err  # a step's colours cannot reach pipe's output...
    log = (repo.root / ".pipe/jobs/1/talk.log").read_bytes()
    assert b"\x1b[31mred\x1b[0m\n" in log and log.endswith(b"no newline")  # ...its log keeps every byte
    assert lines.index("talk | no newline") < next(i for i, x in enumerate(lines) if x.startswith("ok"))


def test_quiet_hides_step_output_and_the_log_keeps_it(repo):
    repo.pipefile(SLOW)
    r = repo.pipe("run", "-q")
    assert r.code == 0, str(r)
    assert "first" not in r.err and "second" not in r.err, str(r)
    assert re.search(r"^ok +slow", r.err, re.M), str(r)
    assert repo.read(".pipe/jobs/1/slow.log") == "first\nsecond\n"
    r = repo.pipe("run", "-q", "-v")
    assert r.code == 2 and "cannot go together" in r.err, str(r)


def test_parallel_steps_lines_are_whole_and_carry_their_own_prefix(repo):
    # Each line is written in two pieces: a reader between them sees half a line.
    body = (
        "for i in $(seq 1 300); do printf '%s-%03d ' {n} $i; printf 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n'; done"
    )
    repo.pipefile(f"""
        steps:
          alpha: {{command: "{body.format(n="alpha")}; touch ${{{{outputs.o}}}}", outputs: {{o: a.txt}}}}
          beta: {{command: "{body.format(n="beta")} >&2; touch ${{{{outputs.o}}}}", outputs: {{o: b.txt}}}}
    """)
    r = repo.pipe("run", "-j", "2")
    assert r.code == 0, str(r)
    shown = [x for x in r.err.splitlines() if " | " in x]
    pattern = re.compile(r"^(alpha|beta) \| (alpha|beta)-(\d{3}) x{40}$")
    seen = {"alpha": [], "beta": []}
    for line in shown:
        m = pattern.match(line)
        assert m and m.group(1) == m.group(2), f"not a whole line of its own step: {line!r}"
        seen[m.group(1)].append(int(m.group(3)))
    assert seen == {"alpha": list(range(1, 301)), "beta": list(range(1, 301))}  # all of them, in order


def test_a_failed_step_shows_its_lines_and_still_its_log_tail(repo):
    repo.pipefile("""
        steps:
          bad: {command: 'echo "about to fail"; exit 3', outputs: {o: never.txt}}
    """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "bad | about to fail" in r.err.splitlines(), str(r)
    assert "step 'bad' exited with status 3" in r.err and "(its last line below)" in r.err, str(r)
    assert "    about to fail" in r.err.splitlines(), str(r)


def _pty_run(repo, *args: str, until: str = "", timeout: float = 60) -> tuple:
    """Run `pipe ARGS` on a pseudo-terminal: (all it wrote, whether the process was still
    running when `until` first appeared)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        PIPE + list(args), cwd=repo.root, env=_env(True), stdin=slave, stdout=slave, stderr=slave, close_fds=True
    )
    os.close(slave)
    out = b""
    running_at_until = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the other side closed: pipe ended
                    break
                if not data:
                    break
                out += data
                if until and running_at_until is None and until.encode() in out:
                    running_at_until = p.poll() is None
            elif p.poll() is not None:
                break
        assert p.wait(timeout=10) == 0, out.decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    return out.decode("utf-8", "replace"), running_at_until


def test_on_a_terminal_the_running_step_shows_its_last_lines(repo):
    repo.pipefile(SLOW)
    out, running = _pty_run(repo, "run", until="first")
    assert running is True, out  # shown while the step still ran (it sleeps 2 s after)
    assert "slow | first" not in out  # under the step's row in the live view, not a prefixed line
    # The live view made way for the status line when the step ended.
    assert re.search(r"ok +slow", out), out
    assert repo.read(".pipe/jobs/1/slow.log") == "first\nsecond\n"


def test_on_a_terminal_verbose_prints_every_line_and_quiet_none(repo):
    repo.pipefile(SLOW)
    out, running = _pty_run(repo, "run", "-v", until="slow | first")
    assert running is True and "slow | second" in out, out
    out, _ = _pty_run(repo, "run", "-q", "--force")
    assert "first" not in out and re.search(r"ok +slow", out), out


def test_on_a_terminal_a_progress_bar_shows_as_it_is_redrawn(repo):
    # No newline until the end: only carriage returns, as tqdm writes.
    repo.pipefile("""
        steps:
          bar:
            command: 'for i in 1 2 3 4 5 6; do printf "\\r%d0%% done" $i; sleep 0.4; done; echo; echo finished; touch ${{outputs.o}}'
            outputs: {o: bar.txt}
    """)
    out, running = _pty_run(repo, "run", until="30% done")
    assert running is True, out
    assert out.index("30% done") < out.index("ok")
    assert (repo.root / ".pipe/jobs/1/bar.log").read_bytes().startswith(b"\r10% done\r20% done\r30% done")


def test_an_environment_build_shows_its_lines_as_they_come(repo):
    # A venv with no packages builds offline (python -m venv).
    repo.pipefile("""
        environments:
          bare: {type: venv}
        steps:
          a: {command: 'echo in-env; python -c "import sys; print(sys.prefix)" > ${{outputs.o}}', outputs: {o: a.txt}, environment: bare}
    """)
    got, code = _stream_lines(repo, "run", timeout=300)
    assert code == 0, got
    lines = [line for _, line in got]
    building = _first(got, "env bare | pipe: building venv environment 'bare' (python " + lines_python(lines) + ")")
    built = _first(got, "env bare | pipe: built venv environment 'bare'")
    assert building < built <= _first(got, "a | in-env"), got
    assert any(line.startswith("env bare | $ ") for line in lines), got  # the build tool's command
    log = repo.read(".pipe/jobs/1/a.log")
    assert "pipe: building venv environment 'bare'" in log and log.endswith("in-env\n")
    # Built once: the next run shows no build.
    got, code = _stream_lines(repo, "run", "--force")
    assert code == 0 and not any(line.startswith("env bare |") for _, line in got), got


def lines_python(lines: list) -> str:
    for line in lines:
        m = re.match(r"env bare \| pipe: building venv environment 'bare' \(python ([^)]*)\)", line)
        if m:
            return m.group(1)
    raise AssertionError("\n".join(lines))


@pytest.mark.parametrize(
    "data, final, lines, rest",
    [
        (b"a\nb\n", False, ["a", "b"], b""),
        (b"a\nhalf", False, ["a"], b"half"),
        (b"a\nhalf", True, ["a", "half"], b""),
        (b"crlf\r\n", False, ["crlf"], b""),
        (b"10%\r50%\r100%\n", False, ["100%"], b""),  # a progress bar: what the terminal would show
        (b"caf\xc3\xa9 \xff\n", False, ["café \ufffd"], b""),
    ],
)
def test_split_lines(data, final, lines, rest):
    assert split_lines(data, final) == (lines, rest)


def test_a_line_without_end_is_shown_in_bounded_pieces():
    lines, rest = split_lines(b"x" * (LINE_MAX_BYTES * 2 + 5))
    assert lines == ["x" * LINE_MAX_BYTES] * 2 and rest == b"xxxxx"
