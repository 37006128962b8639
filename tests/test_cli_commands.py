"""The `pipe` group loads a command's module only when that command is used: the table
that says which module holds which command must stay true."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import click

from pipefile.cli import app

ROOT = Path(__file__).resolve().parent.parent  # the checkout these tests belong to


def _top_level_commands(module) -> dict:
    """{attribute name: command} for the click commands a module defines at its top level
    (a group's subcommands are not top level)."""
    public = {k: v for k, v in vars(module).items() if isinstance(v, click.Command) and not k.startswith("_")}
    inside = {id(c) for g in public.values() if isinstance(g, click.Group) for c in g.commands.values()}
    return {k: v for k, v in public.items() if id(v) not in inside}


def test_lazy_command_table_matches_what_each_module_defines():
    for module in set(app.LAZY_COMMANDS.values()):
        found = _top_level_commands(importlib.import_module(f"pipefile.cli.{module}"))
        listed = {name for name, m in app.LAZY_COMMANDS.items() if m == module}
        assert set(found) == listed, f"LAZY_COMMANDS is out of date for pipefile.cli.{module}"
        for name, cmd in found.items():  # the group finds a command by its name
            assert cmd.name == name, f"pipefile.cli.{module}.{name} is the command '{cmd.name}'"


def test_the_help_listing_table_says_what_each_command_says():
    assert set(app.COMMAND_SUMMARIES) == set(app.LAZY_COMMANDS)
    for name, module in app.LAZY_COMMANDS.items():
        cmd = getattr(importlib.import_module(f"pipefile.cli.{module}"), name)
        stand_in = click.Command(name, help=app.COMMAND_SUMMARIES[name])
        assert not cmd.hidden and not cmd.deprecated and cmd.short_help is None, name
        for limit in range(10, 130):  # (the width the listing leaves depends on the terminal's)
            assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit), (name, limit)


def test_pipe_help_imports_no_command_module_and_lists_them_as_before():
    code = (
        "import sys, click; from pipefile.cli import app\n"
        "def text(w):\n"
        "    with click.Context(app.main, info_name='pipe', terminal_width=w, max_content_width=100) as ctx:\n"
        "        return app.main.get_help(ctx)\n"
        "lazy = [text(w) for w in (50, 80, 200)]\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pipefile.cli.'))\n"
        "for name in app.LAZY_COMMANDS: app.main.get_command(click.Context(app.main), name)\n"
        "print(repr((loaded, lazy, [text(w) for w in (50, 80, 200)])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    loaded, lazy, real = ast.literal_eval(out)
    assert not set(loaded) & {f"pipefile.cli.{m}" for m in app.LAZY_COMMANDS.values()}, loaded
    assert lazy == real
    assert "  run " in lazy[1] and "Bring TARGETS" in lazy[1]
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipefile", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0 and "Commands:" in r.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {f"pipefile.cli.{m}" for m in app.LAZY_COMMANDS.values()}, sorted(imported)


def test_every_command_is_listed_and_has_help():
    names = app.main.list_commands(click.Context(app.main))
    assert {"run", "status", "jobs", "gc", "metrics", "recover", "serve"} <= set(names)
    for name in names:
        cmd = app.main.get_command(click.Context(app.main), name)
        assert cmd is not None and cmd.help, name


def _cli_modules_loaded_by(command: str) -> list:
    code = (
        "import sys, click; from pipefile.cli.app import main; "
        f"main.get_command(click.Context(main), {command!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('pipefile.cli', 'pipefile.report'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return ast.literal_eval(out)


def test_run_and_status_do_not_import_the_other_command_modules():
    shared = {
        "pipefile.cli",
        "pipefile.cli.app",
        "pipefile.cli.guard",
        "pipefile.cli.options",
        "pipefile.cli.console",
        "pipefile.cli.flags",
        "pipefile.cli.remote_choice",
        "pipefile.report",
        "pipefile.report.text",
    }
    run = set(_cli_modules_loaded_by("run")) - shared
    assert run == {
        "pipefile.cli.run",
        "pipefile.cli.run_action",
        "pipefile.report.run",
        "pipefile.report.plan",
        "pipefile.report.reasons",
    }, run
    status = set(_cli_modules_loaded_by("status")) - shared
    assert status == {
        "pipefile.cli.plan",
        "pipefile.cli.status_action",
        "pipefile.report.plan",
        "pipefile.report.dag",
        "pipefile.report.reasons",
    }, status


def test_the_entry_points_start_the_cli():
    for argv in (["-m", "pipefile"], ["-m", "pipefile.cli"], ["-c", "from pipefile.entry import main; main()"]):
        r = subprocess.run([sys.executable, *argv, "--version"], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0 and "version" in r.stdout, (argv, r.stdout, r.stderr)


# What start-up must not pay for where it does not use it (issue 12: `pipe --version` and a
# no-op within a few times Python's own start).
HEAVY_FOR_VERSION = (
    "click",
    "yaml",
    "rich",
    "sqlite3",
    "inspect",
    "dataclasses",
    "pickle",
    "subprocess",
    "pipefile.cli.app",
    "pipefile.workspace",
    "pipefile.cache",
    "pipefile.remote",
    "pipefile.load",
    "pipefile.session",
    "pipefile.spec",
)
HEAVY_FOR_THE_GROUP = (
    "yaml",
    "rich",
    "sqlite3",
    "pickle",
    "tempfile",
    "urllib.parse",
    "pipefile.workspace",
    "pipefile.cache",
    "pipefile.remote",
    "pipefile.load",
    "pipefile.session",
    "pipefile.spec",
    "pipefile.jobdb",
)


def _modules_after(code: str) -> tuple:
    """(the lines `code` printed, the modules it imported beyond what this Python's start-up
    already has: an editable install's import hook, say)."""

    def run(code):
        out = subprocess.run(
            [sys.executable, "-c", code + "; print(repr(sorted(sys.modules)))"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.splitlines()
        return out[:-1], set(ast.literal_eval(out[-1]))

    out, modules = run(code)
    return out, modules - run("import sys")[1]


def _loaded(modules: set, heavy: tuple) -> list:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


def test_version_imports_nothing_heavy_and_says_what_click_says():
    out, modules = _modules_after(
        "import sys; sys.argv = ['pipe', '--version']; "
        "from pipefile.entry import main\ntry: main()\nexcept SystemExit: pass\nimport sys"
    )
    assert _loaded(modules, HEAVY_FOR_VERSION) == []
    # the same words as the group's click --version option (reached here through --debug)
    r = subprocess.run(
        [sys.executable, "-m", "pipefile", "--debug", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0 and out == r.stdout.splitlines() == ["pipe, version " + __import__("pipefile").__version__]


def test_the_group_and_shared_options_import_no_store_loader_or_session():
    # what `pipe --help` and every command module's import pay before a command runs
    _, modules = _modules_after("import sys, pipefile.cli.app, pipefile.cli.options, pipefile.cli.guard")
    assert _loaded(modules, HEAVY_FOR_THE_GROUP) == []


# Whole numbers that only Python uses (a count, a slice): any size is fine. Any other must be
# bounded, or a number past SQLite's INTEGER stops the command with an internal error.
UNBOUNDED_IS_FINE = {
    ("gc", "keep_last"),
    ("jobs", "limit"),
    ("metrics history", "limit"),
    ("pull", "transfers"),
    ("push", "transfers"),
    ("run", "jobs"),
    ("serve", "max_connections"),
    ("serve", "max_queue"),
    ("serve", "workers"),
    ("ui", "max_connections"),
}


def _int_params(cmd, path: str):
    for p in cmd.params:
        t = p.type
        if isinstance(t, click.types.IntParamType) and not (isinstance(t, click.IntRange) and t.max is not None):
            yield path, p.name
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _int_params(sub, f"{path} {name}")


def test_every_unbounded_whole_number_parameter_is_one_only_python_uses():
    found = set()
    for name, module in app.LAZY_COMMANDS.items():
        for v in vars(importlib.import_module(f"pipefile.cli.{module}")).values():
            if isinstance(v, click.Command) and v.name == name:
                found |= set(_int_params(v, name))
    assert found == UNBOUNDED_IS_FINE


def test_a_deployment_number_past_what_sqlite_stores_is_bad_usage(tmp_path):
    (tmp_path / "Pipefile").write_text("version: 1\nsteps:\n  a:\n    command: echo a\n")
    huge = "99999999999999999999"
    for args in (
        ["endpoints", "disable", "e", huge],  # was: exit 70, OverflowError
        ["endpoints", "set-default", "e", huge],
        ["deployments", "disable", "d", huge],
        ["deployments", "set-default", "d", huge],
        ["endpoints", "disable", "e", "0"],
    ):
        r = subprocess.run(
            [sys.executable, "-m", "pipefile", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 2 and "is not in the range" in r.stderr, (args, r.stderr)
