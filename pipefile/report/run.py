"""Renders a run: progress lines (a live view of the running steps on a terminal), failures
with the tail of their logs, the summary line, and the JSON of `pipe run --json` and
`pipe run --ci` (the CI summary).

Everything here reads the data objects of the lower layers (Decision, Reason,
StepResult) and writes text; nothing here decides anything. Progress and
diagnostics go to stderr, answers (JSON) to stdout.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Optional

from .. import lazyre
from ..filehash import open_regular
from ..outcomes import Outcome, StepResult
from ..outpaths import shown_command
from ..printable import printable, printable_lines
from ..rebuilder import Decision, Verdict
from ..scheduler import RunSummary
from .plan import STATE_STYLE
from .reasons import reason_json, reason_text
from .text import console, format_seconds, is_terminal

LOG_TAIL_LINES = 20
LOG_LINE_MAX = 400

OUTPUT_AUTO = "auto"
OUTPUT_FULL = "full"
OUTPUT_NONE = "none"
TAIL_LINES = 5  # the lines of each running step a terminal's live view shows
_COLOURS = lazyre.Pattern(r"\x1b\[[0-9;:?]*[A-Za-z]")  # terminal control sequences (colours, cursor moves)


def shown_line(line: str) -> str:
    """A line a step printed, safe to show: colours and cursor moves dropped, tabs expanded,
    every other control character escaped (printable): it cannot forge pipe's own lines or
    move a terminal's cursor."""
    return printable(_COLOURS.sub("", line).expandtabs(4))


