"""A Docker environment (`type: docker`): its identity (what the step key holds), what it
fetches before planning, the image it prepares when a step runs, and starting a step in a
container of that image. The package's docstring says what each part holds.
"""

from __future__ import annotations

import os
import re
import threading
from typing import IO, Mapping, Optional

from ... import spec
from ...digest import hash_json
from ..base import EnvError, Environment, Launch
from ..build import build_lock
from ..cache import EnvCache
from .containers import ContainerProcess, start_container
from .context import identity_digest, links_under
from .daemon import client, sdk
from .images import (
    BUILD_LABEL,
    ENV_LABEL,
    IMAGE_REPO,
    STORE_LABEL,
    build_image,
    from_images,
    local_image_id,
    store_label,
)


class DockerEnvironment(Environment):
    kind = spec.ENV_DOCKER
    container = True

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher, store_root: str):
        super().__init__(env_spec, root, hasher)
        self.cache = EnvCache(store_root)
        self.image_id: Optional[str] = None  # what the step runs: set by prepare()
        self._build_ident: Optional[dict] = None
        # Where the build folder is not in `root`: a Ray node builds from the context shipped
        # to it, whose digest (the identity's, context.identity_digest) the caller computed.
        self._context_dir: Optional[str] = None
        self._context_digest: Optional[str] = None

    # --- identity -------------------------------------------------------------------------
    def _local_image_id(self, name: str) -> Optional[str]:
        return local_image_id(name, self.spec.loc, self.name)

    def build_dir(self) -> str:
        return self._context_dir or os.path.join(self.root, self.spec.build)

    def dockerfile(self) -> str:
        return os.path.join(self.build_dir(), self.spec.dockerfile or "Dockerfile")

    def _dockerfile_rel(self) -> str:
        return os.path.normpath(os.path.join(self.spec.build, self.spec.dockerfile or "Dockerfile"))

    def use_context(self, folder: str, digest: str) -> None:
        """Build from `folder` (a build context shipped here), planned with content `digest`."""
        self._context_dir, self._context_digest = folder, digest
        self._identity = self._build_ident = None

    def build_identity(self) -> dict:
        if self._build_ident is None:
            self._build_ident = self._compute_build_identity()
        return self._build_ident

    def _compute_build_identity(self) -> dict:
        if self.spec.image:
            image_id = self._local_image_id(self.spec.image)
            # Not on this machine: `pipe run` pulls it before planning; `status` only says so.
            return {"image": image_id} if image_id else {"image": None, "missing": self.spec.image}
        digest = self._context_digest
        if digest is None and os.path.isdir(self.build_dir()):
            digest = identity_digest(self.hasher, self.spec.build, self.spec.dockerfile or "")
            if digest is None:  # no .dockerignore: the whole folder is the context
                ctx = self.hasher.digest(self.spec.build)
                digest = ctx.digest if ctx is not None and ctx.kind == "tree" else None
                links = links_under(self.build_dir()) if digest is not None else []
                if links:  # (the digest follows links; the build is sent them as links)
                    digest = hash_json([digest, links])
        if digest is None:
            raise EnvError(
                f"the build folder '{self.spec.build}' of environment '{self.name}' does not exist",
                self.spec.loc,
                "create it with a Dockerfile inside, or fix the path",
            )
        if not os.path.isfile(self.dockerfile()):
            rel = self._dockerfile_rel()
            raise EnvError(
                f"environment '{self.name}' builds from '{self.spec.build}', which has no {rel}",
                self.spec.loc,
                "add a Dockerfile there, or name it with dockerfile:",
            )
        bases = {b: self._local_image_id(b) for b in from_images(self.dockerfile())}
        return {"context": digest, "dockerfile": self.spec.dockerfile or "Dockerfile", "from": bases}

    def identity(self) -> str:
        if self._identity is None:
            self._identity = "docker:" + hash_json(
                {
                    "build": self.build_identity(),
                    "env": dict(self.spec.env),
                    "network": self.spec.network,
                    "mounts": [[self.as_written(m.source), m.target, m.read_only] for m in self.spec.mounts],
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
            rel = self._dockerfile_rel()
            missing = [
                (b, f" (FROM in {rel})") for b in from_images(self.dockerfile()) if self._local_image_id(b) is None
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
            with self.build_once(log, cancelled):
                self._prepare(log, cancelled)

    def _prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        """What prepare() does, its lock held."""
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
                    labels = {
                        BUILD_LABEL: hash_json(self.build_identity()),
                        ENV_LABEL: self.name,
                        STORE_LABEL: store_label(self.cache.dir),
                    }
                    image = build_image(self.spec, self.build_dir(), self.tag(), labels, log, cancelled)
        self.image_id = image.id

    def start(self, launch: Launch, base_env: Mapping[str, str]) -> ContainerProcess:
        return start_container(self.image_id, self.spec, self.root, launch)
