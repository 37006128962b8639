"""The workspace modules a command_component's module imports, for its step's key.

A step of `@command_component` runs a function of the user's module, and that function's
result depends on every module of the workspace it imports (`from helpers import clean`,
`from .util import twice`, an `import features.text` inside the function). Only the module's
own file was in the key, so an edit of a helper left the step fresh: a stale output. The
imports are read from the source (ast), not from a run: an import inside the function runs
only in the step, and one under `if` may run there and not here. They are resolved as the
step's `python -m pipefile.dsl.run` resolves them (`step_path`): the module's folder (or its
package's root) first on sys.path, then the workspace; what is not a file of the workspace
(the standard library, installed packages, pipefile itself) is the environment's, not code.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator, Optional

from ..errors import PipefileError

# Past this many modules a component's imports are not followed one by one (each is read and
# parsed on every load of the pipeline): the user names them instead.
MOST_MODULES = 2000
_LARGEST_SOURCE = 8 << 20  # (a generated file this large is data, not a module to read)
_RUNNER = "pipefile"  # the runner's own package: in the environment, never in a step's code


class TooManyModules(PipefileError):
    """Raised with the count; the caller says which component (its place in the user's code)."""


def step_path(file: str, root: str) -> tuple:
    """(the folder `python -m pipefile.dsl.run` puts first on sys.path, the module's dotted
    name or None) for the module `file` of a step run in `root`. A module of a package inside
    the workspace is imported by its dotted name, as the pipeline's module imported it, so its
    relative imports (`from .util import x`) work; any other runs as a file (None), its folder
    first on sys.path."""
    folder = os.path.dirname(os.path.abspath(file))
    parts = [os.path.splitext(os.path.basename(file))[0]]
    while folder != root and os.path.isfile(os.path.join(folder, "__init__.py")):
        parts.insert(0, os.path.basename(folder))
        folder = os.path.dirname(folder)
    if len(parts) > 1 and all(p.isidentifier() for p in parts):
        return folder, ".".join(parts)
    return os.path.dirname(os.path.abspath(file)), None


# One load's answers by (module, root): the components of one module share its imports, and a
# pipeline of 40 of them walked a 300-module workspace 40 times (7.5 s for `pipe status`). Kept
# for one load only (`one_load`), so a module made later in a long-lived process (pipe ui) counts.
_LOAD: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar("pipefile_dsl_imports", default=None)
# A module's imports by its path, with the stat they were read at: each file is parsed once per
# process while it is unchanged, whichever component or load asks (pipe ui loads again and again).
_NAMES: dict = {}
_MOST_KEPT = 20000  # (past this many files the memory is dropped whole, not grown)


@contextlib.contextmanager
def one_load() -> Iterator[None]:
    """Within it, the components of one module share the walk of its imports."""
    token = _LOAD.set({})
    try:
        yield
    finally:
        _LOAD.reset(token)


def workspace_imports(file: str, root: str) -> list:
    """The workspace files (absolute, sorted) that the module `file` imports, directly or
    through each other, `file` itself left out. Raises TooManyModules past MOST_MODULES."""
    root = os.path.abspath(root)
    memo = _LOAD.get()
    if memo is None:
        return _walk(file, root)
    key = (os.path.abspath(file), root)
    if key not in memo:
        try:
            memo[key] = _walk(file, root)
        except TooManyModules as e:
            memo[key] = e
    found = memo[key]
    if isinstance(found, TooManyModules):
        raise found
    return list(found)


def _walk(file: str, root: str) -> list:
    first, dotted = step_path(file, root)
    roots = [first] if first == root else [first, root]  # (`python -m` puts the working folder next)
    start = os.path.abspath(file)
    seen = {start}
    todo = [start]
    if dotted:  # (imported by its dotted name: its packages' __init__.py run first)
        for init in _files_below(first, dotted.split(".")[:-1], root):
            seen.add(init)
            todo.append(init)
    while todo:
        path = todo.pop()
        for name, level in _imported_names(path):
            for found in _resolve(name, level, path, roots, root):
                if found not in seen:
                    seen.add(found)
                    if len(seen) > MOST_MODULES:
                        raise TooManyModules(f"it imports more than {MOST_MODULES:,} modules of the workspace")
                    todo.append(found)
    seen.discard(start)
    return sorted(seen)


def _imported_names(path: str) -> list:
    """[(dotted name, level)] of every import in the module at `path`, wherever it sits (a
    function's body too); [] for a file that cannot be read or parsed (the step will say)."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    seen = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
    kept = _NAMES.get(path)
    if kept is not None and kept[0] == seen:
        return kept[1]
    names = _read_names(path, st.st_size)
    if len(_NAMES) >= _MOST_KEPT:
        _NAMES.clear()
    _NAMES[path] = (seen, names)
    return names


# The fields of a statement that hold statements: an import is a statement, so it sits only in
# these, and expressions (most of a module's nodes) need not be walked.
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _read_names(path: str, size: int) -> list:
    import ast

    try:
        if size > _LARGEST_SOURCE:
            return []
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    names: list = []
    todo = [tree]
    while todo:
        node = todo.pop()
        for field in _BODIES:
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                todo += inner
        if isinstance(node, ast.Import):
            names += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.append((base, node.level))
            # `from pkg import mod` may name a submodule: looked for as one, kept if it is a file
            names += [(f"{base}.{a.name}" if base else a.name, node.level) for a in node.names if a.name != "*"]
    return names


def _resolve(name: str, level: int, importer: str, roots: list, root: str) -> list:
    """The workspace files importing `name` (at `level`, from `importer`) runs: each package's
    `__init__.py` on the way and the module itself, from the first root that has it."""
    if level:
        base = os.path.dirname(importer)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        return _files_below(base, name.split(".") if name else [], root)
    if not name or name.partition(".")[0] == _RUNNER:
        return []
    for top in roots:
        found = _files_below(top, name.split("."), root)
        if found:
            return found
    return _found_elsewhere(name, root)


def _found_elsewhere(name: str, root: str) -> list:
    """A module of the workspace the step's Python finds as this one does, not from the
    module's folder: through PYTHONPATH (src/) or an editable install of the workspace's
    package (pip install -e . of a src layout). Looked up by its top-level name (found, never
    imported), the rest below that package's folder."""
    import importlib.util

    top, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError, AttributeError):  # (a broken finder, an odd name)
        return []
    if spec is None:
        return []
    locations = list(spec.submodule_search_locations or [])
    origin = spec.origin if isinstance(spec.origin, str) else ""
    # (pipe's own working folder is on its sys.path, and is not the step's: what is found only
    # there is no module the step imports, and would make the key depend on where pipe ran)
    here = os.path.abspath(os.getcwd())
    if os.path.dirname(os.path.abspath(locations[0] if locations else origin or here)) == here:
        return []
    if not locations:  # a module: its file, if it is the workspace's
        return [origin] if origin.endswith(".py") and _below(os.path.abspath(origin), root) else []
    found = []
    for folder in locations:
        folder = os.path.abspath(folder)
        if not _below(folder, root):
            continue
        init = os.path.join(folder, "__init__.py")
        found += [init] if os.path.isfile(init) else []
        found += _files_below(folder, rest.split("."), root) if rest else []
        break
    return found


def _files_below(base: str, parts: list, root: str) -> list:
    found = []
    here = base
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        module = _module_file(here, part) if last else None
        if module is not None:
            found.append(module)
            break
        here = os.path.join(here, part)
        if not os.path.isdir(here):
            break
        init = os.path.join(here, "__init__.py")
        if os.path.isfile(init):
            found.append(init)
    return [f for f in found if _below(f, root)]


def _module_file(folder: str, name: str) -> Optional[str]:
    path = os.path.join(folder, name + ".py")
    return path if os.path.isfile(path) else None


def _below(path: str, root: str) -> bool:
    # (both absolute and normalized: a prefix test, without relpath's cost on every file)
    return path == root or path.startswith(os.path.join(root, ""))
