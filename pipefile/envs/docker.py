"""Docker environments: steps run in a container, through the Docker SDK.

Identity (what the step key holds, with the variables, network and mounts):
  image: NAME   the image ID that NAME names on this machine: re-tagging NAME to new
                content changes it, and a tag is never trusted. Looked up without
                pulling; `pipe run` pulls a missing image first, `pipe status` never does.
  build: DIR    the content of the build folder (a Merkle digest, as for inputs), the
                Dockerfile's name and the IDs of its FROM images. The image is built
                when a step needs it, tagged pipefile-env/NAME:DIGEST and labelled with
                that digest, and reused while the digest matches. `pipe run` pulls
                missing FROM images before planning, as it pulls a missing `image:`.

The container runs as the calling uid:gid (outputs belong to the user), with the
workspace bind-mounted at its own path read-only, the step's staging folder and
folder outputs read-write, the folders of its file outputs as writable views (literal
output paths, executors/literal.py), the environment's variables, `network: none` if asked,
extra mounts, GPUs as device requests for exactly the leased ids, and the step's
memory as a limit. Its output is streamed into the step's log. Containers carry
the labels org.pipefile.run / org.pipefile.step; they are removed when the step ends,
and a later run removes those of a pipe that was killed.

This is the only module that imports the `docker` package.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from typing import IO, Mapping, Optional

from .. import spec
from ..digest import hash_json
from .base import WORKSPACE_VIEW, EnvError, Environment, Launch, shell_argv
from .build import build_lock
from .cache import EnvCache

RUN_LABEL = "org.pipefile.run"
STEP_LABEL = "org.pipefile.step"
BUILD_LABEL = "org.pipefile.build"  # on images pipe built: the digest of their build context
ENV_LABEL = "org.pipefile.env"  # on images pipe built: the environment's name
STORE_LABEL = "org.pipefile.store"  # on images pipe built: which store's `pipe envs prune` may remove them
IMAGE_REPO = "pipefile-env"

_client = None
_client_lock = threading.Lock()

START_HINT = (
    "start the Docker daemon (`sudo systemctl start docker`, or `sudo dockerd &`) and check it with "
    "`docker info`; or point DOCKER_HOST at a running one"
)


def sdk():
    try:
        import docker  # noqa: PLC0415 - optional: only Docker environments need it
    except ImportError:
        raise EnvError(
            "Docker environments need the Docker SDK for Python, which is not installed",
            hint="pip install 'pipefile[docker]' (or pip install docker)",
        ) from None
    return docker


def client(loc=None):
    """A connected client (one per process), or EnvError saying how to start the daemon."""
    global _client
    with _client_lock:
        if _client is not None:
            return _client
        docker = sdk()
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            c = docker.from_env(timeout=120)
            c.ping()
        except docker.errors.DockerException as e:
            text = str(e)
            hint = START_HINT
            if "Permission denied" in text:
                reason = "permission denied"
                hint = "add your user to the docker group (then log in again), or run pipe with access to the socket"
            elif "No such file" in text or "FileNotFoundError" in text:
                reason = "there is no daemon socket there"
            elif "refused" in text:
                reason = "connection refused"
            else:
                reason = text.split("(")[0].strip().rstrip(":") or type(e).__name__
            raise EnvError(f"cannot reach the Docker daemon at {where}: {reason}", loc, hint) from None
        except Exception as e:  # noqa: BLE001 - requests' connection errors and the like
            raise EnvError(f"cannot reach the Docker daemon at {where}: {e}", loc, START_HINT) from None
        _client = c
        return c


def _from_images(dockerfile: str) -> list:
    """The images a Dockerfile builds FROM (not `scratch`, not earlier stages)."""
    try:
        with open(dockerfile, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    stages, out = set(), []
    for line in text.splitlines():
        m = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if not m:
            continue
        image = m.group(1)
        if image.lower() != "scratch" and image.lower() not in stages and "$" not in image:
            out.append(image)
        if m.group(2):
            stages.add(m.group(2).lower())
    return out


class DockerEnvironment(Environment):
    kind = spec.ENV_DOCKER
    container = True

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher, store_root: str):
        super().__init__(env_spec, root, hasher)
        self.cache = EnvCache(store_root)
        self.image_id: Optional[str] = None  # what the step runs: set by prepare()
        self._build_ident: Optional[dict] = None

    # --- identity -------------------------------------------------------------------------
    def _local_image_id(self, name: str) -> Optional[str]:
        docker = sdk()
        try:
            return client(self.spec.loc).images.get(name).id
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as e:
            raise EnvError(
                f"environment '{self.name}': cannot look up image '{name}': {e.explanation or e}", self.spec.loc
            ) from None

    def dockerfile(self) -> str:
        return os.path.join(self.root, self.spec.build, self.spec.dockerfile or "Dockerfile")

    def build_identity(self) -> dict:
        if self._build_ident is None:
            self._build_ident = self._compute_build_identity()
        return self._build_ident

    def _compute_build_identity(self) -> dict:
        if self.spec.image:
            image_id = self._local_image_id(self.spec.image)
            # Not on this machine: `pipe run` pulls it before planning; `status` only says so.
            return {"image": image_id} if image_id else {"image": None, "missing": self.spec.image}
        ctx = self.hasher.digest(self.spec.build)
        if ctx is None or ctx.kind != "tree":
            raise EnvError(
                f"the build folder '{self.spec.build}' of environment '{self.name}' does not exist",
                self.spec.loc,
                "create it with a Dockerfile inside, or fix the path",
            )
        if not os.path.isfile(self.dockerfile()):
            rel = os.path.relpath(self.dockerfile(), self.root)
            raise EnvError(
                f"environment '{self.name}' builds from '{self.spec.build}', which has no {rel}",
                self.spec.loc,
                "add a Dockerfile there, or name it with dockerfile:",
            )
        bases = {b: self._local_image_id(b) for b in _from_images(self.dockerfile())}
        return {"context": ctx.digest, "dockerfile": self.spec.dockerfile or "Dockerfile", "from": bases}

    def identity(self) -> str:
        if self._identity is None:
            self._identity = "docker:" + hash_json(
                {
                    "build": self.build_identity(),
                    "env": dict(self.spec.env),
                    "network": self.spec.network,
                    "mounts": [[m.source, m.target, m.read_only] for m in self.spec.mounts],
                }
            )
        return self._identity

    def tag(self) -> str:
        name = re.sub(r"[^a-z0-9_.\-]", "-", self.name.lower()).strip("-.") or "env"
        return f"{IMAGE_REPO}/{name}:{hash_json(self.build_identity())[:20]}"

    def describe(self) -> str:
        if self.spec.image:
            ident = self.build_identity()
            shown = ident["image"][:19] if ident.get("image") else "not on this machine"
            return f"image {self.spec.image} ({shown})"
        return f"build {self.spec.build} -> {self.tag()}"

    def built(self) -> bool:
        if self.spec.image:
            return self.build_identity().get("image") is not None
        return self._built_image() is not None

    def size(self) -> Optional[int]:
        image = self._image()
        return image.attrs.get("Size") if image is not None else None

    def _image(self):
        docker = sdk()
        try:
            return client(self.spec.loc).images.get(self.spec.image if self.spec.image else self.tag())
        except docker.errors.ImageNotFound:
            return None

    def _built_image(self):
        image = self._image()
        want = hash_json(self.build_identity())
        if image is not None and (image.labels or {}).get(BUILD_LABEL) == want:
            return image
        return None

    # --- lifecycle ------------------------------------------------------------------------
    def check(self) -> None:
        client(self.spec.loc)

    def fetch(self, say) -> None:
        """Pull a missing `image:`, or the missing FROM images of a `build:` (before planning, so
        that the key holds the pulled images' IDs: a build that pulled its base itself would
        change the identity after the fact, and its steps would run again at the next run)."""
        if self.spec.image:
            missing = [(self.spec.image, "")] if self._local_image_id(self.spec.image) is None else []
        else:
            rel = os.path.relpath(self.dockerfile(), self.root)
            missing = [
                (b, f" (FROM in {rel})") for b in _from_images(self.dockerfile()) if self._local_image_id(b) is None
            ]
        if not missing:
            return
        docker = sdk()
        for image, where in missing:
            say(f"pulling image {image} for environment '{self.name}'...")
            try:
                # The SDK splits NAME[:TAG][@DIGEST] itself (no tag: latest).
                client(self.spec.loc).images.pull(image)
            except docker.errors.DockerException as e:
                msg = getattr(e, "explanation", None) or str(e)
                raise EnvError(
                    f"image '{image}'{where} of environment '{self.name}' is not on this machine and "
                    f"could not be pulled: {msg}",
                    self.spec.loc,
                    "fix the image name, or make the image here first (docker build, docker load or docker import)",
                ) from None
        self._identity = self._build_ident = None

    def prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        with self._lock:
            if self.image_id:
                return
            if self.spec.image:
                image_id = self._local_image_id(self.spec.image)
                if image_id is None:
                    raise EnvError(
                        f"image '{self.spec.image}' of environment '{self.name}' is no longer on this machine",
                        self.spec.loc,
                        "pull or build it again, then rerun",
                    )
                want = self.build_identity().get("image")
                if want and want != image_id:
                    raise EnvError(
                        f"image '{self.spec.image}' changed while pipe was running ({want[:19]} -> {image_id[:19]})",
                        self.spec.loc,
                        "rerun: the step's key follows the image",
                    )
                self.image_id = image_id
                return
            image = self._built_image()
            if image is None:
                with build_lock(
                    self.cache,
                    "docker-" + hash_json(self.build_identity()),
                    log,
                    cancelled,
                    f"the image of environment '{self.name}'",
                ):
                    image = self._built_image()
                    if image is None:
                        image = self._build(log, cancelled)
            self.image_id = image.id

    def _build(self, log: IO[bytes], cancelled: threading.Event):
        docker = sdk()
        c = client(self.spec.loc)
        tag = self.tag()
        log.write(f"pipe: building image {tag} for environment '{self.name}' from {self.spec.build}\n".encode())
        log.flush()
        error = None
        # The build streams on a thread of its own: a RUN that prints nothing for minutes must
        # not keep Ctrl-C waiting. An abandoned build ends with pipe (the daemon sees the client
        # go), or completes and tags what it built, which is then as good as any other build.
        chunks: queue.Queue = queue.Queue()

        def stream():
            try:
                for chunk in c.api.build(
                    path=os.path.join(self.root, self.spec.build),
                    tag=tag,
                    rm=True,
                    forcerm=True,
                    decode=True,
                    dockerfile=self.spec.dockerfile or None,
                    labels={
                        BUILD_LABEL: hash_json(self.build_identity()),
                        ENV_LABEL: self.name,
                        STORE_LABEL: store_label(self.cache.dir),
                    },
                ):
                    chunks.put(chunk)
            except Exception as e:  # noqa: BLE001 - handed to the step's thread
                chunks.put(e)
            chunks.put(None)

        threading.Thread(target=stream, daemon=True, name=f"build-{self.name}").start()
        while True:
            try:
                chunk = chunks.get(timeout=0.2)
            except queue.Empty:
                chunk = {}
            if cancelled.is_set():
                raise EnvError(f"building image for environment '{self.name}': interrupted")
            if chunk is None:
                break
            if isinstance(chunk, docker.errors.APIError):
                error = str(chunk.explanation or chunk)
                log.write((error + "\n").encode("utf-8", "replace"))
                break
            if isinstance(chunk, Exception):
                raise EnvError(f"docker build of environment '{self.name}' failed: {chunk}", self.spec.loc)
            if "stream" in chunk:
                log.write(chunk["stream"].encode("utf-8", "replace"))
                log.flush()
            if "error" in chunk:
                error = chunk["error"].strip()
                log.write((error + "\n").encode("utf-8", "replace"))
        log.flush()
        if error:
            raise EnvError(
                f"docker build of environment '{self.name}' failed: {error.splitlines()[-1]}",
                self.spec.loc,
                "fix the Dockerfile (the build's output is in the step's log)",
            )
        return c.images.get(tag)

    def start(self, launch: Launch, base_env: Mapping[str, str]) -> "ContainerProcess":
        docker = sdk()
        from docker.types import DeviceRequest, Mount  # noqa: PLC0415

        mounts = []
        over = {target for _, target in launch.redirects}
        if self.root not in over:
            mounts.append(Mount(self.root, self.root, type="bind", read_only=True))
        if launch.redirects:
            # Literal output paths: a folder that holds a file output is a view, mounted
            # read-write, whose entries link to this read-only copy (executors/literal.py).
            mounts.append(Mount(WORKSPACE_VIEW, self.root, type="bind", read_only=True))
            for src, target in launch.redirects:
                mounts.append(Mount(target, src, type="bind", read_only=False))
        for p in launch.readable:
            mounts.append(Mount(p, p, type="bind", read_only=True))
        for p in launch.writable:
            mounts.append(Mount(p, p, type="bind", read_only=False))
        for m in self.spec.mounts:
            src = m.source if os.path.isabs(m.source) else os.path.join(self.root, m.source)
            if not os.path.exists(src):
                raise EnvError(
                    f"mount source '{m.source}' of environment '{self.name}' does not exist",
                    self.spec.loc,
                    "create it, or fix the path",
                )
            mounts.append(Mount(m.target, src, type="bind", read_only=m.read_only))
        # TINI_KILL_PROCESS_GROUP: docker-init (tini) passes Ctrl-C to the whole command, not only
        # its shell: `sh -c "a && b"` stops at once, as a local step does.
        env = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "TINI_KILL_PROCESS_GROUP": "1", **self.spec.env, **launch.env}
        env.pop("CUDA_VISIBLE_DEVICES", None)
        devices = None
        if launch.devices:
            # The container sees exactly the leased devices, numbered from 0.
            devices = [DeviceRequest(device_ids=list(launch.devices), capabilities=[["gpu"]])]
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(launch.devices)))
        try:
            container = client(self.spec.loc).containers.create(
                self.image_id,
                command=shell_argv(launch.command),
                user=f"{os.getuid()}:{os.getgid()}",
                working_dir=launch.cwd,
                environment=env,
                mounts=mounts,
                network_mode="none" if self.spec.network == "none" else (self.spec.network or None),
                labels={RUN_LABEL: launch.run_id, STEP_LABEL: launch.step},
                device_requests=devices,
                mem_limit=launch.memory or None,
                init=True,
                detach=True,
            )
        except docker.errors.DockerException as e:
            raise EnvError(
                f"could not create the container of step '{launch.step}': {getattr(e, 'explanation', None) or e}",
                self.spec.loc,
            ) from None
        proc = ContainerProcess(container, launch.log)
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
            raise EnvError(
                f"could not start the container of step '{launch.step}': {why}", self.spec.loc, hint
            ) from None
        proc.follow()
        return proc


class ContainerProcess:
    """A running container, driven like a process: wait, poll, signal, and removed at the end."""

    def __init__(self, container, log: IO[bytes]):
        self.container = container
        self.log = log
        self.rc: Optional[int] = None
        self._logs: Optional[threading.Thread] = None

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
                self.rc = int(self.container.wait(timeout=3600)["StatusCode"])
            except docker.errors.NotFound:
                self.rc = 137  # removed under us (a later run cleaning up after a killed pipe)
            except Exception:  # noqa: BLE001 - a read timeout: keep waiting
                continue
        if self._logs is not None:
            self._logs.join(timeout=10)
        return self.rc

    def poll(self) -> Optional[int]:
        if self.rc is not None:
            return self.rc
        try:
            self.container.reload()
        except Exception:  # noqa: BLE001
            return 137
        return (
            None
            if self.container.status in ("created", "running", "restarting")
            else int(self.container.attrs["State"].get("ExitCode", 0))
        )

    def signal(self, sig: int) -> None:
        try:
            self.container.kill(signal=int(sig))
        except Exception:  # noqa: BLE001 - not running any more
            pass

    def finish(self) -> bool:
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001
            pass
        return False


def remove_containers(run_ids) -> int:
    """Remove the containers of runs whose pipe died (their ids); returns how many."""
    run_ids = list(run_ids)
    if not run_ids:
        return 0
    try:
        docker = sdk()
        c = client()
    except EnvError:
        return 0  # no daemon: no containers either
    n = 0
    for rid in run_ids:
        try:
            for container in c.containers.list(all=True, filters={"label": f"{RUN_LABEL}={rid}"}):
                container.remove(force=True)
                n += 1
        except docker.errors.DockerException:
            pass
    return n


def store_label(cache_dir: str) -> str:
    return hash_json(os.path.realpath(cache_dir))[:16]


def built_images(cache_dir: str) -> list:
    """Images pipe built for `build:` environments of this store: [(image, build id, env name)]."""
    c = client()
    return [
        (im, f"docker-{im.labels.get(BUILD_LABEL)}", im.labels.get(ENV_LABEL))
        for im in c.images.list(filters={"label": f"{STORE_LABEL}={store_label(cache_dir)}"})
    ]


def remove_image(image_id: str) -> None:
    docker = sdk()
    try:
        client().images.remove(image_id, force=True)
    except docker.errors.DockerException as e:
        raise EnvError(f"could not remove image {image_id[:19]}: {getattr(e, 'explanation', None) or e}") from None
