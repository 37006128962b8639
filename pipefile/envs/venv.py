"""venv environments: a Python virtual environment built from requirements.

Identity (what the step key holds): the content of the requirements file (and of
the files it names with -r/-c, and of the wheels and package folders it installs from
by path), the package list, the Python version asked for (or the major.minor of the
Python running pipe) and the platform. It is computed from the Pipefile and the file's
digest, without resolving anything, so `pipe status` stays cheap and offline.
Pin versions (`six==1.16.0`, or a lock file) for builds that do not drift: what an
unpinned requirement resolved to is recorded (`pip freeze`) in the build's
pipe-env.json, which `pipe envs` shows.

Built with uv when it is on PATH (`uv venv`, `uv pip install`), else with
`python -m venv` and pip, into the store's environment cache (see `cache`).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import threading
from typing import IO, Mapping, Optional

from .. import spec
from ..digest import IGNORED_NAMES, IGNORED_SUFFIXES, hash_json
from .base import EnvError, Launch
from .build import build_lock, run_tool
from .cache import CachedEnvironment

# A line of a requirements file that names another one: -r FILE, -c FILE, --requirement=FILE...
INCLUDE_RE = re.compile(r"\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)?(\S+)")


def _file_digest(hasher, root: str, rel: str) -> Optional[str]:
    """The content digest of a file inside the workspace or outside it (None: not there)."""
    if not rel.startswith(".." + os.sep) and rel != "..":
        d = hasher.digest(rel, data_only=True)  # (a FIFO is not opened: see below)
        return d.digest if d is not None else None
    # Outside too through the stat cache, streamed: a wheel of gigabytes in ../wheels was read
    # whole into memory at every load (pipe status, a no-op pipe run).
    ap = os.path.join(root, rel)
    try:
        st = os.stat(ap)
        if not stat.S_ISREG(st.st_mode):  # (a FIFO would wait for a writer for ever)
            return None
        return hasher.cache.file_digest(rel, ap, st)
    except OSError:
        return None


# A line that makes pip look for packages in a folder: -f DIR, --find-links=DIR.
_FIND_LINKS_RE = re.compile(r"\s*(?:-f|--find-links)(?:\s*=\s*|\s+)?(\S+)")
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".tar")
# What building a package folder writes into it (setuptools: build/, dist/, NAME.egg-info):
# not its content, or the first build would change the identity and the next run rebuild.
_BUILD_LEFTOVERS = ("build", "dist")
# Nor what tools keep beside the code (.mypy_cache, .pytest_cache, .tox, .venv ...: a hidden
# folder, never in what is built) or node_modules: running the package's tests or mypy in its
# folder rebuilt the venv and reran every step in it.
_TOOL_FOLDERS = ("node_modules",)


def local_target(req: str) -> Optional[str]:
    """The path a requirement (a line of a requirements file, or a `packages:` entry) installs
    from or looks in (a wheel, an sdist, a package folder, a --find-links folder); None for
    a name (`six==1.16.0`), a remote URL, another option, or an editable install (-e: installed
    in place, its edits are live, seen by the steps as a local step sees its code)."""
    req = re.split(r"\s+#", req.strip(), maxsplit=1)[0].strip()
    m = _FIND_LINKS_RE.match(req)
    if m:
        target = m.group(1)
    elif not req or req.startswith("-"):
        return None
    else:
        name, at, url = req.partition(" @ ")
        words = (url if at else name).split(";")[0].split()
        target = words[0] if words else ""
    if target.startswith("file:"):
        from urllib.parse import unquote, urlparse

        target = unquote(urlparse(target).path)
    elif "://" in target:
        return None
    target = re.sub(r"\[[^\]]*\]$", "", target)  # extras: ./pkg[cli]
    looks_like_path = target.startswith((".", "/", "~")) or "/" in target or target.endswith(_ARCHIVES)
    return os.path.expanduser(target) if target and looks_like_path else None


def _folder_digest(hasher, root: str, rel: str) -> str:
    """The content of a package folder, less what building it writes into it (see above).
    In the workspace, a folder with no .egg-info directly in it is taken whole, by its digest
    through the stat cache (as an input folder is); outside, every file is read."""
    top = os.path.join(root, rel)
    inside = not rel.startswith(".." + os.sep)
    entries = []
    for dirpath, dirs, files in os.walk(top):
        sub = os.path.relpath(dirpath, top)
        walk_into = []
        for d in sorted(dirs):
            if d in IGNORED_NAMES or d.endswith(".egg-info") or (sub == "." and d in _BUILD_LEFTOVERS):
                continue
            if d.startswith(".") or d in _TOOL_FOLDERS:  # (see above)
                continue
            ap = os.path.join(dirpath, d)
            if inside and not _holds_egg_info(ap):
                got = hasher.digest(os.path.relpath(ap, root))
                entries.append([os.path.normpath(os.path.join(sub, d)), "t", got.digest if got else None])
            else:
                walk_into.append(d)
        dirs[:] = walk_into
        for f in sorted(files):
            if f in IGNORED_NAMES or f.endswith(IGNORED_SUFFIXES):
                continue
            ws_rel = os.path.relpath(os.path.join(dirpath, f), root)
            entries.append([os.path.normpath(os.path.join(sub, f)), "f", _file_digest(hasher, root, ws_rel)])
    return hash_json(entries)


def _holds_egg_info(folder: str) -> bool:
    try:
        return any(n.endswith(".egg-info") for n in os.listdir(folder))
    except OSError:
        return False


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine()}"


def _bin(prefix: str) -> str:
    return os.path.join(prefix, "Scripts" if os.name == "nt" else "bin")


class VenvEnvironment(CachedEnvironment):
    kind = spec.ENV_VENV

    def python_version(self) -> str:
        return self.spec.python or f"{sys.version_info[0]}.{sys.version_info[1]}"

    def build_identity(self) -> dict:
        req = self.workspace_file(self.spec.requirements, "requirements file") if self.spec.requirements else None
        python = self.python_version()
        ident = {
            "python": self.as_written(python) if "/" in python else python,
            "platform": platform_tag(),
            "requirements": req and {"digest": req["digest"]},
            "packages": list(self.spec.packages),
        }
        included = self._included(self.spec.requirements, set()) if req else []
        if included:  # only then: the identity of a file without -r/-c lines stays what it was
            ident["included"] = [[self.as_written(p), d] for p, d in included]
        if self.spec.python and "/" in self.spec.python:
            # An interpreter named by path can be replaced at that path (a Python upgraded in
            # place): its content is what builds the venv, or the old venv, made for the other
            # Python, would be kept with the steps it ran. (Only then: others stay as they were.)
            ident["interpreter"] = self._interpreter_digest()
        # Wheels, sdists and package folders named by path: their content is what is installed
        # (a wheel rebuilt under the same name must rebuild the venv and rerun its steps).
        local = self._local_sources(included)
        if local:  # (only then, as above: identities without them stay what they were)
            ident["local"] = [[self.as_written(p), d] for p, d in local]
        return ident

    def _interpreter_digest(self) -> Optional[str]:
        """The content digest of the interpreter `python:` names by path (None: not a file)."""
        ap = os.path.realpath(os.path.join(self.root, self.spec.python))
        try:
            st = os.stat(ap)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):  # (a FIFO would wait for a writer for ever)
            return None
        return self.hasher.cache.file_digest(ap, ap, st)

    def _local_sources(self, included: list) -> list:
        """[[path, digest]] of what the requirements install from a path (None: not there)."""
        lines = list(self.spec.packages)
        for rel in [self.spec.requirements] + [inc for inc, _ in included] if self.spec.requirements else []:
            lines += _lines(os.path.join(self.root, rel))
        out = []
        for line in lines:
            target = local_target(line)
            if target is None:
                continue
            # pip reads such a path from its working folder: the Pipefile's (as -e, -f)
            inc = os.path.relpath(os.path.normpath(os.path.join(self.home_dir(), target)), self.root)
            if any(inc == seen for seen, _ in out):
                continue
            ap = os.path.normpath(os.path.join(self.root, inc))
            if os.path.isdir(ap):
                if os.path.commonpath([ap, os.path.abspath(self.root)]) == ap:
                    continue  # (a folder holding the workspace holds the steps' own outputs too)
                out.append([inc, _folder_digest(self.hasher, self.root, inc)])
            else:
                out.append([inc, _file_digest(self.hasher, self.root, inc)])
        return out

    def _included(self, rel: str, seen: set) -> list:
        """[[path, digest]] of the files a requirements file pulls in with -r/-c, recursively
        (pip reads them relative to the file that names them): editing one reruns its steps too."""
        seen.add(rel)
        lines = _lines(os.path.join(self.root, rel))
        out = []
        for line in lines:
            m = INCLUDE_RE.match(line)
            if not m or "://" in m.group(1):
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(os.path.join(self.root, rel)), m.group(1)))
            inc = os.path.relpath(target, self.root)
            if inc in seen:
                continue
            out.append([inc, _file_digest(self.hasher, self.root, inc)])
            out += self._included(inc, seen)
        return out

    def describe(self) -> str:
        what = [f"python {self.python_version()}"]
        if self.spec.requirements:
            what.append(f"-r {self.spec.requirements}")
        what += list(self.spec.packages)
        return " ".join(what)

    # --- building ---------------------------------------------------------------------------
    def check(self) -> None:
        """Before a run: the Python it asks for can be had (uv fetches one; venv needs it here)."""
        if not self.built() and not shutil.which("uv"):
            self._interpreter()

    def _interpreter(self) -> str:
        want = self.spec.python
        if not want:
            return sys.executable
        if "/" in want:
            if os.access(os.path.join(self.root, want), os.X_OK):
                return self.as_written(want)  # (the tools run in the Pipefile's folder: home_dir)
            raise EnvError(
                f"environment '{self.name}' asks for python '{want}', which is not an executable",
                self.spec.loc,
                'give a version (python: "3.11") or the path of an interpreter',
            )
        found = shutil.which(f"python{want}")
        if found and os.path.basename(os.path.dirname(found)) == "shims":
            # A version manager's shim (pyenv) is on PATH even where that version is not selected,
            # and then only says so when run: try it, so the message says what to do.
            import subprocess

            ok = subprocess.run([found, "-c", ""], capture_output=True).returncode == 0
            if not ok:
                raise EnvError(
                    f"environment '{self.name}' asks for Python {want}: python{want} on PATH is a shim "
                    f"({found}) that does not run it here",
                    self.spec.loc,
                    f"select that version as well (pyenv: `pyenv global <yours> {want}.x`, or "
                    f"PYENV_VERSION=<yours>:{want}.x), or give python: the path of an interpreter",
                )
        if found:
            return found
        raise EnvError(
            f"environment '{self.name}' asks for Python {want}, but there is no python{want} on PATH",
            self.spec.loc,
            f"install Python {want}, or install uv (https://docs.astral.sh/uv/), which fetches the Python a venv needs",
        )

    def prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        with self._lock:
            if self.path:
                return
            with self.build_once(log, cancelled):
                self._prepare(log, cancelled)

    def _prepare(self, log: IO[bytes], cancelled: threading.Event) -> None:
        """What prepare() does, its lock held."""
        ident = self.build_identity()
        if self._identity is not None and self._identity_of(ident) != self._identity:
            # The steps' keys hold what the files were when the run planned them: a venv of
            # what they are now would be recorded under those keys (stale once edited back).
            raise self._changed("since this run planned its steps")
        build_id = f"{self.kind}-{hash_json(ident)}"
        path = self.cache.lookup(build_id)
        if path is None or not _runs(path):
            with build_lock(self.cache, build_id, log, cancelled, f"venv environment '{self.name}'"):
                path = self.cache.lookup(build_id)  # someone else may have built it meanwhile
                if path is not None and not _runs(path):
                    # Its interpreter is gone (the Python it was made from was removed, or
                    # upgraded in place): every step would fail in it until it was rebuilt.
                    log.write(
                        f"pipe: venv environment '{self.name}' is broken ({_bin(path)}/python is missing "
                        "or points at a Python that is gone): building it again\n".encode()
                    )
                    self.cache.unpublish(build_id)
                    path = None
                if path is None:
                    path = self._build(build_id, log, cancelled, ident)
        self.path = path

    def _changed(self, when: str) -> EnvError:
        return EnvError(
            f"what venv environment '{self.name}' is built from (its requirements, the files they name) changed {when}",
            self.spec.loc,
            "run again: its steps then run in a venv of what the files hold now",
        )

    def built(self) -> bool:
        path = self.cache.lookup(self.build_id())
        return path is not None and _runs(path)

    def _build(self, build_id: str, log: IO[bytes], cancelled: threading.Event, ident: dict) -> str:
        what = f"building venv environment '{self.name}'"
        log.write(f"pipe: {what} ({self.describe()})\n".encode())
        path = self.cache.new_build(build_id)
        try:
            reqs = []
            if self.spec.requirements:
                reqs += ["-r", os.path.join(self.root, self.spec.requirements)]
            reqs += list(self.spec.packages)
            py = os.path.join(_bin(path), "python")
            env = _tool_env()
            # Where pip reads the relative paths of the requirements (./pkg, -e, -f): the folder
            # of the Pipefile that declares the environment, as when it runs on its own.
            cwd = self.home_dir()
            python = self.spec.python
            if "/" in python:
                python = os.path.join(self.root, python)  # (rebased: relative to the workspace)
            uv = shutil.which("uv")
            if uv:
                run_tool(
                    [uv, "venv", "--quiet", "--python", python or sys.executable, path],
                    log,
                    cancelled,
                    what,
                    cwd,
                    env,
                )
                self._check_made(path)
                if reqs:
                    run_tool([uv, "pip", "install", "--python", py] + reqs, log, cancelled, what, cwd, env)
                freeze = [uv, "pip", "freeze", "--python", py]
            else:
                run_tool([self._interpreter(), "-m", "venv", path], log, cancelled, what, cwd, env)
                self._check_made(path)
                if reqs:
                    run_tool(
                        [py, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"] + reqs,
                        log,
                        cancelled,
                        what,
                        cwd,
                        env,
                    )
                freeze = [py, "-m", "pip", "freeze", "--disable-pip-version-check"]
            resolved = subprocess.run(freeze, capture_output=True, text=True, env=env, cwd=cwd)
            version = subprocess.run(
                [py, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, env=env
            )
            if self.build_identity() != ident:  # (pip read them meanwhile: the build is of neither)
                raise self._changed("while it was built")
            meta = {
                "kind": self.kind,
                "name": self.name,
                "spec": ident,
                "python": version.stdout.strip(),
                "installer": "uv" if uv else "pip",
                "resolved": resolved.stdout.splitlines(),
            }
            self.cache.publish(build_id, path, meta)
            log.write(f"pipe: built venv environment '{self.name}'\n".encode())
            return path
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # nothing half-built is kept
            raise

    def _check_made(self, path: str) -> None:
        """After the venv was made: it has its interpreter. A `python:` path that is no Python
        (/bin/true) exits 0 having made nothing, and the build failed later on a bare
        "No such file or directory" naming the missing bin/python, not the Pipefile's line."""
        if not _runs(path):
            raise EnvError(
                f"environment '{self.name}': making its venv with python '{self.spec.python or sys.executable}' "
                f"left no {os.path.join(_bin(path), 'python')}",
                self.spec.loc,
                'give python: a Python version ("3.11") or the path of a Python interpreter',
            )

    def process_env(self, base: Mapping[str, str], launch: Launch) -> dict:
        env = {**base, **self.spec.env, **launch.env}  # (merged: see base.py)
        env.pop("PYTHONHOME", None)
        env["VIRTUAL_ENV"] = self.path or ""
        env["PATH"] = _bin(self.path or "") + os.pathsep + env.get("PATH", os.defpath)
        return env


# pip expands ${NAME} (upper case, digits, _) in requirements files from its environment,
# which is pipe's (_tool_env): `-r ${REQS}/base.txt` names the file pip reads.
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")


def _lines(path: str) -> list:
    """The lines of a requirements file, ${NAME}s expanded as pip expands them; none if it is
    not a regular file (a FIFO named by -r would wait for a writer for ever, in every
    `pipe status`) or cannot be read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return []
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    # As pip reads them: a line ending with a backslash goes on on the next (`-r \` then the
    # file's name; a hash-pinned requirement and its --hash lines), a comment line does not.
    joined, part = [], ""
    for line in lines:
        if line.endswith("\\") and not line.lstrip().startswith("#"):
            part += line[:-1]
            continue
        joined.append(part + line)
        part = ""
    if part:
        joined.append(part)
    return [_ENV_VAR_RE.sub(lambda m: os.environ.get(m.group(1), m.group(0)), line) for line in joined]


def _runs(path: str) -> bool:
    """Whether a built venv still has its interpreter (a link to the Python it was made from)."""
    return os.path.exists(os.path.join(_bin(path), "python"))


def _tool_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)  # the builder's own modules must not leak into what it installs
    return env
