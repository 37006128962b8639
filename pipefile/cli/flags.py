"""The options of `pipe run` and `pipe status` that both the click commands and the click-free
fast path of `entry.py` (cli/fast.py) read: declared once, here, so the two cannot drift. The
click commands build these options from this table (`options.table_option`); the fast path
accepts a command line only when every word of it is a target or one of these (anything else,
`--help` included, goes to click), and tests/test_fast_cli.py parses many command lines both
ways and compares."""

from __future__ import annotations

# What an option takes, as the fast path and click read it alike.
FLAG = "flag"  # present or not (is_flag)
TEXT = "text"  # one word
PATH = "path"  # one word naming a file (click.Path(dir_okay=False): not a folder, readable if it exists)
COUNT = "count"  # one whole number >= 1 (click.IntRange(min=1))
MULTI = "multi"  # one word, the option repeatable (a tuple)


class Opt:
    """One option. (A plain class: a NamedTuple's class is compiled at import, ~1 ms of start-up.)"""

    __slots__ = ("decls", "dest", "kind", "help", "metavar")

    def __init__(self, decls: tuple, dest: str, kind: str, help: str, metavar: str | None = None) -> None:
        self.decls = decls  # ("-q", "--quiet")
        self.dest = dest  # the keyword it reaches the command as
        self.kind = kind
        self.help = help
        self.metavar = metavar

    @property
    def default(self):
        return False if self.kind == FLAG else () if self.kind == MULTI else None

    def __repr__(self) -> str:
        return f"Opt({self.decls!r}, {self.dest!r}, {self.kind!r})"


FILE = Opt(
    ("-f", "--file"), "pipefile", PATH, "The Pipefile (default: ./Pipefile, or the nearest one in a folder above)."
)
PARAM = Opt(("-p", "--param"), "params", MULTI, "Set a pipeline param (repeatable).", "NAME=VALUE")
NO_REMOTE = Opt(("--no-remote",), "no_remote", FLAG, "Work locally, even if a default remote is set.")

JOBS = Opt(("-j", "--jobs"), "jobs", COUNT, "Steps to run at once (default: the number of CPUs).")
DRY_RUN = Opt(("-n", "--dry-run"), "dry_run", FLAG, "Say what would run; run nothing.")
KEEP_GOING = Opt(("-k", "--keep-going"), "keep_going", FLAG, "After a failure, go on with steps that do not need it.")
RUN_JSON = Opt(("--json",), "as_json", FLAG, "Print a JSON summary on stdout.")
EXPLAIN = Opt(("--explain",), "explain", FLAG, "Say why each step runs or is restored.")
QUIET = Opt(("-q", "--quiet"), "quiet", FLAG, "Do not show what steps print (their logs still keep it).")
VERBOSE = Opt(
    ("-v", "--verbose"),
    "verbose",
    FLAG,
    "Show every line steps print, on a terminal too (default there: the last lines of each running step).",
)
EXPERIMENT = Opt(
    ("-e", "--experiment"), "experiment", TEXT, "Record the job under this experiment (default: the Pipefile's name)."
)
MLFLOW = Opt(
    ("--mlflow",), "to_mlflow", FLAG, "Log the job as an MLflow run (also done whenever MLFLOW_TRACKING_URI is set)."
)
CI = Opt(
    ("--ci",),
    "ci",
    FLAG,
    "For CI: no live view, plain logs with reasons, a JSON summary written to --summary, "
    "exit 1 on any failure (a failed --push included).",
)
SUMMARY = Opt(
    ("--summary",),
    "summary_path",
    PATH,
    "Write the JSON summary to FILE (with --ci the default is {ci_summary_file} in the workspace root).",
    "FILE",
)
RUN_GPUS = Opt(
    ("--gpus",),
    "gpus",
    TEXT,
    "The GPUs steps may be given, e.g. 0,1 (or none); default: PIPE_GPUS, else the detected ones.",
    "IDS",
)

STATUS_JSON = Opt(("--json",), "as_json", FLAG, "Print JSON on stdout.")
CHECK = Opt(("--check",), "check", FLAG, "Exit 1 unless every step is fresh (the committed outputs are up to date).")
STATUS_GPUS = Opt(
    ("--gpus",),
    "gpus",
    TEXT,
    "The GPUs to plan for, as with `pipe run --gpus` (matters for key_includes: [gpu_model]).",
    "IDS",
)
TASKS = Opt(("--tasks",), "tasks", FLAG, "List each task of a matrix, sweep or foreach on its own line.")

# What the fast path accepts for each command. The commands' other options (--force, --remote,
# --push, --executor, the --azureml-* ones ...) are click's alone: a command line with one of
# them is parsed by click.
RUN = (FILE, JOBS, PARAM, DRY_RUN, KEEP_GOING, RUN_JSON, EXPLAIN, QUIET, VERBOSE, EXPERIMENT, MLFLOW, NO_REMOTE, CI)
RUN += (SUMMARY, RUN_GPUS)
STATUS = (FILE, PARAM, STATUS_JSON, NO_REMOTE, CHECK, STATUS_GPUS, TASKS)
