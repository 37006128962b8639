"""entry.py runs the usual forms of `pipe run` and `pipe status` without click (cli/fast.py).
Its parser must read a command line exactly as click does, or leave it to click: checked here
on many command lines, and end to end (the same words, files and exit codes either way)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys

import click
import pytest

from pipefile.cli import app, fast, flags

WORDS = (
    # the table's options, with values click takes and values it refuses
    *("-f", "--file", "--file=Pipefile", "-fPipefile", "Pipefile", "sub", "missing.yaml"),
    *("-p", "--param", "--param=a=1", "a=1", "b=x y"),
    *("-j", "--jobs", "--jobs=2", "-j2", "3", "0", "-1", "+2", "1.5", "007"),
    *("-n", "--dry-run", "-k", "--keep-going", "--json", "--json=1", "--explain", "-q", "--quiet", "-v"),
    *("--verbose", "-e", "--experiment", "exp", "--mlflow", "--no-remote", "--ci", "--summary", "out.json"),
    *("--summary=out.json", "--gpus", "0,1", "none", "--check", "--tasks", "-qv", "-nk"),
    # options only click reads, and words that are targets or end the options
    *("--force", "--force=a", "--remote", "--remote=r", "--push", "--executor", "local", "--address"),
    *("--store", "--azureml-envs", "-h", "--help", "--version", "--", "-", "a", "b.txt", "--nope", "-x"),
)


def _click_params(argv: list):
    """What click makes of the command line: the command's keywords, or 'refused'."""
    command = app.main.get_command(click.Context(app.main), argv[0])
    try:
        with command.make_context(argv[0], list(argv[1:])) as ctx:
            return ctx.params
    except (click.exceptions.Exit, click.UsageError):
        return "refused"


def _agree(argv: list) -> bool:
    fast_values = fast.parse(argv)
    if fast_values is None:  # click's to parse: nothing to compare
        return False
    params = _click_params(argv)
    assert params != "refused", (argv, fast_values)
    table = {opt.dest for opt in fast.COMMANDS[argv[0]]} | {"targets"}
    command = app.main.get_command(click.Context(app.main), argv[0])
    defaults = {p.name: (() if p.multiple or p.nargs == -1 else p.default) for p in command.params if p.expose_value}
    for name, value in params.items():
        expected = fast_values[name] if name in table else defaults[name]
        assert value == expected or (value is False and expected is None), (argv, name, value, expected)
    assert set(fast_values) <= set(params), argv
    return True


def test_the_fast_path_reads_command_lines_as_click_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pipefile").write_text("version: 1\n")
    (tmp_path / "sub").mkdir()  # a folder: click refuses it for -f and --summary
    rng = random.Random(12)
    lines = [
        [],
        ["-q"],
        ["--json", "a", "b"],
        ["-j", "2", "-p", "a=1", "-p", "b=2", "--", "-x", "--json"],
        ["--check"],
        ["--tasks", "--json", "--gpus", "none"],
        ["-f", "sub"],
        ["-f", "-q"],
        ["-q", "-v"],
        ["-j", "0"],
    ]
    lines += [[rng.choice(WORDS) for _ in range(rng.randint(0, 6))] for _ in range(1500)]
    taken = 0
    for words in lines:
        for command in ("run", "status"):
            taken += _agree([command, *words])
    assert taken > 300  # the fast path does take the usual forms
    usual_lines = (["run"], ["status"], ["status", "--check"], ["run", "-q", "--json", "a"], ["run", "-j", "4"])
    for usual in (*usual_lines, ["run", "-j2", "-q"]):  # (-j2: what benchmarks/cputime.py runs)
        assert fast.parse(usual) is not None, usual


def test_every_option_of_the_table_is_its_commands_option():
    for name, table in fast.COMMANDS.items():
        command = app.main.get_command(click.Context(app.main), name)
        options = {p.name: p for p in command.params if isinstance(p, click.Option)}
        for opt in table:
            declared = options[opt.dest]
            assert tuple(declared.opts + declared.secondary_opts) == opt.decls, (name, opt)
            assert declared.is_flag == (opt.kind == flags.FLAG) and declared.multiple == (opt.kind == flags.MULTI)
            assert declared.help.startswith(opt.help.split("{")[0]), (name, opt)


def _normalised(text: str) -> str:
    text = re.sub(r"job \d+ \([0-9a-f]+\)(: `pipe jobs show \d+`)?", "job N", text)
    return re.sub(r'"seconds": [0-9.]+|\([0-9.]+s\)|in [0-9.]+s', "TIME", text)


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["status"],
        ["status", "--json"],
        ["status", "--check"],
        ["run", "-q", "--json", "b"],
        ["run", "nope"],
        ["status", "-p", "x=1"],
        ["run", "-f", "missing.yaml"],
        ["run", "-q", "-v"],
        ["run", "-n", "--explain"],
    ],
)
@pytest.mark.usefixtures("built_chain")
def test_both_paths_answer_alike(repo, argv):
    repo.write("Pipefile", repo.read("Pipefile").replace("cat a.txt", "cat  a.txt"))
    env = dict(os.environ, PIPE_PLAIN="1")
    answers = []
    for i, code in enumerate(("from pipefile.entry import main; main()", "from pipefile.cli.app import main; main()")):
        ws = repo.root.parent / f"copy{i}" / "ws"  # each path gets the workspace as it is now
        shutil.copytree(repo.root, ws, symlinks=True)
        r = subprocess.run(
            [sys.executable, "-c", "import sys; sys.argv[0] = 'pipe'; " + code, *argv],
            cwd=ws,
            capture_output=True,
            text=True,
            env=env,
        )
        answers.append((r.returncode, *(_normalised(t.replace(str(ws), "WS")) for t in (r.stdout, r.stderr))))
    assert answers[0] == answers[1], argv
    assert argv[-1] != "-v" or answers[0][0] == 2  # (click's usage error, from either path)


def test_the_usual_run_and_status_import_no_click(repo):
    repo.pipefile('version: 1\nsteps:\n  a: {command: "echo a > a.txt", outputs: {out: a.txt}}\n')
    for argv in (["run"], ["run", "-q"], ["status", "--check"], ["status", "--json"]):
        code = (
            f"import sys; sys.argv = ['pipe', *{argv!r}]\n"
            "from pipefile.entry import main\n"
            "try: main()\n"
            "except SystemExit as e: print(repr((int(e.code or 0), 'click' in sys.modules)))"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo.root)
        assert r.stdout.splitlines()[-1] == "(0, False)", (argv, r.stdout, r.stderr)
