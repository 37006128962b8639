"""The environment base: what starting one step's command takes (Launch), the process it
gives back (StepProcess), and `Environment` itself, which is also the local one (the
calling shell plus the variables the spec sets). Every kind in this package subclasses it.

Invariant: `identity()` is content, never a name, and computing it has no side effects.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from typing import IO, Iterator, Mapping, Optional, Protocol

from .. import spec
from ..digest import Hasher, hash_json
from ..errors import PipefileError
from ..keys import LOCAL_ENV_IDENTITY as LOCAL_IDENTITY  # the calling shell, no variables: keys as before
from ..lazyclass import dataclass


class EnvError(PipefileError):
    """An environment that cannot be used: a missing tool or daemon, a failed build."""


_START_HINTS = {
    errno.ENOEXEC: "it is not a program this machine can run: a script needs a '#!' first line naming its "
    "interpreter, a binary must be built for this system and CPU",
    errno.EACCES: "make it executable (chmod +x), on a file system that allows running programs (not noexec)",
    errno.ENOENT: "check the path; for a script, also the interpreter its '#!' line names",
}


def start_error(program: str, e: OSError, cwd: str = "") -> EnvError:
    """Why `program` could not start, with what to do about it where the cause says."""
    if cwd and e.filename == cwd:  # the folder it was to run in (Popen's chdir), not the program
        return EnvError(
            f"could not start {program!r}: could not enter the folder it runs in, {cwd} ({e.strerror})",
            hint="was the workspace moved, removed or made unreadable while pipe ran? run again from where it is now",
        )
    return EnvError(f"could not start {program!r}: {e.strerror}", hint=_START_HINTS.get(e.errno or 0))


# Where a container sees the workspace a second time, read-only: the links of a literal view
# (executors/literal.py) point there, so a folder mounted over stays readable.
WORKSPACE_VIEW = "/.pipe-workspace"


@dataclass
class Launch:
    """Everything needed to start one step's command."""

    step: str
    command: object  # a shell string, or an argv list
    env: dict  # the variables pipe sets for the step (PIPE_STEP, PIPE_RUN_ID, CUDA_VISIBLE_DEVICES)
    cwd: str  # the workspace root
    log: IO[bytes]  # the step's log file, opened for appending
    run_id: str = ""
    devices: tuple = ()  # leased GPU ids
    writable: tuple = ()  # absolute paths the step may write (staging, folder outputs)
    readable: tuple = ()  # absolute paths outside the workspace it reads (inputs behind symlinks)
    cpus: float = 0.0
    memory: int = 0
    # (folder on this machine, workspace folder): mounted read-write over the workspace folder
    # in a container, so that literal output paths can be written (executors/literal.py)
    redirects: tuple = ()


class StepProcess(Protocol):
    def wait(self) -> int: ...

    def poll(self) -> Optional[int]: ...

    def signal(self, sig: int) -> None: ...

    def finish(self) -> bool:
        """After wait(): remove what the step left behind; True if something was still running."""
        ...


_building = threading.local()  # .run_id: the run whose step this thread builds an environment for


@contextlib.contextmanager
def build_for_run(run_id: Optional[str]) -> Iterator[None]:
    """What this thread builds is part of run `run_id`'s step: its tools carry that
    PIPE_RUN_ID, so that the next run stops them if this pipe is killed, as it stops a
    step's command (they run in a process group of their own, which a kill of pipe's misses)."""
    _building.run_id = run_id
    try:
        yield
    finally:
        _building.run_id = None


def building_for() -> Optional[str]:
    return getattr(_building, "run_id", None)


class LocalProcess:
    """A command run as a local process group (what every non-container environment starts)."""

    def __init__(self, argv: list, env: dict, cwd: str, log: IO[bytes]):
        import subprocess  # (here: a no-op run starts no process, and pays nothing for it)

        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            raise start_error(argv[0], e, cwd) from None

    def wait(self) -> int:
        return self.proc.wait()

    def poll(self) -> Optional[int]:
        return self.proc.poll()

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def finish(self) -> bool:
        # Background children must not outlive their step: they would write behind
        # pipe's back after the outputs are committed.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False


def shell_argv(command) -> list:
    return ["/bin/sh", "-ec", command] if isinstance(command, str) else list(command)


