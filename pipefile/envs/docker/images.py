"""Docker images: what an environment's image is on this machine, and building one.

An `image:` is named by the image ID its name has here (a tag is never trusted); a
`build:` is built from its folder, tagged pipefile-env/NAME:DIGEST and labelled with that
digest, the environment's name and the store it belongs to, so that it is reused while the
digest matches and `pipe envs prune` removes only the images of its own store.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from typing import IO, Optional

from ... import spec
from ...digest import hash_json
from ..base import EnvError
from .context import archive
from .daemon import client, sdk

BUILD_LABEL = "org.pipefile.build"  # on images pipe built: the digest of their build context
ENV_LABEL = "org.pipefile.env"  # on images pipe built: the environment's name
STORE_LABEL = "org.pipefile.store"  # on images pipe built: which store's `pipe envs prune` may remove them
IMAGE_REPO = "pipefile-env"


def local_image_id(name: str, loc, env_name: str) -> Optional[str]:
    """The ID of the image `name` names on this machine (None: not here); never pulls."""
    docker = sdk()
    try:
        return client(loc).images.get(name).id
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as e:
        raise EnvError(
            f"environment '{env_name}': cannot look up image '{name}': {e.explanation or e}",
            loc,
            "fix the image name: REPOSITORY[:TAG], the repository in lowercase (python:3.11-slim); "
            "`docker image ls` lists the images here",
        ) from None


def from_images(dockerfile: str) -> list:
    """The images a Dockerfile builds FROM (not `scratch`, not earlier stages)."""
    try:
        if not os.path.isfile(dockerfile):  # (a FIFO would wait for a writer for ever; the identity says it is missing)
            return []
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


def build_image(
    env_spec: spec.EnvSpec, folder: str, tag: str, labels: dict, log: IO[bytes], cancelled: threading.Event
):
    """Build the image of a `build:` environment from `folder`, tagged `tag`, its output
    streamed into `log`. The daemon is sent the folder's build context (context.py)."""
    docker = sdk()
    c = client(env_spec.loc)
    log.write(f"pipe: building image {tag} for environment '{env_spec.name}' from {env_spec.build}\n".encode())
    log.flush()
    error = None
    # The build streams on a thread of its own: a RUN that prints nothing for minutes must
    # not keep Ctrl-C waiting. An abandoned build ends with pipe (the daemon sees the client
    # go), or completes and tags what it built, which is then as good as any other build.
    chunks: queue.Queue = queue.Queue()

    def stream():
        try:
            for chunk in c.api.build(
                fileobj=archive(folder, env_spec.dockerfile or ""),
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                decode=True,
                dockerfile=env_spec.dockerfile or None,
                labels=labels,
            ):
                chunks.put(chunk)
        except Exception as e:  # noqa: BLE001 - handed to the step's thread
            chunks.put(e)
        chunks.put(None)

    threading.Thread(target=stream, daemon=True, name=f"build-{env_spec.name}").start()
    while True:
        try:
            chunk = chunks.get(timeout=0.2)
        except queue.Empty:
            chunk = {}
        if cancelled.is_set():
            raise EnvError(f"building image for environment '{env_spec.name}': interrupted")
        if chunk is None:
            break
        if isinstance(chunk, docker.errors.APIError):
            error = str(chunk.explanation or chunk)
            log.write((error + "\n").encode("utf-8", "replace"))
            break
        if isinstance(chunk, Exception):
            raise EnvError(f"docker build of environment '{env_spec.name}' failed: {chunk}", env_spec.loc)
        if "stream" in chunk:
            log.write(chunk["stream"].encode("utf-8", "replace"))
            log.flush()
        if "error" in chunk:
            error = chunk["error"].strip()
            log.write((error + "\n").encode("utf-8", "replace"))
    log.flush()
    if error:
        raise EnvError(
            f"docker build of environment '{env_spec.name}' failed: {error.splitlines()[-1]}",
            env_spec.loc,
            "fix the Dockerfile (the build's output is in the step's log)",
        )
    return c.images.get(tag)


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
