"""The built-in `std` environment, where std components (`component: std/NAME@MAJOR`) run.

Which it is is decided once per process, from package metadata (nothing is imported):
  - the calling interpreter, when it has every requirement of the `std` extra at its
    minimum version: steps run with it (it is the first `python` on PATH);
  - otherwise a venv with those requirements, built once through the venv machinery
    (keyed by its identity like any venv, shared by every std component).
Either way the library is put on PYTHONPATH, so `python -m stdlib_components.X` finds it
wherever it is installed (or wherever PIPE_STDLIB_DIR points).

Identity: `std:<digest>` of the interpreter's Python version and the versions of the
requirements it has; the venv's own identity otherwise.

    STORE/envs/.std/<digest>/   (not a build of the cache: `pipe envs prune` leaves it alone)
      bin/python, bin/python3   run the chosen interpreter
      lib/stdlib_components     a link to the library
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
from typing import IO, Mapping, Optional

from .. import spec
from ..digest import hash_json
from .base import Environment, Launch
from .cache import ENVS_DIR

# The `std` extra of pyproject.toml (tests/test_stdlib.py checks that the two agree).
STD_REQUIREMENTS = ("pandas>=2.0", "pyarrow>=14", "scikit-learn>=1.3", "matplotlib>=3.7")
SHIMS_DIR = ".std"
USES_INTERPRETER = "interpreter"
USES_VENV = "venv"


def _numbers(version: str) -> tuple:
    """The leading numbers of a version ('2.2.3rc1' -> (2, 2, 3)), for comparing against a minimum."""
    out = []
    for part in version.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
        if m.group() != part:
            break
    return tuple(out)


def installed() -> dict:
    """requirement name -> the version this interpreter has (None: not installed)."""
    from importlib import metadata

    out = {}
    for req in STD_REQUIREMENTS:
        name = req.split(">=")[0]
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def missing(have: Mapping) -> list:
    """The requirements `have` does not meet."""
    out = []
    for req in STD_REQUIREMENTS:
        name, _, minimum = req.partition(">=")
        got = have.get(name)
        if got is None or _numbers(got) < _numbers(minimum):
            out.append(req)
    return out


class StdEnvironment(Environment):
    """The calling interpreter, or a venv of the std requirements; the library on PYTHONPATH."""

    kind = spec.ENV_STD

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher, store_root: str, library: str = ""):
        super().__init__(env_spec, root, hasher)
        self.store_root = store_root
        self._library = library  # the library folder ("" : found when first needed)
        self.have = installed()
        self.lacking = missing(self.have)
        self.venv = None
        if self.lacking:
            from .venv import VenvEnvironment

            venv_spec = spec.EnvSpec(spec.ENV_STD, spec.ENV_VENV, packages=STD_REQUIREMENTS, loc=env_spec.loc)
            self.venv = VenvEnvironment(venv_spec, root, hasher, store_root)
        self.shims: Optional[str] = None
        self._shim_lock = threading.Lock()

    @property
    def uses(self) -> str:
        return USES_VENV if self.venv is not None else USES_INTERPRETER

    # --- identity -------------------------------------------------------------------------
    def identity(self) -> str:
        if self.venv is not None:
            return self.venv.identity()
        if self._identity is None:
            python = ".".join(str(n) for n in sys.version_info[:3])
            self._identity = f"{self.kind}:{hash_json({'python': python, 'packages': self.have})}"
        return self._identity

    def build_identity(self) -> Optional[dict]:
        return self.venv.build_identity() if self.venv is not None else None

    def build_id(self) -> str:
        return self.venv.build_id() if self.venv is not None else super().build_id()

    def describe(self) -> str:
        if self.venv is not None:
            return f"a venv ({self.venv.describe()}): this interpreter lacks {', '.join(self.lacking)}"
        versions = ", ".join(f"{n} {v}" for n, v in self.have.items())
        return f"the current interpreter ({sys.executable}: {versions})"

    # --- lifecycle ------------------------------------------------------------------------
    def check(self) -> None:
        if self.venv is not None:
            self.venv.check()

    def built(self) -> Optional[bool]:
        return self.venv.built() if self.venv is not None else None

    def size(self) -> Optional[int]:
        return self.venv.size() if self.venv is not None else None

    def prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        if self.venv is not None:
            self.venv.prepare(log, cancelled)
        with self._shim_lock:
            if self.shims is None:
                self.shims = self._make_shims()

    def _python(self) -> str:
        if self.venv is not None:
            return os.path.join(self.venv.path or "", "bin", "python")
        return sys.executable

    def library(self) -> str:
        if not self._library:
            from ..load.stdlib import library_dir

            self._library = library_dir()
        return self._library

    def _make_shims(self) -> str:
        """STORE/envs/.std/<digest>: `python` for the chosen interpreter, the library as a package.
        Made in a temporary folder and renamed into place: never seen half-made."""
        python, lib = self._python(), self.library()
        top = os.path.join(self.store_root, ENVS_DIR, SHIMS_DIR)
        # (v: shims before 2 did not quote the path; a broken one must not be found again)
        final = os.path.join(top, hash_json({"python": python, "library": lib, "v": 2})[:24])
        if os.path.isdir(final):
            return final
        os.makedirs(top, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=top, prefix=".tmp-")
        try:
            os.mkdir(os.path.join(tmp, "bin"))
            os.mkdir(os.path.join(tmp, "lib"))
            for name in ("python", "python3"):
                path = os.path.join(tmp, "bin", name)
                with open(path, "w") as f:
                    # A script, not a link: a venv's interpreter finds its packages by where it is called from.
                    # (quoted: an interpreter's path may hold `$`, quotes or spaces)
                    f.write(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n')
                os.chmod(path, 0o755)
            os.symlink(lib, os.path.join(tmp, "lib", "stdlib_components"))
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):  # (another process made it first: theirs is the same)
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def process_env(self, base: Mapping[str, str], launch: Launch) -> dict:
        env = self.venv.process_env(base, launch) if self.venv is not None else dict(base, **launch.env)
        env.update(self.spec.env)
        shims = self.shims or ""
        env["PATH"] = os.path.join(shims, "bin") + os.pathsep + env.get("PATH", os.defpath)
        lib = os.path.join(shims, "lib")
        env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env
