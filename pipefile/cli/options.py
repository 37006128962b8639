"""What the command modules share: the context settings, the options many commands take
(-f/--file, -p/--param, --remote), and what those options resolve to (the workspace a
Pipefile lives in, the remote a --remote names). Command modules import this, never the
group in `app`, so nothing here imports a command."""

from __future__ import annotations

import os
import re

import click

from ..errors import PipefileError
from . import flags
from .remote_choice import (  # noqa: F401 - shared with the commands
    check_state_folder,
    chosen_remote,
    echo_notes,
    resolve_remote,
)

# The loader and the store are imported by the functions that use them: `pipe --help` (and
# every command module's import) declares these options without paying for either.

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# A deployment's number or version: whole, from 1, and no larger than SQLite stores (a bigger
# one was an internal error, OverflowError, not "no such deployment").
NUMBER = click.IntRange(1, (1 << 63) - 1)


class Count(click.types.IntParamType):
    """A whole number from 1 of `what` at once (-j): click's own words ("0 is not in the range
    x>=1") named no fix. Takes what click's int() takes, as cli/fast.py expects."""

    name = "integer"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        try:
            n = int(value)
        except (TypeError, ValueError):
            n = None
        if n is None or n < 1:
            flag = param.opts[0] if param is not None and param.opts else "-j"
            self.fail(
                f"{value!r} is not a number of {self.what} at once: give a whole number from 1, e.g. {flag} 4",
                param,
                ctx,
            )
        return n


class PipefilePath(click.Path):
    """-f: click.Path(dir_okay=False), saying the fix. `-f ""` was taken as no -f (the Pipefile
    found from here ran), and a folder was refused without naming the file to give."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value, param, ctx):
        if value == "":
            self.fail("'' is an empty file name: give the Pipefile's path, e.g. -f Pipefile", param, ctx)
        if isinstance(value, str) and os.path.isdir(value):
            from ..load.document import DEFAULT_NAMES

            name = next((n for n in DEFAULT_NAMES if os.path.isfile(os.path.join(value, n))), DEFAULT_NAMES[0])
            self.fail(
                f"{value!r} is a folder: give the Pipefile in it, e.g. -f {os.path.join(value, name)}", param, ctx
            )
        return super().convert(value, param, ctx)


def hand_down(ctx, **given) -> None:
    """A group's -f and --json, written before its subcommand (`pipe jobs -f FILE show 3`,
    `pipe endpoints --json show NAME`), are the subcommand's defaults: they were dropped, and
    the subcommand read the Pipefile found from here (another workspace) or printed text."""
    given = {k: v for k, v in given.items() if v}
    if given and ctx.invoked_subcommand:
        ctx.default_map = {ctx.invoked_subcommand: given}


def table_option(opt: flags.Opt, **overrides):
    """The click option of an entry of cli/flags.py's table (the fast path reads the same entry)."""
    kind = opt.kind
    kw: dict = {"help": opt.help, "metavar": opt.metavar}
    if kind == flags.FLAG:
        kw["is_flag"] = True
    elif kind == flags.PATH:
        kw["type"] = PipefilePath() if opt is flags.FILE else click.Path(dir_okay=False)
    elif kind == flags.COUNT:
        kw["type"] = Count("steps")
    elif kind == flags.MULTI:
        kw["multiple"] = True
    kw = {k: v for k, v in kw.items() if v is not None}
    kw.update(overrides)
    return click.option(*opt.decls, opt.dest, **kw)


file_option = table_option(flags.FILE)
param_option = table_option(flags.PARAM)
remote_flag = click.option(
    "--remote",
    "remote_name",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAME]",
    help="Consult this remote's run cache before running anything (a name, or a URL; alone: the default "
    "remote). Write --remote=NAME before step names.",
)
no_remote_flag = table_option(flags.NO_REMOTE)


def _to_environ(var: str, path: bool):
    """The value of an --azureml-* option, handed to the importer as the environment variable
    it reads (so the spec cache, a script and a served job see the same)."""

    def set_it(ctx, param, value):
        if value:
            os.environ[var] = os.path.abspath(value) if path else value
        return value

    return set_it


def azureml_options(f):
    """The options of an Azure ML pipeline job YAML given with -f (docs/azureml.md)."""
    for decl, var, path, kw in reversed(
        (
            (
                "--azureml-assets",
                "PIPE_AZUREML_ASSETS",
                False,
                dict(
                    metavar="DIR[:DIR]",
                    help="Azure ML: folders with the YAMLs defining azureml:NAME data, components, environments.",
                ),
            ),
            (
                "--azureml-map",
                "PIPE_AZUREML_MAP",
                True,
                dict(
                    metavar="FILE",
                    help="Azure ML: a YAML file mapping URL prefixes (and azureml:NAME:VERSION) to local paths.",
                ),
            ),
            (
                "--azureml-envs",
                "PIPE_AZUREML_ENVS",
                False,
                dict(
                    type=click.Choice(["local", "docker", "conda"]),
                    help="Azure ML: run an environment given by its image alone here (local, default) or in Docker; "
                    "conda: a conda_file environment as a conda environment (not a venv).",
                ),
            ),
            (
                "--azureml-env-map",
                "PIPE_AZUREML_ENV_MAP",
                True,
                dict(
                    metavar="FILE",
                    help="Azure ML: a YAML file mapping environments to local, docker:IMAGE or {type: venv, ...}.",
                ),
            ),
        )
    ):
        f = click.option(decl, expose_value=False, is_eager=True, callback=_to_environ(var, path), **kw)(f)
    return f


