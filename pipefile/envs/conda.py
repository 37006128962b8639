"""conda environments: a prefix created from an environment file.

Identity: the content of the environment file and the platform (the file is the
spec; pin it, or use an explicit/lock spec, for builds that do not drift). What it
resolved to (`TOOL list --explicit`) is recorded in the build's pipe-env.json.

Created with the first of micromamba, mamba and conda found on PATH, into the
store's environment cache (see `cache`); the step runs through `TOOL run -p PREFIX`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from typing import IO, Optional

from .. import spec
from .base import EnvError, Launch, shell_argv
from .build import build_lock, run_tool
from .cache import CachedEnvironment
from .venv import platform_tag

TOOLS = ("micromamba", "mamba", "conda")


def find_tool() -> Optional[str]:
    for t in TOOLS:
        found = shutil.which(t)
        if found:
            return found
    return None


class CondaEnvironment(CachedEnvironment):
    kind = spec.ENV_CONDA

    def __init__(self, env_spec: spec.EnvSpec, root: str, hasher, store_root: str):
        super().__init__(env_spec, root, hasher, store_root)
        self.tool: Optional[str] = None

    def build_identity(self) -> dict:
        f = self.workspace_file(self.spec.file, "environment file")
        return {"file": {"digest": f["digest"]}, "platform": platform_tag()}

    def describe(self) -> str:
        return f"-f {self.spec.file}"

    def check(self) -> None:
        self.tool = find_tool()
        if self.tool is None:
            raise EnvError(
                f"environment '{self.name}' is a conda environment, but none of micromamba, mamba or conda is on PATH",
                self.spec.loc,
                "install micromamba (https://mamba.readthedocs.io/en/latest/installation/"
                "micromamba-installation.html), mamba or conda, and put it on PATH",
            )

    def prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        with self._lock:
            if self.path:
                return
            with self.build_once(log, cancelled):
                self.check()
                build_id = self.build_id()
                path = self.cache.lookup(build_id)
                if path is None:
                    with build_lock(self.cache, build_id, log, cancelled, f"conda environment '{self.name}'"):
                        path = self.cache.lookup(build_id)
                        if path is None:
                            path = self._build(build_id, log, cancelled)
                self.path = path

    def _build(self, build_id: str, log: IO[bytes], cancelled: threading.Event) -> str:
        what = f"creating conda environment '{self.name}'"
        tool = self.tool
        name = os.path.basename(tool)
        log.write(f"pipe: {what} with {name} from {self.spec.file}\n".encode())
        path = self.cache.new_build(build_id)
        os.rmdir(path)  # the tools want to create the prefix themselves
        try:
            file = os.path.join(self.root, self.spec.file)
            if name == "micromamba":
                argv = [tool, "create", "--yes", "--prefix", path, "--file", file]
            else:
                argv = [tool, "env", "create", "--prefix", path, "--file", file]
            run_tool(argv, log, cancelled, what, self.root)
            listed = subprocess.run([tool, "list", "--prefix", path, "--explicit"], capture_output=True, text=True)
            meta = {
                "kind": self.kind,
                "name": self.name,
                "spec": self.build_identity(),
                "tool": name,
                "resolved": listed.stdout.splitlines(),
            }
            self.cache.publish(build_id, path, meta)
            return path
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise

    def argv(self, launch: Launch) -> list:
        tool = self.tool or find_tool() or "conda"
        run = [tool, "run", "--prefix", self.path or ""]
        if os.path.basename(tool) != "micromamba":
            run.append("--no-capture-output")  # stream the step's output as it comes
        return run + shell_argv(launch.command)