class RunReporter:
    """Scheduler events -> progress lines; a live view of running steps on a terminal. Also
    the executor's OutputSink: what steps print, shown as it comes (see `output`)."""

    def __init__(
        self,
        total: int,
        stream=None,
        quiet: bool = False,
        explain: bool = False,
        plain: bool = False,
        step_output: str = OUTPUT_AUTO,
    ):
        """plain: lines only, never the live view, even on a terminal (`pipe run --ci`).
        step_output: what steps print: OUTPUT_AUTO (on a terminal the last lines of each
        running step under it; otherwise every line, prefixed with its step), OUTPUT_FULL
        (every line, on a terminal too: -v) or OUTPUT_NONE (-q)."""
        self.stream = stream or sys.stderr
        self.total = total
        self.quiet = quiet
        self.explain = explain
        self.tty = is_terminal(self.stream) and not quiet and not plain
        self.step_output = OUTPUT_NONE if quiet else step_output
        self.running: dict = {}
        self.tails: dict = {}  # step -> its last lines (a terminal's live view)
        self.building: dict = {}  # step -> the environment being built for it
        self.redrawn: dict = {}  # step -> the line it is redrawing (a progress bar)
        self.done = 0
        self.lock = threading.Lock()  # the state above
        self._write = threading.Lock()  # whole lines on the stream, never two at once
        self.live = None
        if self.tty:
            from rich.live import Live

            self.console = console(self.stream)
            self.live = Live(
                self._render(), console=self.console, refresh_per_second=8, transient=True, get_renderable=self._render
            )
            self.live.start()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _render(self):
        from rich.console import Group
        from rich.markup import escape
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        with self.lock:  # a copy: steps print and end while the view is drawn
            rows = []
            for n, (v, t0) in self.running.items():
                tail = list(self.tails.get(n, ()))
                if n in self.redrawn:
                    tail.append(self.redrawn[n])
                rows.append((n, v, t0, self.building.get(n), tail))
            done = self.done
        parts: list = []
        grid = None
        for name, verb, t0, env, tail in rows:
            if grid is None:  # steps' rows in one grid (aligned), broken where a step's lines go
                grid = Table.grid(padding=(0, 1))
                parts.append(grid)
            # Names carry matrix values and labels: escaped (printable) before rich sees them.
            shown, env = escape(printable(name)), env and escape(printable(env))
            label = f"build env {env} [dim](for {shown})[/]" if env else f"{verb} {shown}"
            grid.add_row(Spinner("dots"), label, f"[dim]{format_seconds(now - t0)}[/]")
            if tail:
                # Cut at the screen's edge: a wrapped line would throw the live view's redraw off.
                parts += [Text("    " + line, style="dim", no_wrap=True, overflow="ellipsis") for line in tail]
                grid = None
        parts.append(Text.from_markup(f"  [dim]{done}/{self.total} steps done[/]"))
        return Group(*parts)

    def _line(self, text: str, style: str = "") -> None:
        if self.quiet:
            return
        # A name, reason or command may quote a value (a matrix value, a param): no control
        # character of it reaches the terminal; the lines broken on purpose stay so.
        text = printable_lines(text)
        if self.tty:
            from rich.markup import escape

            self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))
        else:
            with self._write:
                self.stream.write(text + "\n")
                self.stream.flush()

    # --- what steps print (executors/protocol.py: OutputSink) ---------------------------------
    def output(self, step: str, line: str, env: Optional[str] = None) -> None:
        """A whole line step `step` printed (`env`: a line of its environment's build)."""
        if self.step_output == OUTPUT_NONE:
            return
        text = shown_line(line)
        if self.tty and self.step_output == OUTPUT_AUTO:
            with self.lock:
                self.redrawn.pop(step, None)  # the line it redrew has ended
                if step not in self.running:
                    return
                if env is not None:
                    self.building[step] = env
                tail = self.tails.get(step)
                if tail is None:
                    tail = self.tails[step] = deque(maxlen=TAIL_LINES)
                tail.append(text)
            return
        who = printable(f"env {env}" if env is not None else step)
        if self.tty:
            from rich.text import Text

            with self.lock:
                self.redrawn.pop(step, None)
            self.console.print(Text(f"{who} | {text}"), soft_wrap=True)
        else:
            with self._write:
                self.stream.write(f"{who} | {text}\n")
                self.stream.flush()

    def progress(self, step: str, text: str, env: Optional[str] = None) -> None:
        """The line a step redraws in place (a progress bar): on a terminal, shown under its
        row until a whole line comes; without one, nothing (the line shows when it ends)."""
        if not self.tty or self.step_output == OUTPUT_NONE:
            return
        with self.lock:
            if step in self.running:
                self.redrawn[step] = shown_line(text)
                if env is not None:
                    self.building[step] = env

    def built(self, step: str, env: str) -> None:
        """The build of `env` is over: on a terminal its lines make room for the step's."""
        with self.lock:
            self.building.pop(step, None)
            self.tails.pop(step, None)
            self.redrawn.pop(step, None)

    def message(self, text: str) -> None:
        self._line(text, "bold")

    def started(self, name: str, decision: Decision) -> None:
        verb = "restore" if decision.verdict == Verdict.RESTORE else "run"
        with self.lock:
            self.running[name] = (verb, time.monotonic())
        if not self.tty:
            self._line(f"{verb:<8} {printable(name)}")
        if self.explain:
            for r in decision.reasons:
                self._line(f"         {printable(name)}: {printable(reason_text(r))}", "dim")

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            self.tails.pop(result.name, None)  # the lines make way for the status line
            self.redrawn.pop(result.name, None)
            self.building.pop(result.name, None)
            self.done += 1
        for note in result.notes:
            self._line(printable(f"note: {result.name}: {note}"), "yellow")
        o = result.outcome
        if o == Outcome.FRESH and not (decision and decision.record):
            return
        if o == Outcome.STOPPED and decision is not None and decision.verdict == Verdict.STOPPED:
            return  # stopped before and stays so: as quiet as a fresh task (the summary counts it)
        label = {
            Outcome.RAN: "ok",
            Outcome.RESTORED: "restored",
            Outcome.FRESH: "fresh",
            Outcome.FAILED: "FAILED",
            Outcome.SKIPPED: "skipped",
            Outcome.WOULD_RUN: "would run",
            Outcome.WOULD_RESTORE: "would restore",
            Outcome.LEFT_ON_REMOTE: "remote",
            Outcome.STOPPED: "stopped",
        }[o]
        gpus = f", GPU {','.join(result.gpus)}" if result.gpus else ""
        extra = (
            f" ({format_seconds(result.seconds)}{gpus})" if o in (Outcome.RAN, Outcome.RESTORED, Outcome.FAILED) else ""
        )
        if o in (Outcome.SKIPPED, Outcome.STOPPED) and result.error:
            extra = f" ({printable(result.error)})"  # (it names the step that failed)
        name = printable(result.name)
        if o == Outcome.WOULD_RUN and result.command:
            extra = ": " + hanging(shown_command(result.command), len(f"{label:<8} {name}: "))
        self._line(f"{label:<8} {name}{extra}", STATE_STYLE.get(o, ""))


def hanging(text: str, indent: int) -> str:
    """A multi-line `text` (a command) whose lines after the first start `indent` columns in,
    under the first, not at the margin."""
    first, *rest = text.rstrip("\n").expandtabs(4).split("\n")  # (a tab, escaped by _line, would read \t)
    return "\n".join([first] + [" " * indent + line if line else "" for line in rest])


def log_tail(root: str, log_rel: Optional[str], lines: int = LOG_TAIL_LINES) -> list:
    if not log_rel:
        return []
    try:
        with open_regular(os.path.join(root, log_rel)) as f:  # (OSError for a FIFO: never read)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    # shown as the live view shows a step's lines: its escapes cannot drive the terminal
    return [
        shown_line(ln if len(ln) <= LOG_LINE_MAX else ln[:LOG_LINE_MAX] + " [...]") for ln in data.splitlines()[-lines:]
    ]


def failure_text(result: StepResult, root: str) -> str:
    took = format_seconds(result.seconds)
    err = result.error or "failed"
    # the environment's text has its own parentheses ("train (venv:...)"): no second layer
    if result.environment:
        took += f" in env {result.environment}"
    if result.gpus:
        took += f" on GPU {','.join(result.gpus)}"
    name = printable(result.name)  # (a matrix value's line break must not start a line)
    if err.startswith(("exited with", "was killed", "interrupted")):
        head = f"step '{name}' {err} after {took}"
    else:
        head = f"step '{name}' failed after {took}: {err}"
    out = [head]
    if result.command:
        out.append("  command: " + hanging(shown_command(result.command), len("  command: ")))
    if result.ran:
        # What really ran: ${{outputs.X}} pointed to staging paths, not to the outputs' own.
        out.append("  ran:     " + hanging(shown_command(result.ran), len("  ran:     ")))
        out += [f"           {printable(stage)} = {printable(path)}" for stage, path in result.staged]
    tail = log_tail(root, result.log)
    if result.log:
        out.append(
            f"  log: {printable(result.log)}"
            + (
                (" (its last line below)" if len(tail) == 1 else f" (last {len(tail)} lines below)")
                if tail
                else " (empty)"
            )
        )
    out += [f"    {line}" for line in tail]
    return printable_lines("\n".join(out))  # (the name, error, command may quote values)


# How the summary line says an outcome, where its JSON name is not a phrase.
_OUTCOME_WORDS = {Outcome.WOULD_RUN: "would run", Outcome.WOULD_RESTORE: "would restore"}


def render_summary(summary: RunSummary, root: str, stream=None, dry_run: bool = False) -> None:
    stream = stream or sys.stderr
    for r in summary.failed:
        stream.write(failure_text(r, root) + "\n")
    counts: dict = {}
    for r in summary.results.values():
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    if summary.settled:
        counts[Outcome.FRESH] = counts.get(Outcome.FRESH, 0) + len(summary.settled)
    order = (
        Outcome.RAN,
        Outcome.RESTORED,
        Outcome.LEFT_ON_REMOTE,
        Outcome.FRESH,
        Outcome.STOPPED,
        Outcome.FAILED,
        Outcome.SKIPPED,
        Outcome.WOULD_RUN,
        Outcome.WOULD_RESTORE,
    )
    parts = [f"{counts[o]} {_OUTCOME_WORDS.get(o, o)}" for o in order if counts.get(o)]
    status = summary.status
    if dry_run or counts.get(Outcome.WOULD_RUN) or counts.get(Outcome.WOULD_RESTORE):
        # Nothing ran: "succeeded" would claim otherwise, even when every step was fresh.
        status = "dry run"
    stream.write(f"{status}: {', '.join(parts) or 'nothing to do'} in {format_seconds(summary.seconds)}\n")
    stream.flush()


def run_json(summary: RunSummary) -> dict:
    return {
        "status": summary.status,
        "steps": [
            {
                "name": r.name,
                "outcome": r.outcome,
                "seconds": round(r.seconds, 3),
                **({"error": r.error} if r.error else {}),
                **({"log": r.log} if r.log else {}),
                **({"environment": r.environment} if r.environment else {}),
                **({"gpus": list(r.gpus), "gpu_model": r.gpu_model} if r.gpus else {}),
                **({"worker": r.worker} if r.worker else {}),
            }
            for r in summary.results.values()
        ]
        + [{"name": n, "outcome": Outcome.FRESH, "seconds": 0.0} for n in summary.settled],
    }


CI_SUMMARY_FILE = "pipe-summary.json"
CI_SUMMARY_VERSION = 1


def ci_summary(
    summary: RunSummary, exit_code: int, job: Optional[int], remote: Optional[dict], push: Optional[dict]
) -> dict:
    """The JSON summary of `pipe run --ci` / `--summary FILE` (layout in docs/ci.md)."""
    counts: dict = {}
    for r in summary.results.values():
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    steps = []
    for r in summary.results.values():
        d = summary.decisions.get(r.name)
        steps.append(
            {
                "name": r.name,
                "outcome": r.outcome,
                "seconds": round(r.seconds, 3),
                "key": d.key.digest if d is not None and d.key is not None else None,
                "reasons": [reason_json(x) for x in d.reasons] if d is not None else [],
                **({"remote": d.remote} if d is not None and d.remote else {}),
                **({"error": r.error} if r.error else {}),
                **({"log": r.log} if r.log else {}),
                **({"notes": list(r.notes)} if r.notes else {}),
            }
        )
    return {
        "version": CI_SUMMARY_VERSION,
        "status": summary.status,
        "exit_code": exit_code,
        "job": job,
        "seconds": round(summary.seconds, 3),
        "counts": counts,
        "remote": remote,
        "push": push,
        "steps": steps,
    }
