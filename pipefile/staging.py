"""Staging: the one owner of where a running task's outputs are until they are good.

For each output of a task that runs (`Staged`):
  1. What sits at the output path is saved in the store if it is not there already (a
     hand-edited output is never lost), then moved aside.
  2. The task writes at its staging path (what `${{outputs.X}}` points to) or, as in make,
     at the output path itself; an output folder exists, empty, at both.
  3. On success the staged outputs are collected into place (checked: written once, of
     the declared type) and what was moved aside goes. On failure what the task wrote is
     removed and the previous outputs move back: the workspace is as it was before.
  4. A run killed meanwhile (kill -9, a crash) is repaired by the next one, with the
     workspace lock held, before anything else: `recover`.

Staging and moving aside stay on the output's own file system (renames, never copies):
`.pipe/stage/STEP.OUTPUT.NAME` and `.pipe/scratch` when that is the workspace's, else a
folder `.pipe-STEP-XXXXXXXX` made beside the output (names bounded: filenames.py). Such a folder is named in a journal
before it is made, so that recovery finds it on any file system:

    .pipe/beside/<token>   {"v": BESIDE_VERSION, "folder": "/absolute/path/.pipe-STEP-<token>"}
                           written (fsynced, renamed into place) before the folder is made;
                           removed once the folder is gone. `.tmp-*` files are half-written
                           entries, whose folder was never made.

Each area that holds moved-aside content (`.pipe/scratch`, a beside folder) keeps one
`prev-XXXX/` per output: `x` is the content, `origin` its workspace path (written before
the move), and one `new-XXXX` link (to the output's path) per output that had no content before:
recovery moves every `x` back to its origin, and removes what a `new-` link names.

Invariant: nothing is moved or written at an output path whose real location changed during
the run (a link a step made) or lies in pipe's own state (`Landings.check`).
"""

from __future__ import annotations

import functools
import json
import os
import stat as statmod
import threading
from typing import Optional

from . import spec
from .cache.content_store import remove_path, replace_path
from .digest import FILE, Hasher
from .filehash import open_regular
from .filenames import beside_name, file_name, stage_leaf
from .graph import Node
from .landing import blocked_folder, first_link, forbidden_landing, landing, lands_plainly
from .wholefile import sync_folder
from .workspace import Workspace
from .workspace.lock import disk_errors

BESIDE_DIR = "beside"
BESIDE_VERSION = 1
_BESIDE_PREFIX = ".pipe-"


