"""Running a step in a container: driven like a process (wait, poll, signal, removed at the
end), labelled with its run and step so that a later run removes those a killed pipe left.

When the daemon has not answered for DAEMON_GONE_SECONDS, the step is given up and its
command, if it runs on this machine, stopped (`_stop_local`). A container that could not be
removed when its step ended (the daemon had gone away) is noted in the workspace,
`.pipe/containers/RUN_ID` (an empty file), and so are the runs of a killed pipe whose
containers could not be removed at the next run (no daemon then): the next run that reaches
the daemon removes them, and the notes. A served job's notes, and the runs of a job whose
`pipe serve` was killed, are noted in the serving workspace (`served_runs_ended`) before the
job's folder goes.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import IO, Optional

from ... import spec
from ...workspace import STATE_DIR
from ..base import WORKSPACE_VIEW, EnvError, Launch, shell_argv
from .daemon import client, sdk, unix_socket_problem

RUN_LABEL = "org.pipefile.run"
STEP_LABEL = "org.pipefile.step"
LEFT_DIR = "containers"  # in the workspace's .pipe/: the runs whose containers may be left


def start_container(image_id: Optional[str], env_spec: spec.EnvSpec, root: str, launch: Launch) -> "ContainerProcess":
    """Create and start the container of one step (see the package's docstring for what it sees)."""
    docker = sdk()
    DeviceRequest, Mount = docker.types.DeviceRequest, docker.types.Mount

    mounts = []
    over = {target for _, target in launch.redirects}
    if root not in over:
        mounts.append(Mount(root, root, type="bind", read_only=True))
    if launch.redirects:
        # Literal output paths: a folder that holds a file output is a view, mounted
        # read-write, whose entries link to this read-only copy (executors/literal.py).
        mounts.append(Mount(WORKSPACE_VIEW, root, type="bind", read_only=True))
        for src, target in launch.redirects:
            mounts.append(Mount(target, src, type="bind", read_only=False))
    for p in launch.readable:
        mounts.append(Mount(p, p, type="bind", read_only=True))
    for p in launch.writable:
        mounts.append(Mount(p, p, type="bind", read_only=False))
    for m in env_spec.mounts:
        src = m.source if os.path.isabs(m.source) else os.path.join(root, m.source)
        if not os.path.exists(src):
            raise EnvError(
                f"mount source '{m.source}' of environment '{env_spec.name}' does not exist",
                env_spec.loc,
                "create it, or fix the path",
            )
        mounts.append(Mount(m.target, src, type="bind", read_only=m.read_only))
    # TINI_KILL_PROCESS_GROUP: docker-init (tini) passes Ctrl-C to the whole command, not only
    # its shell: `sh -c "a && b"` stops at once, as a local step does.
    env = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "TINI_KILL_PROCESS_GROUP": "1", **env_spec.env, **launch.env}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    devices = None
    if launch.devices:
        # The container sees exactly the leased devices, numbered from 0.
        devices = [DeviceRequest(device_ids=list(launch.devices), capabilities=[["gpu"]])]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(launch.devices)))
    try:
        container = client(env_spec.loc).containers.create(
            image_id,
            command=shell_argv(launch.command),
            user=f"{os.getuid()}:{os.getgid()}",
            working_dir=launch.cwd,
            environment=env,
            mounts=mounts,
            network_mode="none" if env_spec.network == "none" else (env_spec.network or None),
            labels={RUN_LABEL: launch.run_id, STEP_LABEL: launch.step},
            device_requests=devices,
            mem_limit=launch.memory or None,
            init=True,
            detach=True,
        )
    except docker.errors.DockerException as e:
        raise EnvError(
            f"could not create the container of step '{launch.step}': {getattr(e, 'explanation', None) or e}",
            env_spec.loc,
        ) from None
    proc = ContainerProcess(container, launch.log, os.path.join(root, STATE_DIR, LEFT_DIR, launch.run_id))
    proc.marks = {f"PIPE_RUN_ID={launch.run_id}".encode(), f"PIPE_STEP={launch.step}".encode()}
    try:
        container.start()
    except docker.errors.DockerException as e:
        proc.finish()
        why = str(getattr(e, "explanation", None) or e)
        hint = None
        if launch.devices and ("device driver" in why or "nvidia" in why.lower()):
            hint = (
                "Docker cannot hand GPUs to containers here: install the NVIDIA Container Toolkit "
                "(nvidia-container-toolkit) and restart dockerd"
            )
        raise EnvError(f"could not start the container of step '{launch.step}': {why}", env_spec.loc, hint) from None
    proc.follow()
    return proc