class Environment:
    """The base: the calling shell (type local), plus the variables the spec sets."""

    kind = spec.ENV_LOCAL
    container = False  # True: the step runs in a container and sees only what is mounted

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher: Hasher):
        self.spec = env_spec
        self.name = env_spec.name
        self.root = root
        self.hasher = hasher
        self._identity: Optional[str] = None
        self._lock = threading.Lock()
        self._failed: Optional[tuple] = None  # (EnvError, the log it went to): see build_once

    # --- identity -------------------------------------------------------------------------
    def build_identity(self) -> Optional[dict]:
        """What is built (and cached) for this environment, as JSON-able content; None: nothing."""
        return None

    def identity(self) -> str:
        if self._identity is None:
            self._identity = self._identity_of(self.build_identity())
        return self._identity

    def _identity_of(self, built: Optional[dict]) -> str:
        if built is None and not self.spec.env:
            return LOCAL_IDENTITY if self.kind == spec.ENV_LOCAL else self.kind
        return f"{self.kind}:{hash_json({'build': built, 'env': dict(self.spec.env)})}"

    def build_id(self) -> str:
        """The name of the built thing in the cache: kind and digest of build_identity()."""
        return f"{self.kind}-{hash_json(self.build_identity())}"

    def describe(self) -> str:
        """What it is, for `pipe envs` (a detail beside the identity)."""
        return "the calling shell"

    # --- lifecycle ------------------------------------------------------------------------
    def check(self) -> None:
        pass

    def prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        pass

    def built(self) -> Optional[bool]:
        """Whether it is built already (None: nothing to build)."""
        return None

    def size(self) -> Optional[int]:
        return None

    def process_env(self, base: Mapping[str, str], launch: Launch) -> dict:
        # (merged, not passed as keywords: a name in both, MLFLOW_TRACKING_URI that a step rendered
        # as on Azure ML is given, was a TypeError; pipe's value for the step wins)
        return {**base, **self.spec.env, **launch.env}

    def argv(self, launch: Launch) -> list:
        return shell_argv(launch.command)

    def start(self, launch: Launch, base_env: Mapping[str, str]) -> StepProcess:
        argv, env = self.argv(launch), self.process_env(base_env, launch)
        from .spawn import SpawnedProcess, spawnable

        if spawnable(argv, launch.cwd) and launch.log is not None:
            try:
                return SpawnedProcess(argv, env, launch.log)
            except OSError as e:
                raise start_error(argv[0], e) from None
        return LocalProcess(argv, env, launch.cwd, launch.log)

    # --- helpers for subclasses -------------------------------------------------------------
    @contextlib.contextmanager
    def build_once(self, log: IO[bytes], cancelled: threading.Event) -> Iterator[None]:
        """Around preparing it (its lock held): a build that failed is not tried again by each
        step of the run that needs it (a pip resolution that fails after minutes, once per
        step): they fail at once with its error, saying where its output is. The next run
        (a new Environment) tries again."""
        if self._failed is not None:
            e, where = self._failed
            log.write(f"pipe: {self.kind} environment '{self.name}' failed to build earlier in this run\n".encode())
            why = e.message.replace(" (its output is in the step's log)", "")  # (that is another step's)
            raise EnvError(
                f"{self.kind} environment '{self.name}' failed to build earlier in this run (its output is in "
                f"{where}): {why}",
                e.loc,
                e.hint,
            )
        try:
            yield
        except EnvError as e:
            if not cancelled.is_set():  # (interrupted is no failure of the build)
                name = getattr(log, "name", None)
                where = (
                    os.path.relpath(name, self.root) if isinstance(name, str) else "the log of the step that built it"
                )
                self._failed = (e, where)
            raise

    def as_written(self, path: str) -> str:
        """A workspace path of the spec as its Pipefile wrote it (relative to the spec's home):
        what an identity holds, so that a Pipefile used as a component keys its steps as when
        it runs on its own."""
        home = self.spec.home
        return os.path.relpath(path, home) if home and not os.path.isabs(path) else path

    def home_dir(self) -> str:
        """The folder the spec's Pipefile is in (where its relative paths start)."""
        return os.path.join(self.root, self.spec.home) if self.spec.home else self.root

    def workspace_file(self, rel: str, what: str) -> dict:
        """{path, digest} of a file the spec names, or an EnvError at the spec's line."""
        # (data_only: a FIFO there is never opened, which would wait for a writer for ever)
        d = self.hasher.digest(rel, data_only=True)
        if d is None and os.path.exists(self.hasher.abspath(rel)):
            raise EnvError(
                f"{what} '{rel}' of environment '{self.name}' is not a file (a FIFO, socket or device)",
                self.spec.loc,
                "make it a regular file, or fix the path (relative to the Pipefile's folder)",
            )
        if d is None:
            raise EnvError(
                f"{what} '{rel}' of environment '{self.name}' does not exist",
                self.spec.loc,
                "create it, or fix the path (relative to the Pipefile's folder)",
            )
        return {"path": rel, "kind": d.kind, "digest": d.digest}