class StepFailure(Exception):
    """The task fails with this message (and exit status, if its command gave one)."""

    def __init__(self, message: str, exit_code: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Landings:
    """Where each output path of the graph really lands, as the run's first task starts, and
    the check that nothing is written where a link made since (or one into pipe's state)
    would send it. `outputs`: every output path of the graph (path -> step name)."""

    def __init__(self, root: str, outputs: dict, store_root: str):
        self.root = root
        self._outputs = outputs
        self._planned: Optional[dict] = None
        self._lock = threading.Lock()
        self._root_real = os.path.realpath(root)
        self._store_real = [os.path.realpath(store_root)]
        self._plain_allowed: dict = {}  # (lands_plainly's memo)

    def _planned_landings(self) -> dict:
        """Taken when the first task starts, not before: a no-op costs nothing (the links were
        validated before the run by graph.link_errors)."""
        with self._lock:  # every task waits here before it touches anything
            if self._planned is None:
                memo: dict = {}
                self._planned = {p: landing(self.root, p, memo) for p in self._outputs}
            return self._planned

    def check(self, path: str) -> None:
        """Refuse to write output `path` if a link on the way now sends it elsewhere than when
        the run began, or into pipe's own state. Called right before anything is moved or
        written there."""
        planned = (self._planned if self._planned is not None else self._planned_landings()).get(path)
        if lands_plainly(self.root, self._root_real, path, planned, self._plain_allowed, self._store_real):
            return  # (the usual case: no link on its way then or now, and allowed)
        now = landing(self.root, path, {"": self._root_real})
        why = forbidden_landing(self.root, path, now, self._store_real, self._root_real)
        if why is None and (planned is None or now == planned):
            return
        link = first_link(self.root, path)
        via = f" through the link '{link[0]}' -> '{link[1]}'" if link else ""
        if why is None:
            why = f"that link was made during this run (it was to land at '{planned}')"
        raise StepFailure(
            f"will not write output '{path}': it would land at '{now}'{via}, and {why}; nothing "
            f"was written there. Remove the link (a step that made it wrote outside its declared "
            f"outputs) and run again"
        )


class Staging:
    """The staging of one run's tasks in workspace `ws`."""

    def __init__(self, ws: Workspace, hasher: Hasher, landings: Landings):
        self.ws = ws
        self.hasher = hasher
        self.landings = landings
        self.root = ws.root

    def preserve(self, rel: str) -> list:
        """Make sure the store holds whatever is at `rel` now, before it is replaced; returns
        notes for the user."""
        try:
            d = self.hasher.digest(rel, data_only=True)  # (a FIFO there holds nothing to keep)
        except OSError:
            return []
        if d is None or self.ws.store.complete(d):
            return []
        self.ws.note_saved(rel, d)  # first: stored unnoted (a crash between), the next run would not note it
        ap = os.path.join(self.root, rel)
        if d.kind == FILE:
            self.ws.store.put_file(ap, d.digest)
        else:
            self.ws.store.put_tree(self.hasher.tree(rel), ap)
        return [
            f"saved the previous content of '{rel}' in the store before replacing it; "
            f"get it back with: pipe recover {d.digest[:12]} -o PATH"
        ]

    def stage(self, node: Node, container: bool = False) -> "Staged":
        """The outputs of `node`, about to run, staged (`Staged.prepare` does the moving)."""
        return Staged(self, node, container)

    # --- the journal of folders beside outputs on other file systems -------------------
    def _journal_dir(self) -> str:
        return os.path.join(self.ws.dir, BESIDE_DIR)

    def make_beside(self, step: str, parent: str) -> tuple:
        """A new folder in `parent` (the output's own file system), named in the journal
        first: (folder, journal entry)."""
        token = os.urandom(4).hex()  # (what secrets.token_hex does, without importing hashlib at start-up)
        folder = os.path.join(parent, beside_name(_BESIDE_PREFIX, step, token))
        jdir = self._journal_dir()
        os.makedirs(jdir, exist_ok=True)
        entry = os.path.join(jdir, token)
        tmp = os.path.join(jdir, f".tmp-{token}")
        with open(tmp, "w") as f:
            json.dump({"v": BESIDE_VERSION, "folder": os.path.abspath(folder)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, entry)
        sync_folder(jdir)
        os.mkdir(folder, 0o700)
        return folder, entry


def drop_beside(folder: str, entry: str) -> None:
    """Remove a beside folder, then (only once it is gone) its journal entry."""
    import shutil  # here, not at the top: a no-op run writes nothing (start-up)

    shutil.rmtree(folder, ignore_errors=True)
    if not os.path.lexists(folder):
        try:
            os.unlink(entry)
        except FileNotFoundError:
            pass


def written_twice(oname: str, out) -> StepFailure:
    """Output `oname` (spec output `out`) written both at its staging path and at its own."""
    return StepFailure(f"wrote output '{oname}' twice: at ${{{{outputs.{oname}}}}} and at '{out.path}'; write it once")


def check_written_kind(oname: str, out, is_dir: bool, where: Optional[str] = None) -> None:
    """Refuse a folder written for a uri_file output or a file for a uri_folder (`where`: the
    folder written, looked into only then, to say whether it is empty)."""
    if out.type == spec.URI_FILE and is_dir:
        empty = where is not None and not _has_content(where)
        raise StepFailure(
            f"wrote {'an empty folder' if empty else 'a folder'} where a file was declared: output '{oname}' "
            f"('{out.path}') is a uri_file; write a file there, or declare the output a uri_folder"
        )
    if out.type == spec.URI_FOLDER and not is_dir:
        raise StepFailure(f"wrote a file at '{out.path}', but output '{oname}' is a uri_folder")


def _lstat(path: str) -> Optional[os.stat_result]:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _has_content(path: str, st: Optional[os.stat_result] = None) -> bool:
    """Whether something is at `path`: a file, a link, or a folder with an entry (`st`: its lstat, if known)."""
    if st is None:
        st = _lstat(path)
        if st is None:
            return False
    if statmod.S_ISDIR(st.st_mode):  # a folder, not a link to one
        try:
            with os.scandir(path) as it:
                return any(True for _ in it)
        except OSError:
            return False
    return True


def _same_device(folder: str, ref: str, st: Optional[os.stat_result] = None) -> bool:
    """Whether `folder` (`st`: its stat, when known) is on the device of pipe's folder `ref`."""
    try:
        return (st or os.stat(folder)).st_dev == _device_of(ref)
    except OSError:
        return False


def _stat(path: str) -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _device_of(folder: str) -> int:
    """The device of one of pipe's own folders (its scratch): asked once, not at every step."""
    return os.stat(folder).st_dev


class Staged:
    """The outputs of one running task: where it writes them, and where the previous ones wait.

    prepare() -> the task runs -> collect() -> (commit) -> done(); on any failure roll_back()."""

    def __init__(self, staging: Staging, node: Node, container: bool):
        self.staging = staging
        self.node = node
        self.container = container
        self.paths: dict = {}  # output name -> absolute staging path
        self.notes: list = []
        self._aside: dict = {}  # output name -> where its previous content waits
        self._cleared: set = set()  # outputs whose workspace path this task now owns
        self._beside: list = []  # (folder, journal entry) made next to outputs on other file systems
        self._own_stage: Optional[str] = None  # a container task's staging folder (mounted read-write)
        self._new: list = []  # notes (new-*) of outputs that had no previous content

    def _abs(self, rel: str) -> str:
        return os.path.join(self.staging.root, rel)

    @property
    def own_stage(self) -> Optional[str]:
        """A container task's staging folder (None for a local task)."""
        return self._own_stage

    def prepare(self) -> None:
        """Move the previous outputs aside and make the staging paths."""
        st, ws, name = self.staging, self.staging.ws, self.node.name
        for out in self.node.outputs.values():  # before anything is moved aside or created
            st.landings.check(out.path)
        if self.container:  # a folder of its own, the only one it may write besides outputs
            self._own_stage = os.path.join(ws.stage_dir, file_name(name))
            os.makedirs(self._own_stage, exist_ok=True)
        for oname, out in self.node.outputs.items():
            ws_path = self._abs(out.path)
            parent = os.path.dirname(ws_path) or st.root
            there = _stat(parent)  # (one stat where it is there, for both questions: makedirs takes three)
            if there is None or not statmod.S_ISDIR(there.st_mode):
                try:
                    os.makedirs(parent, exist_ok=True)
                except (FileExistsError, NotADirectoryError):  # (was the OS's words, naming no fix)
                    raise StepFailure(blocked_folder(st.root, oname, out.path)) from None
                there = None
            if _same_device(parent, ws.scratch, there):
                # Flat and deterministic (a tool that records it writes the same bytes), its extension kept.
                leaf = stage_leaf(name, oname, os.path.basename(ws_path))
                stage_dir = self._own_stage or ws.stage_dir
                st_path, area = os.path.join(stage_dir, leaf), ws.scratch
                remove_path(st_path)
            else:
                area, entry = st.make_beside(name, parent)
                self._beside.append((area, entry))
                st_path = os.path.join(area, "stage", os.path.basename(ws_path))
            if os.path.lexists(ws_path):
                import tempfile  # (here: a first run, which moves nothing aside, does not import it)

                self.notes += st.preserve(out.path)
                aside_dir = tempfile.mkdtemp(dir=area, prefix="prev-")
                with open(os.path.join(aside_dir, "origin"), "w") as f:
                    f.write(out.path)  # so that a run killed now can be rolled back later
                aside = os.path.join(aside_dir, "x")
                os.replace(ws_path, aside)
                self._aside[oname] = aside
            else:
                # Nothing there: whatever appears at the path is this task's, unfinished until
                # collected. Noted before the task starts, so that a run killed meanwhile has it
                # removed by recovery, not kept (and saved) as if it were the user's.
                note = os.path.join(area, f"new-{os.urandom(4).hex()}")
                try:
                    os.symlink(out.path, note)  # (one call, whole or absent: a link holding the path)
                    self._new.append(note)
                except OSError:
                    pass  # (a file system without links, beside the output: no note, as before)
            self._cleared.add(oname)
            if not os.path.isdir(os.path.dirname(st_path)):  # (each task: a step may have removed it)
                os.makedirs(os.path.dirname(st_path), exist_ok=True)
            if out.type == spec.URI_FOLDER:
                os.mkdir(st_path)
                os.mkdir(ws_path)
            self.paths[oname] = st_path

    def writable(self) -> tuple:
        """The folders the task may write (a container mounts only these read-write)."""
        out = {os.path.dirname(p) for p in self.paths.values()}
        out |= {self._abs(o.path) for o in self.node.outputs.values() if o.type == spec.URI_FOLDER}
        return tuple(sorted(out))

    def collect(self) -> None:
        """Put what the task staged in place, and check it wrote each output once, as declared."""
        landings = self.staging.landings
        for out in self.node.outputs.values():  # the command (or a task beside it) may have made a link
            landings.check(out.path)
        for oname, out in self.node.outputs.items():
            ws_path = self._abs(out.path)
            st_path = self.paths[oname]
            staged = _lstat(st_path)
            in_stage = staged is not None and _has_content(st_path, staged)
            in_ws = _has_content(ws_path)
            if in_stage and in_ws:
                raise written_twice(oname, out)
            empty_folder = staged is not None and statmod.S_ISDIR(staged.st_mode)
            if not in_stage and out.type != spec.URI_FOLDER and not in_ws and empty_folder:
                in_stage = True  # an empty folder is something written: said below, not "did not write"
            if in_stage:
                replace_path(st_path, ws_path, os.path.dirname(st_path))
            elif not os.path.lexists(ws_path):
                where = f"the command must write it at ${{{{outputs.{oname}}}}} (or at '{out.path}')"
                raise StepFailure(f"did not write its output '{oname}' ('{out.path}'): {where}")
            if in_stage and staged is not None and not statmod.S_ISLNK(staged.st_mode):
                is_dir = statmod.S_ISDIR(staged.st_mode)  # (what was staged is what is there now)
            else:
                is_dir = os.path.isdir(ws_path)
            check_written_kind(oname, out, is_dir, ws_path)

    def done(self) -> None:
        """The outputs are committed: what was moved aside, and the staging, go."""
        for b in self._aside.values():
            import shutil  # (here: when nothing was moved aside, it is not imported)

            shutil.rmtree(os.path.dirname(b), ignore_errors=True)
        self._clean()

    def roll_back(self) -> None:
        """Undo what the task did to its outputs; never touch an output it did not take over."""
        import shutil

        for oname, out in self.node.outputs.items():
            if oname not in self._cleared:
                continue
            ws_path = self._abs(out.path)
            try:
                self.staging.landings.check(out.path)
            except StepFailure:
                # A link made meanwhile sends the path elsewhere (maybe into .pipe/): touch nothing there. The
                # previous content was saved in the store before it was moved aside; the next run restores it.
                if oname in self._aside:
                    shutil.rmtree(os.path.dirname(self._aside[oname]), ignore_errors=True)
                continue
            try:
                remove_path(ws_path)
                if oname in self._aside:
                    os.replace(self._aside[oname], ws_path)
                    shutil.rmtree(os.path.dirname(self._aside[oname]), ignore_errors=True)
            except OSError:
                pass  # the store holds the previous content; the next run restores it
        self._clean()

    def _clean(self) -> None:
        for note in self._new:  # the output is in place, or was removed: recovery has nothing to do
            try:
                os.unlink(note)
            except OSError:
                pass
        for p in self.paths.values():
            try:
                remove_path(p)  # only left there on failure: on success it was moved into place
            except OSError:
                pass
        for folder, entry in self._beside:
            drop_beside(folder, entry)
        if self._own_stage:
            import shutil  # (a container task's own folder: local tasks have none)

            shutil.rmtree(self._own_stage, ignore_errors=True)


# --- after a killed run ---------------------------------------------------------------------
def recover(ws: Workspace) -> None:
    """With the lock held: undo what a killed run left half done, on any file system; the
    rest (staged files, temporaries) is garbage.

    The content a killed task had moved aside is the last good one (what the task wrote is
    unfinished): it goes back to its path."""
    ws.stop_orphans()  # before anything moves: they would write on
    _put_back(ws, ws.scratch)
    jdir = os.path.join(ws.dir, BESIDE_DIR)
    try:
        entries = sorted(os.scandir(jdir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        entries = []  # (a file in its place: nothing to put back; writing there says so)
    for e in entries:
        folder = _beside_folder(e.path) if not e.name.startswith(".") else None
        if folder is not None:
            _put_back(ws, folder)
            drop_beside(folder, e.path)
        else:  # half written (its folder was never made), or unreadable
            try:
                os.unlink(e.path)
            except OSError:
                pass
    with disk_errors(ws.dir):
        for d in (ws.stage_dir, ws.scratch):
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                st = None  # (a new workspace: made below)
            if st is not None and not statmod.S_ISDIR(st.st_mode):
                os.unlink(d)  # pipe's own folder: what is in its place goes (rmtree would open a FIFO: a wait)
                st = None
            try:
                left = st is not None and bool(os.listdir(d))
            except OSError:
                left = True  # unreadable: rmtree does what it can, as ever
            if left:  # (usually empty: shutil is imported only when there is something to remove)
                import shutil

                shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d, exist_ok=True)
    ws.store.sweep_tmp()


def _beside_folder(entry: str) -> Optional[str]:
    """The folder a journal entry names; None if it names none of ours."""
    try:
        with open_regular(entry) as f:  # (a FIFO there, never made by pipe: skipped, never waited on)
            data = json.load(f)
        folder = data["folder"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        not isinstance(folder, str)
        or not os.path.isabs(folder)
        or not os.path.basename(folder).startswith(_BESIDE_PREFIX)
    ):
        return None  # never remove anything but a beside folder
    return folder


def _put_back(ws: Workspace, area: str) -> None:
    """Move each `prev-*/x` in `area` back to its origin; remove what a killed task began
    where nothing was (`new-*`)."""
    try:
        entries = list(os.scandir(area))
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        new = e.name.startswith("new-")  # (a link to the output's path)
        if not new and not e.name.startswith("prev-"):
            continue
        try:
            if new:
                rel = os.readlink(e.path)
            else:
                with open_regular(os.path.join(e.path, "origin")) as f:  # (a FIFO: never waited on)
                    rel = os.fsdecode(f.read())
            origin = os.path.join(ws.root, rel)
            moved = os.path.join(e.path, "x")
            # Never through a link (made by a step of that run) into pipe's own state; the
            # store holds that content, and the next run restores it once the link is gone.
            if not rel or forbidden_landing(ws.root, rel, landing(ws.root, rel), [ws.store_root]):
                continue
            if new:  # what the task began where nothing was: no one's, never saved as a hand edit
                remove_path(origin)
                os.unlink(e.path)
            elif os.path.lexists(moved):
                remove_path(origin)
                os.makedirs(os.path.dirname(origin), exist_ok=True)
                os.replace(moved, origin)
        except OSError:
            pass  # the store holds the previous content; the next run restores it