# How long the daemon may not answer before a step's container is given up: its state can no
# longer be known, and waiting for it would hang pipe (Ctrl-C included) for as long as it is gone.
DAEMON_GONE_SECONDS = 20.0
# The exit status of a step whose daemon went away (as `docker run`'s when the daemon fails).
DAEMON_GONE_STATUS = 125


class ContainerProcess:
    """A running container, driven like a process: wait, poll, signal, and removed at the end."""

    def __init__(self, container, log: IO[bytes], left_note: Optional[str] = None):
        self.container = container
        self.log = log
        self.left_note = left_note  # written if the container cannot be removed (the module's docstring)
        self.marks: set = set()  # the variables its processes carry (this run's and step's): _stop_local
        self.rc: Optional[int] = None
        self._logs: Optional[threading.Thread] = None
        self._silent_since: Optional[float] = None  # when the daemon stopped answering
        self._signalled = False  # pipe signalled it (Ctrl-C, a timeout): its 143 is pipe's doing

    def _daemon_gone(self, error: Exception) -> bool:
        """After a failed call: whether the daemon has not answered for DAEMON_GONE_SECONDS
        (then the step ends with DAEMON_GONE_STATUS, its log saying why)."""
        docker = sdk()
        try:
            self.container.reload()
            self._silent_since = None  # it answers (the call failed for another reason: a read timeout)
            return False
        except docker.errors.NotFound:
            self._silent_since = None  # it answers: the container is gone (the caller's next call says so)
            return False
        except Exception:  # noqa: BLE001 - not answering
            pass
        now = time.monotonic()
        if self._silent_since is None:
            self._silent_since = now
        if now - self._silent_since < DAEMON_GONE_SECONDS:
            return False
        self.rc = DAEMON_GONE_STATUS
        stopped = _stop_local(self.marks)
        with contextlib.suppress(Exception):
            self.log.write(
                f"pipe: the Docker daemon has not answered for {DAEMON_GONE_SECONDS:.0f} s ({error}): the step "
                f"is given up{'; its command, still running, was stopped' if stopped else ''}\n".encode(
                    "utf-8", "replace"
                )
            )
            self.log.flush()
        return True

    def follow(self) -> None:
        def copy():
            try:
                for chunk in self.container.logs(stream=True, follow=True, stdout=True, stderr=True):
                    self.log.write(chunk)
                    self.log.flush()
            except Exception:  # noqa: BLE001 - the container went away: its output ends here
                pass

        self._logs = threading.Thread(target=copy, daemon=True, name=f"logs-{self.container.short_id}")
        self._logs.start()

    def wait(self) -> int:
        docker = sdk()
        while self.rc is None:
            try:
                self.rc = self._ended(int(self.container.wait(timeout=3600)["StatusCode"]))
            except docker.errors.NotFound:
                self.rc = 137  # removed under us (a later run cleaning up after a killed pipe)
            except Exception as e:  # noqa: BLE001 - a read timeout (keep waiting), or no daemon
                if not self._daemon_gone(e):
                    time.sleep(0.5 if self._silent_since is not None else 0)
        if self._logs is not None:
            self._logs.join(timeout=10)
        return self.rc

    def poll(self) -> Optional[int]:
        if self.rc is not None:
            return self.rc
        docker = sdk()
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return 137  # removed under us
        except Exception as e:  # noqa: BLE001 - the daemon does not answer: running, until it is given up
            return self.rc if self._daemon_gone(e) else None
        self._silent_since = None
        if self.container.status in ("created", "running", "restarting"):
            return None
        self.rc = self._ended(int(self.container.attrs["State"].get("ExitCode", 0)))
        return self.rc

    def _ended(self, rc: int) -> int:
        """The step's status, the container's being `rc`. A daemon stopped with SIGTERM (or
        killed by systemd after it) first stops its containers: the command dies of a signal
        that neither it nor pipe sent. When the daemon then no longer answers, that is said,
        and the step ends as one whose daemon went away, not as the command's own failure."""
        if self._signalled or rc not in (128 + 15, 128 + 9):
            return rc
        for attempt in range(2):
            if attempt:
                time.sleep(0.5)  # (the daemon may close its socket just after the containers stop)
            if _answers(self.container):
                continue
            _stop_local(self.marks)  # (its processes, should any be left)
            with contextlib.suppress(Exception):
                self.log.write(
                    f"pipe: the Docker daemon went away while the step ran: it stopped the step's container "
                    f"(exit status {rc}, killed by a signal) and no longer answers; the step is given up. "
                    f"Start the daemon again (docker info), then rerun\n".encode()
                )
                self.log.flush()
            return DAEMON_GONE_STATUS
        return rc

    def signal(self, sig: int) -> None:
        self._signalled = True
        try:
            self.container.kill(signal=int(sig))
        except Exception:  # noqa: BLE001 - not running any more
            pass

    def finish(self) -> bool:
        docker = sdk()
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except Exception:  # noqa: BLE001 - no daemon: it may still run; the next run removes it
            if self.left_note:
                _note_left(self.left_note)
        return False


