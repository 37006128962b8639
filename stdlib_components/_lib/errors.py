"""Errors a std component reports: they name the step, the component, and the parameter or column.

A script raises `ComponentError`; `run_main` prints it as pipe prints its own errors and exits
with status 2, so the step fails with a message the user can act on (and the runner, which stages
every output, keeps nothing that was half-written).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Iterable, Sequence


class ComponentError(Exception):
    """Bad input to a component: a message and, where one exists, the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to a misspelt `word`, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _where(component: str) -> str:
    """'step NAME (COMPONENT)'; without a component (code shared by all): the step alone."""
    step = os.environ.get("PIPE_STEP")
    if not component:
        return f"step {step!r}" if step else "std component"
    return f"step {step!r} ({component})" if step else component


def check_columns(columns: Sequence[str], wanted: Iterable[str], param: str, table: str = "the input") -> None:
    """Refuse column names that `table` does not have, naming `param` and the closest name."""
    have = [str(c) for c in columns]
    for name in wanted:
        if name in have:
            continue
        guess = did_you_mean(name, have)
        hint = f"did you mean {guess!r}?" if guess else f"the columns are: {', '.join(have) or '(none)'}"
        raise ComponentError(f"{param}: column {name!r} is not in {table}", hint)


def split_names(text: str | None) -> list[str]:
    """A comma-separated list of names; blanks around names are dropped, empty items too."""
    if not text:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


SEED_MAX = 2**32 - 1  # numpy's RandomState, which scikit-learn seeds, takes no more


def check_seed(seed: int, param: str = "seed") -> None:
    """Refuse a seed numpy cannot take, by its param: scikit-learn's own words would name
    `random_state`, which the user did not write (and which train_model refuses in hyperparameters)."""
    if not 0 <= seed <= SEED_MAX:
        raise ComponentError(
            f"{param}: {seed} is not between 0 and {SEED_MAX}", f"give a {param} in that range, e.g. 0"
        )


def warn(component: str, message: str) -> None:
    """A note on stderr (the step's log) about a result that is legal but rarely meant."""
    print(f"warning: {_where(component)}: {message}", file=sys.stderr)


def option_values(argv: Sequence[str]) -> list[str]:
    """Each `--name value` as `--name=value`. A component's command gives every option a value,
    and argparse reads a value that starts with `-` (a fill of `--`, an expression `-a<0`) as
    the next option, failing the step with a usage error no quoting in the Pipefile can avoid."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and len(arg) > 2 and "=" not in arg and arg != "--help" and i + 1 < len(argv):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, keeping an option's value of exactly `--`: Python 3.11's argparse
    drops a `--` from every option's values, so a fill value or a column named `--` (given as
    `--value=--`: `option_values`) arrived as no value at all."""

    def _get_values(self, action, arg_strings):
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def run_main(component: str, main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> None:
    """Run a component's `main`, turning a ComponentError into a located message and exit 2."""
    try:
        main(option_values(sys.argv[1:] if argv is None else argv))
    except MemoryError:  # numpy's, pyarrow's and pandas' own are MemoryErrors too
        err = out_of_memory()
    except ComponentError as caught:
        err = caught
    else:
        return
    print(f"error: {_where(component)}: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"  hint: {err.hint}", file=sys.stderr)
    raise SystemExit(2) from None


def out_of_memory(what: str | None = None) -> ComponentError:
    """A table too big for the memory the step may take (`what`: the one being read, if known):
    a traceback said nothing of the fix."""
    said = f"{what} is too big to read into" if what else "the step ran out of"
    return ComponentError(
        f"{said} the memory it may take (a std component holds each table whole)",
        "run the step where there is more memory (a step's resources: {memory: 16GB}), "
        "or give it a smaller table: split the input and run a step on each part",
    )