# `-o FILE` of the commands that write a Pipefile (pipe export, pipe import ...)
_output_options = [
    click.option(
        "-o", "--output", "output", default="-", metavar="FILE", help="Where to write the Pipefile (- for stdout)."
    ),
    click.option("--force", is_flag=True, help="Overwrite FILE if it exists."),
]


def pipefile_output(f):
    for option in reversed(_output_options):
        f = option(f)
    return f


def write_pipefile(text: str, output: str, force: bool, steps: int) -> None:
    """A written Pipefile on stdout (`-o -`) or into FILE, which exists only with --force."""
    if output == "-":
        click.echo(text, nl=False)
        return
    if os.path.isdir(output):
        raise PipefileError(f"{output} is a folder", hint="-o names the file to write, e.g. -o Pipefile")
    if os.path.exists(output) and not force:
        raise PipefileError(f"{output} exists", hint="choose another -o FILE, or pass --force to overwrite it")
    target = os.path.realpath(output)
    if os.path.exists(target) and not os.path.isfile(target):
        _write_through(target, text.encode("utf-8"), output)  # /dev/stdout, a FIFO: no file to replace
    else:
        _replace(target, text.encode("utf-8"), output)
    from ..report.text import plural

    click.echo(f"wrote {output} ({plural(steps, 'step')}); run it with `pipe run -f {output}`", err=True)


def _write_through(path: str, data: bytes, shown: str) -> None:
    """Into what is there, as it is (a terminal, a pipe: `-o /dev/stdout --force`)."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise PipefileError(f"{shown}: cannot write it: {e.strerror or e}", hint="choose another -o FILE") from None


def _replace(path: str, data: bytes, shown: str) -> None:
    """`path` holds `data`, or what it held before (a full disk or a kill midway never leaves a
    Pipefile cut short)."""
    from ..wholefile import replace_whole

    try:
        replace_whole(path, data)
    except OSError as e:
        raise PipefileError(
            f"{shown}: cannot write it: {e.strerror or e}", hint="check the folder's permissions and free space"
        ) from None


def workspace_root(pipefile) -> str:
    """The folder of the Pipefile given with -f (default: the one found from here)."""
    from ..load import find_pipefile

    path = pipefile or find_pipefile(".")
    if pipefile:
        check_named_file(pipefile)
    if pipefile:  # an Azure ML pipeline that reads files above its folder has its workspace there
        from ..load.azureml import workspace_of

        return workspace_of(os.path.abspath(path)) or os.path.dirname(os.path.abspath(path))
    return os.path.dirname(os.path.abspath(path))


def check_named_file(pipefile: str) -> None:
    """-f names a file that is there: a typo in it was taken as its folder's workspace, so that
    `pipe verify -f typo.yml` or `pipe jobs -f typo` said "nothing yet" and exited 0."""
    from ..load.pymodule import split_ref

    file = split_ref(pipefile)[0]  # (build.py:NAME: the module's file)
    if not os.path.lexists(file):
        raise PipefileError(
            f"{file}: no such file", hint="check the -f argument: it names the Pipefile (or module) of the workspace"
        )
    if os.path.exists(file) and not os.path.isfile(file):  # (a FIFO, a device: `pipe jobs -f` read its folder's)
        from ..load.yamlsafe import file_kind

        raise PipefileError(
            f"{file}: is {file_kind(os.stat(file).st_mode)}, not a regular file",
            hint="check the -f argument: it names the Pipefile (or module) of the workspace",
        )


def open_workspace(pipefile, create: bool = False):
    """The Workspace of the Pipefile given with -f."""
    from ..workspace import Workspace

    root = workspace_root(pipefile)
    # (A file named .pipe was read as "nothing recorded yet": pipe jobs, gc, verify said so and
    # exited 0; pipe recover met it as an internal error.)
    check_state_folder(root)
    return Workspace(root, create=create)


MAX_DURATION = 36525 * 86400  # 100 years: past it a time stops being a date anything can store


def parse_duration(text: str) -> float:
    """Seconds in '30d', '12h', '90m', '45s' (or a plain number of days), at most 100 years."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise PipefileError(f"'{text}' is not a duration", hint="write e.g. 30d, 12h, 90m or 45s")
    n = float(m.group(1))  # (a number of 400 digits is inf, refused below)
    seconds = n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}[m.group(2)]
    if not seconds <= MAX_DURATION:
        raise PipefileError(
            f"'{text[:40]}' is more than 100 years",
            hint="write a duration of at most 100 years (36525d), e.g. 30d, 12h, 90m or 45s",
        )
    return seconds


def positive_duration(text: str, flag: str) -> float:
    """parse_duration, refusing zero (a token expired at birth, a job timed out at start)."""
    try:
        seconds = parse_duration(text)
    except PipefileError as e:
        raise PipefileError(f"{flag} {e.message}", hint=e.hint) from None
    if seconds <= 0:
        raise PipefileError(
            f"{flag} {text}: the duration must be above zero", hint=f"write e.g. {flag} 30d, 12h, 90m or 45s"
        )
    return seconds