def _answers(container) -> bool:
    """Whether the daemon takes a new request (a unix socket: whether it takes a connection,
    at once; else a ping)."""
    problem = unix_socket_problem(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    if problem is not None:
        return False
    try:
        container.client.api.ping()
    except Exception:  # noqa: BLE001 - any failure to answer
        return False
    return True


def _stop_local(marks: set) -> int:
    """SIGKILL the processes of this machine that carry every one of `marks` (a container's,
    when its daemon is here: they show in /proc, with the variables pipe gave them); returns
    how many. A container whose daemon went away runs on without it, and would go on writing
    in the step's writable mounts (a folder output's path) behind pipe's back."""
    if not marks:
        return 0
    import signal

    n = 0
    for pid in (p for p in os.listdir("/proc") if p.isascii() and p.isdigit()) if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = set(f.read().split(b"\0"))
            if marks <= environ and int(pid) != os.getpid():
                os.kill(int(pid), signal.SIGKILL)
                n += 1
        except (OSError, ValueError):
            continue  # (gone meanwhile, or not ours to read)
    return n


def left_runs(state_dir: str) -> list:
    """The runs noted in the workspace (`.pipe/` is state_dir) as having left containers."""
    try:
        return sorted(os.listdir(os.path.join(state_dir, LEFT_DIR)))
    except OSError:
        return []


def remove_containers(run_ids, state_dir: Optional[str] = None) -> int:
    """Remove the containers of runs whose pipe died or that were left when the daemon went
    away (their ids); returns how many. With `state_dir` (the workspace's `.pipe/`, its lock
    held), a run whose containers cannot be removed now (no daemon) is noted there, and the
    note of one whose are gone is dropped."""
    run_ids = list(run_ids)
    if not run_ids:
        return 0
    notes = os.path.join(state_dir, LEFT_DIR) if state_dir else None
    try:
        docker = sdk()
        c = client()
    except EnvError:
        # No daemon now: they may still be there (or running), for a later run to remove.
        for rid in run_ids if notes else ():
            _note_left(os.path.join(notes, rid))
        return 0
    n = 0
    for rid in run_ids:
        try:
            for container in c.containers.list(all=True, filters={"label": f"{RUN_LABEL}={rid}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
                n += 1
        except Exception:  # noqa: BLE001 - the daemon failed meanwhile: try again at the next run
            if notes:
                _note_left(os.path.join(notes, rid))
            continue
        if notes:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(notes, rid))
    if notes:
        with contextlib.suppress(OSError):
            os.rmdir(notes)  # once empty: a run without notes does not reach for the daemon
    return n


def served_runs_ended(job_state_dir: str, home_state_dir: str, stale: bool = False) -> list:
    """The runs of a served job's working folder (its `.pipe/` is job_state_dir) whose
    containers may be left, noted in the serving workspace's (home_state_dir) before the
    folder, the only other record of them, is removed: the next `pipe run` or `pipe serve`
    there removes them. `stale`: the job's server was killed, so its runs marked in progress
    (workspace/running/) may have left containers too. Returns those runs."""
    import importlib.util

    runs = set(left_runs(job_state_dir))
    if stale:
        with contextlib.suppress(OSError):
            runs.update(os.listdir(os.path.join(job_state_dir, "running")))  # (Workspace.running_dir)
    if importlib.util.find_spec("docker") is None:
        return []  # (without the SDK no step ran in a container)
    for rid in runs:
        _note_left(os.path.join(home_state_dir, LEFT_DIR, rid))
    return sorted(runs)


def _note_left(path: str) -> None:
    with contextlib.suppress(OSError):  # (a full disk: the containers stay, as they did before)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass
