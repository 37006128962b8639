"""The Executor protocol: everything the scheduler asks of whatever runs its tasks.

The scheduler decides (what runs, in which order, what a failed restore becomes); an
executor acts on one task at a time, possibly from several threads at once, and reports
each task as an outcomes.StepResult. It never re-plans: a restore that cannot be done
returns a result with outcome RESTORE_FAILED, and the scheduler runs the task instead.
"""

from __future__ import annotations

from typing import Optional, Protocol

from ..digest import PathDigest
from ..graph import Node
from ..outcomes import StepResult
from ..rebuilder import Decision


class OutputSink(Protocol):
    """Where an executor sends what running tasks print (the face's progress view). Called
    from any thread, one call at a time."""

    def output(self, step: str, line: str, env: Optional[str] = None) -> None:
        """A whole line task `step` printed (no newline); `env`: a line of the build of the
        environment it waits for, not of its command."""
        ...

    def progress(self, step: str, text: str, env: Optional[str] = None) -> None:
        """The line task `step` is redrawing in place (carriage returns: a progress bar),
        as it stands now; the next whole line replaces it. For a live view only."""
        ...

    def built(self, step: str, env: str) -> None:
        """The build of `env` that task `step` waited for is over (its lines came before)."""
        ...


class Executor(Protocol):
    def follow_output(self, sink: OutputSink) -> None:
        """From now on, send each whole line a task prints (stdout and stderr, and the build
        output of its environment) to `sink` as it comes, and all of a task's lines before
        run() returns. The task's log keeps everything, followed or not."""
        ...

    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        """Run the task; `devices` are the GPUs leased to it (None: this run hands out none).
        Outcome RAN or FAILED (a dry run: WOULD_RUN)."""
        ...

    def restore(self, node: Node, decision: Decision, bring: bool = False) -> StepResult:
        """Put the task's cached outputs (decision.outputs) in place. Outcome RESTORED, FAILED
        (running would not help), RESTORE_FAILED (running would), or LEFT_ON_REMOTE (outputs
        that stay on a remote because nothing in this run reads them here; `bring` asks for
        them even so: a task that reads them must run after all). A dry run: WOULD_RESTORE."""
        ...

    def when_commands_run(self, hook) -> None:
        """Call `hook()` (from any thread) each time a task's command has started. The
        scheduler does its own work (the journal) while commands run, not between them; an
        executor that cannot tell need do nothing (the end of each task stands for it)."""
        ...

    def cancel(self, hard: bool = False) -> None:
        """Stop the running tasks (hard: at once); tasks not started yet do not start."""
        ...

    def close(self) -> None:
        """The run is over: no task of it is running any more."""
        ...

    # --- the outputs put in place, watched during the run (a task that writes over another
    # task's output is caught): a cheap fingerprint, when it changed, putting it back.
    def commands_starting(self) -> None:
        """Called before the run's first command: from then on outputs can change under us."""
        ...

    def signature(self, rel: str) -> Optional[int]:
        """A fingerprint of what is at workspace path `rel` (stats only); None: nothing there
        (or not watched)."""
        ...

    def changed_at(self, rel: str) -> int:
        """When what is at `rel` last changed, in time.time_ns()."""
        ...

    def put_back(self, rel: str, content: PathDigest) -> tuple:
        """Write `content` back at `rel`, saving what is there first: (ok, notes)."""
        ...

    def forget(self, key: str) -> None:
        """Drop the cached result of key `key` (a task that broke the rules runs again)."""
        ...
