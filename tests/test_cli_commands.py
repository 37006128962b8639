"""The `pipe` group loads most command modules only when one of their commands is used:
the table that says which module holds which command must stay true."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from pipefile import cli


def test_lazy_command_table_matches_what_each_module_registers():
    modules = set(cli.LAZY_COMMANDS.values())
    for module in modules:
        group = click.Group()
        importlib.import_module(f"pipefile.{module}").register(group, cli._guard, cli.CONTEXT, cli.file_option)
        listed = {name for name, m in cli.LAZY_COMMANDS.items() if m == module}
        assert set(group.commands) == listed, f"LAZY_COMMANDS is out of date for {module}"


def test_every_command_is_listed_and_has_help():
    names = cli.main.list_commands(click.Context(cli.main))
    assert {"run", "status", "jobs", "gc", "metrics"} <= set(names)
    for name in names:
        assert cli.main.get_command(click.Context(cli.main), name) is not None, name


def test_run_does_not_import_the_other_command_modules():
    code = ("import sys, pipefile.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('pipefile.cli_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
