"""Environments: where a step's command runs (local, venv, conda, docker).

    Environment.identity()   content, not a name: what the step key holds. Cheap and
                             side-effect free (spec content, or an image ID looked up
                             without pulling), so `pipe status` can compute it.
    Environment.check()      what must exist before anything runs (a conda, a Docker
                             daemon); raises EnvError (exit 2).
    Environment.prepare()    builds what is missing (a venv, an image), once: the
                             executor calls it when a step that needs it runs.
    Environment.start()      starts the command inside it; returns a StepProcess.

Invariant: an environment that is not completely built is never used. Builds go
into a fresh folder (or a fresh image tag) and are published by one atomic step
(a symlink renamed into place; see `cache`), under a lock so that concurrent
steps and concurrent `pipe` processes build it once.

Only `docker.py` imports the Docker SDK, and only when a Docker environment is used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Mapping, Optional, Protocol

from .. import spec
from ..digest import Hasher, hash_json
from ..errors import PipefileError
from ..keys import LOCAL_ENV_IDENTITY as LOCAL_IDENTITY  # the calling shell, no variables: keys as before


class EnvError(PipefileError):
    """An environment that cannot be used: a missing tool or daemon, a failed build."""


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


class StepProcess(Protocol):
    def wait(self) -> int: ...

    def poll(self) -> Optional[int]: ...

    def signal(self, sig: int) -> None: ...

    def finish(self) -> bool:
        """After wait(): remove what the step left behind; True if something was still running."""
        ...


class LocalProcess:
    """A command run as a local process group (what every non-container environment starts)."""

    def __init__(self, argv: list, env: dict, cwd: str, log: IO[bytes]):
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as e:
            raise EnvError(f"could not start {argv[0]!r}: {e.strerror}") from None

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

    # --- identity -------------------------------------------------------------------------
    def build_identity(self) -> Optional[dict]:
        """What is built (and cached) for this environment, as JSON-able content; None: nothing."""
        return None

    def identity(self) -> str:
        if self._identity is None:
            built = self.build_identity()
            if built is None and not self.spec.env:
                self._identity = LOCAL_IDENTITY if self.kind == spec.ENV_LOCAL else self.kind
            else:
                self._identity = f"{self.kind}:{hash_json({'build': built, 'env': dict(self.spec.env)})}"
        return self._identity

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
        return dict(base, **self.spec.env, **launch.env)

    def argv(self, launch: Launch) -> list:
        return shell_argv(launch.command)

    def start(self, launch: Launch, base_env: Mapping[str, str]) -> StepProcess:
        return LocalProcess(self.argv(launch), self.process_env(base_env, launch), launch.cwd, launch.log)

    # --- helpers for subclasses -------------------------------------------------------------
    def workspace_file(self, rel: str, what: str) -> dict:
        """{path, digest} of a file the spec names, or an EnvError at the spec's line."""
        d = self.hasher.digest(rel)
        if d is None:
            raise EnvError(f"{what} '{rel}' of environment '{self.name}' does not exist", self.spec.loc,
                           "create it, or fix the path (relative to the Pipefile's folder)")
        return {"path": rel, "kind": d.kind, "digest": d.digest}


def run_tool(argv: list, log: IO[bytes], cancelled: threading.Event, what: str, cwd: Optional[str] = None,
             env: Optional[dict] = None) -> None:
    """Run one build command with its output in the step's log; EnvError if it fails.

    Stopped (SIGINT, then SIGKILL) when the run is cancelled, so Ctrl-C does not wait
    for a long install."""
    log.write(f"$ {' '.join(argv)}\n".encode())
    log.flush()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    except OSError as e:
        raise EnvError(f"{what}: could not start {argv[0]!r}: {e.strerror}") from None
    sent_at = None
    while True:
        try:
            rc = proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if not cancelled.is_set():
                continue
            now = time.monotonic()
            if sent_at is None or now - sent_at > 3.0:
                try:
                    os.killpg(proc.pid, signal.SIGINT if sent_at is None else signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                sent_at = sent_at or now
    if cancelled.is_set():
        raise EnvError(f"{what}: interrupted")
    if rc != 0:
        raise EnvError(f"{what}: {os.path.basename(argv[0])} exited with status {rc} (its output is in the step's "
                       f"log)")


@contextlib.contextmanager
def build_lock(cache, build_id: str, log: IO[bytes], cancelled: threading.Event, what: str):
    """Hold the lock of a build (see `cache`): say in the step's log when another pipe holds
    it, and stop waiting (EnvError) when the run is cancelled."""
    def waiting():
        log.write(f"pipe: waiting for another pipe, which is building {what}\n".encode())
        log.flush()

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(cache.lock(build_id, cancelled, waiting))
        except InterruptedError:
            raise EnvError(f"{what}: interrupted while another pipe was building it") from None
        yield


@dataclass
class EnvironmentSet:
    """The environments of one pipeline, made on first use and shared by its steps."""

    pipefile: spec.Pipefile
    hasher: Hasher
    store_root: str
    made: dict = field(default_factory=dict)

    def get(self, name: str) -> Environment:
        env = self.made.get(name)
        if env is None:
            env = self.made[name] = make(self.pipefile.environments[name], self.pipefile.root, self.hasher,
                                         self.store_root)
        return env


def make(env_spec: spec.EnvSpec, root: str, hasher: Hasher, store_root: str) -> Environment:
    if env_spec.type == spec.ENV_VENV:
        from .venv import VenvEnvironment

        return VenvEnvironment(env_spec, root, hasher, store_root)
    if env_spec.type == spec.ENV_CONDA:
        from .conda import CondaEnvironment

        return CondaEnvironment(env_spec, root, hasher, store_root)
    if env_spec.type == spec.ENV_DOCKER:
        from .docker import DockerEnvironment

        return DockerEnvironment(env_spec, root, hasher, store_root)
    return Environment(env_spec, root, hasher)
