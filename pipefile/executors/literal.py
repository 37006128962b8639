"""Literal output paths in a container: `echo x > build/out.txt` works as it does locally.

A container sees the workspace read-only. For each folder that holds a file output (a
folder output is mounted read-write at its own path already), the task gets a *view* of
that folder in its staging folder: every entry of the folder as a link into a second,
read-only mount of the workspace (`WORKSPACE_VIEW`, where the workspace root is), and nothing at the
outputs' names. The view is mounted read-write at the folder's path. So the command reads
the folder as it is, may create its outputs there, and cannot change anything else in the
workspace (an existing entry is written through its link, which is read-only).

After the command, what it wrote at an output's name moves to the output's workspace path,
and staging's checks (written once, of its declared type) go on as for a local step. Any
other file it made in a view is dropped, with a note: a container step writes only its
declared outputs.

Entries on the way to another mount (the task's staging folder, a folder output, a nested
view) are real folders in the view, so that Docker mounts there and not through a link.
"""

from __future__ import annotations

import os

from .. import spec
from ..envs.base import WORKSPACE_VIEW
from ..staging import Staged

_VIEWS = ".literal"  # in the task's staging folder, removed with it


class LiteralView:
    """The views of one container task: made after its outputs are staged, landed after its command."""

    def __init__(self, root: str, staged: Staged):
        self.root = root
        self.staged = staged
        self.mounts: list = []  # (view folder on this machine, workspace folder it stands for)
        self._made: dict = {}  # view folder -> (the workspace folder it stands for, names pipe made in it)
        self._outputs: list = []  # (view path of an output, its workspace path, output name)

    def make(self) -> tuple:
        """Make the views; returns the mounts, (host folder, container path), read-write."""
        base = self.staged.own_stage
        if base is None:
            return ()
        parents: dict = {}
        for oname, out in self.staged.node.outputs.items():
            if out.type == spec.URI_FOLDER:
                continue
            ws_path = os.path.join(self.root, out.path)
            parent = os.path.dirname(ws_path)
            if os.path.realpath(parent) != os.path.normpath(
                os.path.join(os.path.realpath(self.root), os.path.dirname(out.path))
            ):
                continue  # a folder behind a link (another disk): its outputs go through ${{outputs.X}}
            parents.setdefault(parent, []).append((oname, ws_path))
        if not parents:
            return ()
        targets = set(parents) | {os.path.normpath(p) for p in self.staged.writable()}
        for i, (parent, outs) in enumerate(sorted(parents.items())):
            view = os.path.join(base, _VIEWS, str(i))  # apart: a view is never inside another
            self._fill(parent, view, {os.path.basename(w) for _, w in outs}, targets)
            self.mounts.append((view, parent))
            self._outputs += [(os.path.join(view, os.path.basename(w)), w, o) for o, w in outs]
        return tuple(self.mounts)

    def _fill(self, folder: str, view: str, skip: set, targets: set) -> None:
        os.makedirs(view, exist_ok=True)
        made = self._made.setdefault(view, (folder, set()))[1]
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            entries = []
        for name in entries:
            if name in skip:
                continue
            path = os.path.join(folder, name)
            made.add(name)
            if path in targets:
                os.mkdir(os.path.join(view, name))  # a mount point: what is mounted there covers it
                continue
            if any(t.startswith(path + os.sep) for t in targets) and os.path.isdir(path) and not os.path.islink(path):
                self._fill(path, os.path.join(view, name), set(), targets)
                continue
            os.symlink(f"{WORKSPACE_VIEW}/{os.path.relpath(path, self.root)}", os.path.join(view, name))

    def land(self) -> list:
        """Move what the command wrote at the outputs' names to their workspace paths; notes
        for what else it wrote (dropped)."""
        for at, ws_path, _ in self._outputs:
            if not os.path.lexists(at):
                continue
            if os.path.lexists(ws_path):
                # Written at both places (through ${{outputs.X}} too): staging says so.
                continue
            try:
                os.replace(at, ws_path)
            except OSError:
                import shutil  # here, not at the top: a no-op run moves nothing (start-up)

                shutil.move(at, ws_path)  # another file system
        notes = []
        outputs = {at for at, _, _ in self._outputs}
        for view, (folder, made) in self._made.items():
            try:
                names = sorted(os.listdir(view))
            except OSError:
                continue
            for name in names:
                at = os.path.join(view, name)
                if name in made or at in outputs:
                    continue
                rel = os.path.relpath(os.path.join(folder, name), self.root)
                notes.append(
                    f"wrote '{rel}', which is not one of its outputs: not kept (a container step "
                    f"writes only its declared outputs in the workspace)"
                )
        return notes
