"""What running a parallel map (`foreach:`) adds to running ordinary tasks, as in Azure's
parallel job: a failed item's task runs again (`retries`), failed items up to
`error_threshold` do not fail the step (their entries leave the gathered folder, and the
steps reading it go on with the items that succeeded), and a batch's items are linked into
the folder its command reads.

And a sweep's failed trials in a keep-going run, as Azure's sweep picks the best of the
trials that finished: each still fails the run, but its entries leave the declared folders
and `STEP.best` (and what reads it) goes on with the trials that succeeded.

`MapPolicy` is asked by the scheduler about each failed task; `link_batches` is called by
the session (under the workspace lock) before it plans a run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from .artifacts import remove_read_only
from .filenames import file_name
from .outcomes import Outcome, StepResult


class MapPolicy:
    """Retries and tolerated failures of the tasks of `foreach:` steps, and the failed trials
    `STEP.best` leaves out (keep-going), for one run."""

    def __init__(self, graph, keep_going: bool = False):
        self.graph = graph
        self.keep_going = keep_going
        self.tries: dict = {}  # task -> failed tries so far
        self.failed: dict = {}  # foreach step -> its tasks that failed for good, in order
        self.left_out: dict = {}  # sweep -> {trial: None} of those that failed, in order (keep-going)

    def _group(self, name: str):
        groups = self.graph.groups
        if not groups:
            return None
        node = self.graph.nodes.get(name)
        group = groups.get(node.step.group) if node is not None and node.step.group else None
        return group if group is not None and group.kind == "foreach" else None

    def retry(self, result: StepResult) -> bool:
        """Whether a task whose command failed runs again (the failure is then not recorded)."""
        group = self._group(result.name)
        if group is None or result.outcome != Outcome.FAILED or result.exit_code is None:
            return False  # (no exit code: it never started; another try would fail the same way)
        done = self.tries.get(result.name, 0)
        if done >= group.retries:
            return False
        self.tries[result.name] = done + 1
        return True

    def after(self, result: StepResult) -> StepResult:
        """A task's final result, with the tries it took said; a failure within its step's
        error_threshold is marked tolerated and its entries are taken out of the gathered
        folder (so readers see only the items that succeeded)."""
        tries = self.tries.get(result.name, 0)
        if tries:
            # a task that still failed failed every try: "N failed first" would read as if one passed
            said = "each failed" if result.outcome == Outcome.FAILED else f"{tries} failed first"
            result = dataclasses.replace(result, notes=[f"tried {tries + 1} times ({said})"] + list(result.notes))
        group = self._group(result.name)
        if group is None:
            return self._sweep_after(result)
        if result.outcome != Outcome.FAILED:
            return result
        failed = self.failed.setdefault(group.name, [])
        failed.append(result.name)
        if group.error_threshold != -1 and len(failed) > group.error_threshold:
            return result  # one too many: the step fails
        for out in self.graph.nodes[result.name].outputs.values():
            remove_read_only(os.path.join(self.graph.pipefile.root, out.path))
        allowed = "any number" if group.error_threshold == -1 else str(group.error_threshold)
        note = f"failed, within the error_threshold of '{group.name}' ({len(failed)} of {allowed} allowed)"
        return dataclasses.replace(result, tolerated=True, notes=list(result.notes) + [note])

    # --- a sweep's failed trials, left out of STEP.best ---------------------------------------
    def _picking(self, name: str):
        """The sweep whose STEP.best picks among task `name` (a trial of it), in a keep-going
        run; None otherwise. (A sweep with per-task output paths: its task STEP.gathered,
        which STEP.best reads, gathers the trials that succeeded.)"""
        node = self.graph.nodes.get(name) if self.keep_going else None
        group = (self.graph.groups or {}).get(node.step.group) if node is not None and node.step.group else None
        if group is None or group.kind != "sweep" or f"{group.name}.best" not in self.graph.nodes:
            return None
        return group

    def _sweep_after(self, result: StepResult) -> StepResult:
        # (not one Ctrl-C stopped: the run ends there, and the workspace keeps what it had)
        gave_up = result.outcome == Outcome.FAILED and not (result.error or "").startswith("interrupted")
        group = self._picking(result.name) if gave_up else None
        if group is not None:
            # Its entries leave the declared folders (an earlier run's, kept by the failure):
            # STEP.best reads the trials that succeeded, and its key, the folders' content,
            # changes with them (the trial succeeding later makes it pick again).
            try:
                for out in self.graph.nodes[result.name].outputs.values():
                    remove_read_only(os.path.join(self.graph.pipefile.root, out.path))
            except OSError as e:  # (an entry left would be read as its result: STEP.best waits for it)
                why = f"not left out of {group.name}.best: its earlier entry could not be removed ({e})"
                return dataclasses.replace(result, notes=list(result.notes) + [why])
            self.left_out.setdefault(group.name, {})[result.name] = None
            return result
        group = self._best_of(result.name)
        left = self.left_out.get(group.name) if group is not None else None
        if not left:
            return result
        failed = [t for t in group.tasks if t in left]  # (in trial order, as they ended is by chance)
        named = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        if result.outcome == Outcome.SKIPPED and len(failed) == len(group.tasks):
            return dataclasses.replace(
                result,
                outcome=Outcome.FAILED,
                error=f"every trial of sweep '{group.name}' failed ({named}): there is no best trial to pick; "
                "fix what made them fail (their errors above, `pipe logs`) and run again",
            )
        if not result.ok:
            return result
        # (the trials stopped early are left out too, as in any run: only the failed ones are news)
        note = (
            f"picked among the trials of '{group.name}' that succeeded (keep-going); left out "
            f"{len(failed)} of {len(group.tasks)}, which failed: {named}"
        )
        return dataclasses.replace(result, notes=list(result.notes) + [note])

    def _best_of(self, name: str):
        """The sweep whose best trial task `name` (STEP.best) picks; None for any other task."""
        base, dot, tail = name.rpartition(".")
        group = (self.graph.groups or {}).get(base) if dot and tail == "best" else None
        return group if group is not None and group.kind == "sweep" else None

    def spares(self, reader: str, dep: str) -> bool:
        """Whether `reader` goes on although `dep` failed: STEP.best (or STEP.gathered, which it
        reads, of per-task output paths), of a trial left out of it, while some trial of the
        sweep was not (every one failed: STEP.best fails, saying so)."""
        node = self.graph.nodes.get(dep)
        left = self.left_out.get(node.step.group) if node is not None and node.step.group else None
        if not left or dep not in left or reader not in (f"{node.step.group}.best", f"{node.step.group}.gathered"):
            return False
        return len(left) < len(self.graph.groups[node.step.group].tasks)

    def is_left_out(self, name: str) -> bool:
        """Whether failed trial `name` is left out of its STEP.best (its readers ended without it)."""
        node = self.graph.nodes.get(name)
        return node is not None and bool(node.step.group) and name in self.left_out.get(node.step.group, ())

    def untolerated(self, results: dict) -> None:
        """At the end: a step whose failures went past its threshold fails with every one of them."""
        for step, names in self.failed.items():
            group = self.graph.groups[step]
            if group.error_threshold != -1 and len(names) > group.error_threshold:
                for n in names:
                    if results.get(n) is not None and results[n].tolerated:
                        results[n] = dataclasses.replace(results[n], tolerated=False)

    def summary(self) -> list:
        """(step, failed task names) of each foreach step some of whose items failed."""
        return [(step, list(names)) for step, names in self.failed.items()]


# --- batches ------------------------------------------------------------------------------
def link_batches(root: str, groups: dict, batch_root: str) -> None:
    """Make each batch folder (`batch_root/STEP/batch-K`) hold exactly its items: hard links
    to the files (a copy where the file system refuses links), links to folders. A link
    whose file was replaced (another inode) is made again; folders of batches and steps that
    are gone are removed."""
    base = os.path.join(root, batch_root)
    wanted_steps = set()
    for group in groups.values():
        if not group.batches:
            continue
        folder = file_name(group.name)  # (bounded: a long step name; expand_map.batch_folder agrees)
        wanted_steps.add(folder)
        step_dir = os.path.join(base, folder)
        for label, members in zip(group.labels, group.batches):
            _sync_folder(root, os.path.join(step_dir, label), members)
        _remove_others(step_dir, set(group.labels))
    if os.path.isdir(base):
        _remove_others(base, wanted_steps)


def _sync_folder(root: str, folder: str, members: tuple) -> None:
    os.makedirs(folder, exist_ok=True)
    wanted = {name: os.path.join(root, path) for name, path in members}
    with os.scandir(folder) as it:
        present = {e.name: e for e in it}
    for name, entry in present.items():
        if name not in wanted or not _same(entry, wanted[name]):
            remove_read_only(entry.path)
    for name, src in wanted.items():
        dst = os.path.join(folder, name)
        if not os.path.lexists(dst):
            link_member(src, dst)


def link_member(src: str, dst: str) -> None:
    """One item in a batch's folder: a relative link to a member folder, a hard link to a
    member file (a copy where links are refused). The Ray executor's worker makes the folder
    the same way on its node (executors/ray_worker.py)."""
    if os.path.isdir(src):
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
        return
    if os.path.islink(src) and os.path.exists(src):
        # The file it leads to: link() makes a link of the link itself, whose relative
        # target (../real/a.txt) leads nowhere from the batch's folder.
        src = os.path.realpath(src)
    try:
        os.link(src, dst)
    except OSError:
        import shutil  # (here: a no-op run imports no shutil, bz2, lzma: start-up)

        shutil.copy2(src, dst)


def _same(entry: os.DirEntry, src: str) -> bool:
    try:
        if entry.is_symlink():
            return os.path.realpath(entry.path) == os.path.realpath(src)
        mine, theirs = entry.stat(follow_symlinks=False), os.stat(src)
    except OSError:
        return False
    if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
        return True
    # A copy (no hard links here): the same while size and time say so.
    return mine.st_nlink == 1 and mine.st_size == theirs.st_size and mine.st_mtime_ns == theirs.st_mtime_ns


def _remove_others(folder: str, keep: set) -> Optional[None]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for e in entries:
        if e.name not in keep:
            remove_read_only(e.path)
    return None
