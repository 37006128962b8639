"""The remote `pipe run` and `pipe status` consult, and the notes of a load, without click
(entry.py's fast path runs both commands before click is imported; cli/options.py re-exports
these for the other commands)."""

from __future__ import annotations

from ..errors import PipefileError
from .console import UsageProblem, echo


def chosen_remote(graph, remote_name, no_remote: bool, required: bool = False):
    """The remote `pipe run` and `pipe status` consult: --remote's, else the default one, none
    with --no-remote. The committed default remote is an optimisation: when its package is
    missing (and nothing `required` it), say so and work locally, so a teammate without the
    package is not blocked; `pipe run` and `pipe status` decide alike because both ask here."""
    from ..remote import config as remotes_mod

    if no_remote:
        if remote_name is not None:
            raise UsageProblem("--no-remote cannot go with --remote")
        return None
    check_state_folder(graph.pipefile.root)  # (else: ".pipe/remotes.yaml cannot be read")
    try:
        return resolve_remote(graph, remote_name)
    except remotes_mod.MissingExtra as e:
        if remote_name is not None or required:
            raise
        echo(f"warning: {e.render()}\n  working locally (--no-remote hides this)", err=True)
        return None


def check_state_folder(root: str) -> None:
    """A file where the workspace's .pipe/ folder goes is said as such (exit 2), as a write
    into it says it, rather than as whatever file under it a reader met first."""
    import os

    from ..workspace import STATE_DIR

    state = os.path.join(root, STATE_DIR)
    if os.path.lexists(state) and not os.path.isdir(state):
        import errno

        from ..workspace.lock import disk_errors

        with disk_errors(state):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), state)


def resolve_remote(graph, name):
    """The remote to consult; `--remote STEP` (the step taken as the remote's name) says how
    to write it instead."""
    from ..remote import config as remotes_mod

    try:
        return remotes_mod.resolve(graph.pipefile.root, name)
    except remotes_mod.RemoteConfigError as e:
        if name and name in graph.nodes:
            raise remotes_mod.RemoteConfigError(
                f"no remote '{name}' ('{name}' is a step: --remote takes an optional remote name)",
                hint=f"for the default remote, put --remote after the steps (... {name} --remote), or name the "
                f"remote with = (--remote=NAME {name})",
            ) from e
        raise


def echo_notes(notes, label: str) -> None:
    """(SourceLoc, message, hint) notes of a load, on stderr: `warning: Pipefile:3:7: ...`."""
    for loc, message, hint in notes:
        echo(f"{label}: {PipefileError(message, loc, hint).render()}", err=True)
