"""The cache of built environments (venvs, conda prefixes) under the store.

    STORE/envs/                      ENV_CACHE_VERSION 1
      BUILD_ID -> builds/BUILD_ID.R  a symlink, present only once the build is complete
      builds/BUILD_ID.R/             the environment itself (R: random, one per build attempt)
        pipe-env.json                {"v", "build_id", "kind", "name", "spec", "resolved",
                                      "created"}: written last, before publishing
      locks/BUILD_ID.lock            flock: one builder at a time, across threads and processes

venvs and conda prefixes are not relocatable (scripts name their absolute path),
so a build is never moved: it is made in its own folder and published by renaming
a symlink into place. A half-built folder has no symlink pointing at it, is never
used, and is removed by the next build of the same environment or by
`pipe envs prune`. BUILD_ID is the environment's kind and content digest, so every
step and every run that asks for the same thing shares one build.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from typing import Optional

from .. import spec
from .base import Environment

ENV_CACHE_VERSION = 1
ENVS_DIR = "envs"
META_FILE = "pipe-env.json"


def dir_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


class EnvCache:
    def __init__(self, store_root: str):
        self.dir = os.path.join(store_root, ENVS_DIR)
        self.builds = os.path.join(self.dir, "builds")
        self.locks = os.path.join(self.dir, "locks")

    def lookup(self, build_id: str) -> Optional[str]:
        """The folder of a complete build, or None."""
        link = os.path.join(self.dir, build_id)
        try:
            target = os.readlink(link)
        except OSError:
            return None
        path = os.path.join(self.dir, target)
        return path if os.path.isfile(os.path.join(path, META_FILE)) else None

    @contextlib.contextmanager
    def lock(self, build_id: str, cancelled: Optional[threading.Event] = None, on_wait=None):
        """Hold the build's lock. With `cancelled`, waiting for another builder (another pipe)
        ends when the run is cancelled (InterruptedError), so Ctrl-C never waits for their build;
        `on_wait()` is called once if the lock is busy."""
        os.makedirs(self.locks, exist_ok=True)
        fd = os.open(os.path.join(self.locks, build_id + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if cancelled is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                waited = False
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if not waited and on_wait is not None:
                            on_wait()
                        waited = True
                        if cancelled.wait(0.2):
                            raise InterruptedError(f"interrupted while waiting for the build of {build_id}") from None
            yield
        finally:
            os.close(fd)  # releases the lock; a dead holder's lock goes with its process

    def new_build(self, build_id: str) -> str:
        """A fresh, empty folder to build in (called with the lock held); removes failed attempts."""
        os.makedirs(self.builds, exist_ok=True)
        for e in os.scandir(self.builds):
            if e.name.startswith(build_id + "."):
                shutil.rmtree(e.path, ignore_errors=True)  # an attempt that never completed
        path = os.path.join(self.builds, f"{build_id}.{secrets.token_hex(4)}")
        os.mkdir(path)
        return path

    def publish(self, build_id: str, path: str, meta: dict) -> str:
        """Mark a build complete: its metadata, then the symlink, renamed into place."""
        meta = dict(meta, v=ENV_CACHE_VERSION, build_id=build_id, created=time.time())
        tmp = os.path.join(path, META_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(path, META_FILE))
        link_tmp = os.path.join(self.dir, f".{build_id}.{secrets.token_hex(4)}")
        os.symlink(os.path.relpath(path, self.dir), link_tmp)
        os.replace(link_tmp, os.path.join(self.dir, build_id))
        return path

    def entries(self) -> list:
        """[(build_id, folder, metadata)] of every complete build."""
        out = []
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return out
        for n in names:
            if n.startswith(".") or n in ("builds", "locks"):
                continue
            path = self.lookup(n)
            if path is None:
                continue
            out.append((n, path, _read_meta(os.path.join(path, META_FILE))))
        return out

    def remove(self, build_id: str) -> None:
        with self.lock(build_id):
            self.unpublish(build_id)

    def unpublish(self, build_id: str) -> None:
        """Unpublish first (so no one starts using it), then delete the folder (lock held)."""
        path = self.lookup(build_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.dir, build_id))
        if path:
            shutil.rmtree(path, ignore_errors=True)

    def unfinished(self) -> list:
        """Build folders that no symlink points at (failed or interrupted builds)."""
        try:
            names = os.listdir(self.builds)
        except FileNotFoundError:
            return []
        live = {os.path.basename(p) for _, p, _ in self.entries()}
        return [os.path.join(self.builds, n) for n in names if n not in live]


def _read_meta(path: str) -> dict:
    """A build's pipe-env.json, less what is not of its shape (a damaged or hand-edited one
    is shown as what it can tell, never an internal error)."""
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    want = {"kind": str, "name": str, "created": (int, float)}
    return {k: v for k, v in meta.items() if k not in want or (isinstance(v, want[k]) and not isinstance(v, bool))}


class CachedEnvironment(Environment):
    """An environment built into a folder of the EnvCache, named by its build_id (venv, conda)."""

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher, store_root: str):
        super().__init__(env_spec, root, hasher)
        self.cache = EnvCache(store_root)
        self.path: Optional[str] = None

    def built(self) -> bool:
        return self.cache.lookup(self.build_id()) is not None

    def size(self) -> Optional[int]:
        path = self.cache.lookup(self.build_id())
        return dir_size(path) if path else None
