"""What a deployment's snapshot (publish.py) holds besides the steps' inputs and code: the
files the job's loader and environments read. Without them a job of the deployment fails
to load or to make its environment, or reads them from the server's folder as they are now
(a stale deployment).

- the loader's `sources` (the Pipefiles used as components, an imported pipeline's files);
- the environments' requirements files (with their -r/-c files and the local paths they
  install from), conda environment files and Docker build folders;
- for a Python pipeline, the modules it imports and the files it reads from the workspace
  while it is built (`ModulesFound`).

Only paths inside the Pipefile's folder: a file outside is read where it is, as before. A
Python pipeline whose load reads files outside (`read_from_outside`) is loaded once more from
a copy of its snapshot when it is published (publish.check_copy_loads), and refused if that
fails: a module found relative to its own, which no job would find.
"""

from __future__ import annotations

import os
from typing import Optional

from . import spec
from .load.pymodule import is_module_ref
from .workspace import Workspace


class ModulesFound:
    """The files read meanwhile: the source files of the modules imported (a Python
    pipeline's own modules, `from helpers import X`) and the files it opened to read (a
    component's YAML it loads, a config): the module runs again in each job, which must
    find them. It finds nothing itself: an import goes on to the finders after it."""

    active: Optional[list] = None  # the list the audit hook adds to, while one is recording
    hooked = False

    def __init__(self):
        self.files: list = []

    def find_spec(self, name, path=None, target=None):
        import importlib.machinery

        try:
            found = importlib.machinery.PathFinder.find_spec(name, path)
        except (ImportError, ValueError):
            return None
        if found is not None and found.origin and os.path.isfile(found.origin):
            self.files.append(found.origin)
        return None

    @staticmethod
    def _audit(event: str, args: tuple) -> None:
        files = ModulesFound.active
        if files is None or event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        mode, flags = args[1], args[2]
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return
        if mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            return
        path = os.fsdecode(args[0])
        files.append(os.path.abspath(path))

    def __enter__(self) -> list:
        import sys

        if not ModulesFound.hooked:  # (an audit hook stays for the process: installed once)
            sys.addaudithook(ModulesFound._audit)
            ModulesFound.hooked = True
        ModulesFound.active = self.files
        sys.meta_path.insert(0, self)
        return self.files

    def __exit__(self, *exc) -> None:
        import sys

        ModulesFound.active = None
        sys.meta_path.remove(self)


def own_modules(pf, pipefile_path: str, found: list) -> list:
    """Of the modules a Python pipeline's load imported, those of the workspace (not of an
    installed package, even one in a virtual environment inside it)."""
    if not is_module_ref(pipefile_path):
        return []
    out = []
    for rel in filter(None, (inside(pf, f) for f in found)):
        parts = rel.split("/")
        if rel in out or not os.path.isfile(os.path.join(pf.root, rel)):
            continue  # (a folder listed, a file looked for in vain, one the load removed)
        if not any(p.startswith(".") or p in ("site-packages", "dist-packages", "__pycache__") for p in parts):
            out.append(rel)
    return out


def inside(pf, path: str) -> Optional[str]:
    """`path` (absolute, or relative to the Pipefile's folder) relative to that folder, or
    None when it lies outside it (a deployment's snapshot holds the workspace's files only;
    a file outside is read where it is, as before)."""
    rel = os.path.relpath(os.path.normpath(os.path.join(pf.root, path)), pf.root)
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def pipeline_files(ws: Workspace, pf, graph, hasher) -> list:
    """Workspace paths the job needs that are neither a step's input nor its code."""
    out = [path for path, _digest in pf.sources]
    used = {node.step.environment for node in graph.nodes.values() if node.step.environment}
    for name in sorted(used):
        env = pf.environments.get(name)
        if env is None:
            continue
        if env.type == spec.ENV_VENV and (env.requirements or env.packages):
            from .envs import make

            ident = make(env, pf.root, hasher, ws.store_root).build_identity()
            out += [env.requirements] if env.requirements else []
            # its -r/-c files and the wheels or folders it (or `packages:`) installs from by path
            out += [rel for rel, digest in ident.get("included", []) + ident.get("local", []) if digest]
        if env.type == spec.ENV_CONDA and env.file:
            out.append(env.file)
        if env.type == spec.ENV_DOCKER and env.build:
            out.append(env.build)
    return [rel for rel in (inside(pf, p) for p in out) if rel is not None]


def files_read(path: str) -> list:
    """The files the pipeline at `path` is read from (the loader's sources) and, for a Python
    pipeline, the modules of its folder it imports: what a copy of it needs besides itself."""
    from . import load as loader

    with ModulesFound() as found:
        pf, _errors = loader.load_lenient(path)
    return [source for source, _digest in pf.sources] + [os.path.join(pf.root, m) for m in own_modules(pf, path, found)]


def read_from_outside(pf, found: list) -> list:
    """Of the files a Python pipeline's load read (`ModulesFound`), those outside the
    workspace that are none of Python's or pipe's own (its library, site-packages, the
    system's): a module or file found relative to the pipeline's module, which a job, running
    the snapshot's copy in a folder of its own, may not find."""
    import site
    import sysconfig

    import stdlib_components

    # Python's library and packages, by their folders (not by prefix: a workspace may lie
    # under /usr, as /usr/src/app), pipe's own packages, and the system's pseudo-files.
    # Another file outside costs a load check (publish.check_copy_loads), never a refusal.
    paths = sysconfig.get_paths()
    ours = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    ours |= {os.path.dirname(os.__file__)} | set(site.getsitepackages()) | {site.getusersitepackages()}
    ours |= {os.path.dirname(os.path.abspath(__file__))} | {os.path.abspath(p) for p in stdlib_components.__path__}
    ours |= {"/dev", "/proc", "/sys", "/etc"}
    roots = tuple(os.path.join(os.path.normpath(r), "") for r in ours if r)
    out: list = []
    for f in found:
        path = os.path.normpath(f)
        if inside(pf, path) is None and not path.startswith(roots) and path not in out and os.path.isfile(path):
            out.append(path)
    return out


def env_files_outside(pf, graph) -> list:
    """Errors for what a used venv environment installs from, or pulls in with -r/-c, by a
    relative path that leads outside the workspace: the snapshot cannot hold it, and a job,
    which makes the environment from the snapshot's copy in a folder of its own, would not
    find it there. An absolute path is read where it is, by the jobs too."""
    from .envs.venv import INCLUDE_RE, local_target
    from .errors import PipefileError

    used = {node.step.environment for node in graph.nodes.values() if node.step.environment}
    errors: list = []
    for name in sorted(used):
        env = pf.environments.get(name)
        if env is None or env.type != spec.ENV_VENV:
            continue
        found: list = [("packages", p, pf.root) for p in env.packages]  # (pip reads them from the workspace)
        todo = [env.requirements] if env.requirements and inside(pf, env.requirements) else []
        seen: set = set()
        while todo:
            rel = todo.pop()
            seen.add(rel)
            try:
                with open(os.path.join(pf.root, rel), encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue  # (a missing file is the environment's own error)
            for line in lines:
                m = INCLUDE_RE.match(line)
                if m and "://" not in m.group(1):  # -r/-c: relative to the file that names it
                    found.append((rel, m.group(1), os.path.dirname(os.path.join(pf.root, rel))))
                    inc = inside(pf, os.path.join(os.path.dirname(os.path.join(pf.root, rel)), m.group(1)))
                    if inc is not None and inc not in seen:
                        todo.append(inc)
                elif (target := local_target(line) or _editable_path(line)) is not None:
                    found.append((rel, target, pf.root))
        for where, target, base in found:
            if os.path.isabs(target) or inside(pf, os.path.join(base, target)) is not None:
                continue
            errors.append(
                PipefileError(
                    f"environment '{name}': {where} names '{target}', outside the workspace (the Pipefile's "
                    f"folder); a deployment's snapshot holds the workspace's files only, so its jobs could "
                    f"not make the environment",
                    env.loc,
                    "move it into the workspace and name it from there, or name it by its absolute path "
                    "(each job then reads it where it is, as it is then)",
                )
            )
    return errors


def _editable_path(line: str) -> Optional[str]:
    """The folder of `-e PATH` (an editable install, from pip's working folder, the job's), or None."""
    import re

    m = re.match(r"\s*(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)", line)
    if m is None or "://" in m.group(1) or m.group(1).startswith(("git+", "hg+", "svn+", "bzr+")):
        return None
    return os.path.expanduser(m.group(1))
