"""The remotes files written: whole or not at all, by one `pipe remote add/remove` at a time in
a workspace; this workspace's own file made 0600 and, with its .pipe/ folder, kept out of git.
They are read and checked in `config`."""

from __future__ import annotations

import contextlib
import os

SHARED_FILE = ".pipe-remotes.yaml"
LOCAL_FILE = os.path.join(".pipe", "remotes.yaml")

# As workspace/__init__.py writes it (a layer beside this one): .pipe/ is never committed.
_STATE_GITIGNORE = "# pipe's own state: never commit it\n*\n"


def write(path: str, data: dict) -> None:
    import io  # here, not at the top: a no-op run writes nothing (start-up)

    import yaml

    from ..wholefile import replace_whole

    shared = os.path.basename(path) == SHARED_FILE  # (before a link is followed to its own name)
    header = (
        "# pipe remotes: edit with `pipe remote add/remove`. "
        + ("Commit this file; " if shared else "This workspace only; ")
        + "never put credentials here.\n"
    )
    if os.path.islink(path) and os.path.isfile(path):
        # A remotes file shared by a link (one file for several checkouts): written through, not
        # replaced by a file of this checkout's own (a rename over the link does that)
        path = os.path.realpath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not shared:
        _ignored_by_git(os.path.dirname(path))
    out = io.StringIO(header)
    out.seek(0, io.SEEK_END)
    yaml.safe_dump(data, out, sort_keys=False, default_flow_style=False)
    if not shared and not os.path.lexists(path):
        # (this workspace's file may hold a credential: it is made 0600, and keeps that mode)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # (was mkstemp's file renamed in: the committed file made 0600, unreadable to the team's other
    # users on a shared machine; replace_whole keeps the file's mode, or gives a new one the umask's)
    replace_whole(path, out.getvalue().encode())


def _ignored_by_git(folder: str) -> None:
    """`pipe remote add --local` in a fresh clone made .pipe/ with no .gitignore: `git status`
    offered .pipe/remotes.yaml (a token, a key's path) to the next `git add -A`."""
    gi = os.path.join(folder, ".gitignore")
    if not os.path.lexists(gi):
        with open(gi, "w") as f:
            f.write(_STATE_GITIGNORE)


@contextlib.contextmanager
def editing(root: str):
    """One `pipe remote add/remove` at a time in a workspace: each reads a file, changes it and
    writes it whole, so two at once lost one's remote while both said it was done. The folder
    itself is flocked (no lock file left in the checkout); where it cannot be, as before."""
    import fcntl

    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
