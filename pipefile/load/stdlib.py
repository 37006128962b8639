"""The std component library: `component: std/NAME@MAJOR` in a step.

The library is the `stdlib_components` package (found with importlib, never imported: its
scripts need pandas and more, pipe does not), or the folder PIPE_STDLIB_DIR names (a test
hook: a copy whose scripts a test may change). Each component is a folder holding
`component.yaml` (a component's keys as in a Pipefile's `components:`, plus `name` and
`version: MAJOR.MINOR.PATCH`) and its script; `_lib/` is the code they share.

A spec is parsed by the same code as a Pipefile's components, so types, defaults and
optional inputs mean the same. A spec that does not parse is a bug of pipe's, not the
user's: `LibraryError` (exit 70). The library is scanned only when a step names a std
component (or `pipe components` asks), once per process.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from .. import lazyre
from ..digest import IGNORED_NAMES, IGNORED_SUFFIXES, hash_file, hash_json
from ..errors import PipefileError, SourceLoc, did_you_mean
from ..filehash import racy_stat
from ..lazyclass import dataclass
from ..outcomes import ExitCode
from ..spec import Component, LibraryRef
from . import reader, yamlsafe
from .fields import LIBRARY_COMPONENT_KEYS
from .reader import NAME_RE, NodeReader, is_mapping
from .sections import load_component

if TYPE_CHECKING:
    from yaml import Node

PREFIX = "std/"
DIR_VAR = "PIPE_STDLIB_DIR"  # test hook: use this folder as the library
PACKAGE = "stdlib_components"
SPEC_FILE = "component.yaml"
SHARED = "_lib"  # the code every component's script may use: part of every std step's key
_VERSION_RE = lazyre.Pattern(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_REF_RE = lazyre.Pattern(r"std/([^@]*)(?:@(.*))?", re.S)
# Keys a library spec may not use: its code is its folder, its environment the built-in std one.
_NOT_IN_LIBRARY = ("code", "environment")


class LibraryError(PipefileError):
    """A malformed spec in the std library: a bug of pipe's (exit 70), not of the Pipefile."""

    exit_code = ExitCode.INTERNAL_ERROR


@dataclass(frozen=True)
class LibraryComponent:
    """One std component as the library defines it."""

    name: str
    version: str
    folder: str  # absolute
    component: Component  # as parsed, named std/NAME@MAJOR

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def ref(self) -> str:
        return f"{PREFIX}{self.name}@{self.major}"


def library_dir() -> str:
    """The folder of the library: $PIPE_STDLIB_DIR, or where the package is installed."""
    override = os.environ.get(DIR_VAR)
    if override:
        if not os.path.isdir(override):
            raise PipefileError(
                f"{DIR_VAR}={override}: no such folder",
                hint=f"point {DIR_VAR} at a copy of the {PACKAGE} folder, or unset it to use the installed library",
            )
        return os.path.abspath(override)
    import importlib.util  # (a top-level package's spec is found without importing it)

    found = importlib.util.find_spec(PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise LibraryError(
            f"the std component library ({PACKAGE}) is not installed with pipe",
            hint="reinstall pipe (pip install pipefile[std]); the library ships in its wheel",
        )
    return os.path.abspath(list(found.submodule_search_locations)[0])


def is_std_ref(name: str) -> bool:
    return name.startswith(PREFIX)


class Library:
    """The components of one library folder, scanned on first use."""

    def __init__(self, root: str):
        self.root = root
        # Taken before any file is read: a spec that used the library is kept with it (speccache.py)
        self.signature = signature_of(root)
        self._found: Optional[dict] = None  # name -> {major: LibraryComponent}
        self._digests: dict = {}

    def components(self) -> dict:
        """name -> {major: LibraryComponent}, every spec of the library parsed (LibraryError if one is bad)."""
        if self._found is None:
            found: dict = {}
            for entry in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else ():
                path = os.path.join(self.root, entry, SPEC_FILE)
                if entry.startswith((".", "_")) or not os.path.isfile(path):
                    continue
                comp = parse_spec(path)
                other = found.setdefault(comp.name, {}).get(comp.major)
                if other is not None:
                    raise LibraryError(
                        f"std/{comp.name}@{comp.major} is defined twice: in {other.folder} and in {comp.folder}",
                        SourceLoc(path),
                        "give one of them another major version or name",
                    )
                found[comp.name][comp.major] = comp
            self._found = found
        return self._found

    def resolve(self, text: str) -> LibraryComponent:
        """The component `std/NAME[@MAJOR]` names (no major: the newest); a PipefileError
        (without a location: the caller's) when there is none."""
        m = _REF_RE.fullmatch(text)
        name, major = (m.group(1), m.group(2)) if m else ("", None)
        if not name or not NAME_RE.fullmatch(name) or (major is not None and not (major.isascii() and major.isdigit())):
            raise PipefileError(
                f"'{text}' is not a std component reference",
                hint="write std/NAME or std/NAME@MAJOR, e.g. std/split_data@1",
            )
        known = self.components()
        versions = known.get(name)
        if versions is None:
            raise PipefileError(
                f"there is no std component '{name}'",
                hint=(did_you_mean(name, known, "std component") or "the std library is empty")
                + " (pipe components list shows them all)",
            )
        if major is None:
            return versions[max(versions)]
        got = versions.get(int(major))
        if got is None:
            have = ", ".join(f"@{v}" for v in sorted(versions))
            raise PipefileError(
                f"std component '{name}' has no major version {int(major)}",
                hint=f"versions there are: {have}; write std/{name}@{max(versions)} (or std/{name} for the newest)",
            )
        return got

    def ref(self, comp: LibraryComponent) -> LibraryRef:
        """What a step's key holds of `comp`: its version and the digest of its code."""
        digest = self._digests.get(comp.folder)
        if digest is None:
            files = _files(comp.folder, os.path.basename(comp.folder)) + _files(os.path.join(self.root, SHARED), SHARED)
            digest = self._digests[comp.folder] = hash_json([[rel, hash_file(p)] for rel, p in files])
        return LibraryRef(comp.name, comp.version, digest, comp.folder, self.root)


def step_component(r: NodeReader, what: str, cname: str, node: Node) -> Optional[Component]:
    """The std component a step names (`cname`: std/...), with its code's digest; None when
    there is none (reported at `node`). A malformed library spec raises LibraryError."""
    try:
        lib = library()
        found = lib.resolve(cname)
        ref = lib.ref(found)
    except LibraryError:
        raise
    except PipefileError as e:
        r.error(node, f"{what} uses {cname}: {e.message}", e.hint)
        return None
    return replace(found.component, library=ref)


def unprefixed_hint(cname: str) -> Optional[str]:
    """'did you mean std/NAME@MAJOR?' when a std component has the name a step gave without
    std/ (only on that error's path is the library scanned)."""
    try:
        found = library().components().get(cname)
    except PipefileError:
        return None
    return f"did you mean 'std/{cname}@{max(found)}'? (std components are named std/NAME@MAJOR)" if found else None


def _files(folder: str, prefix: str) -> list:
    """[(name inside the library, absolute path)] of the files under `folder`, sorted; caches left out."""
    out = []
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_NAMES)
        rel = os.path.relpath(dirpath, folder)
        for f in sorted(files):
            if f in IGNORED_NAMES or f.endswith(IGNORED_SUFFIXES):
                continue
            name = f if rel == "." else os.path.join(rel, f)
            out.append((os.path.join(prefix, name).replace(os.sep, "/"), os.path.join(dirpath, f)))
    return out


_libraries: dict = {}


def library() -> Library:
    """The library this process uses (scanned once per folder)."""
    root = library_dir()
    lib = _libraries.get(root)
    if lib is None:
        lib = _libraries[root] = Library(root)
    return lib


def signature() -> list:
    """Where the library is and the stat of each file in it: what a cached spec that uses
    std components depends on (a changed script changes it, without reading anything)."""
    try:
        root = library_dir()
    except LibraryError:
        return ["none"]
    return signature_of(root)


def signature_of(root: str) -> list:
    """`signature` of the library at `root`. The ctime counts too (cp -p, tar, rsync -t set an
    mtime back); a file changed within the racy window may be rewritten unseen by its stat,
    so then the signature holds the time it was taken and matches no later one."""
    now = time.time_ns()
    out: list = [root]
    for rel, path in _files(root, ""):
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append([rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
        if racy_stat(now, st):
            out.append(["racy", now])
    return out


def parse_spec(path: str) -> LibraryComponent:
    """A library spec file, parsed as a Pipefile component is; LibraryError when it is malformed."""
    try:
        text = yamlsafe.decode(yamlsafe.read_file(path), path)
    except OSError as e:
        raise LibraryError(f"cannot read {path}: {e.strerror or e}", SourceLoc(path)) from None
    r = NodeReader(text, path)
    try:
        root = yamlsafe.compose(text, r.display, forbid_nul=True, numbers=True)  # as a Pipefile reads it
    except Exception as e:  # noqa: BLE001 - any YAML problem in our own file is a bug of ours
        raise LibraryError(f"invalid YAML in a std component spec: {e}", SourceLoc(r.display)) from None
    if root is None or not is_mapping(root):
        raise LibraryError("a std component spec must be a mapping", SourceLoc(r.display))
    fields = {k: (kn, vn) for k, kn, vn in r.mapping(root, "the std component", LIBRARY_COMPONENT_KEYS)}
    name = _required(r, root, fields, "name")
    version = _required(r, root, fields, "version")
    if name is not None and not NAME_RE.fullmatch(name):
        r.error(fields["name"][1], f"'{name}' is not a valid component name")
    if version is not None and not _VERSION_RE.fullmatch(version):
        r.error(fields["version"][1], f"version '{version}' is not MAJOR.MINOR.PATCH", 'e.g. version: "1.0.0"')
    for key in _NOT_IN_LIBRARY:
        if key in fields:
            r.error(fields[key][0], f"a std component cannot set '{key}'")
    comp = None
    if not r.errors and name and version:
        major = version.split(".")[0]
        body = _without(root, ("name", "version"))
        comp = load_component(r, f"{PREFIX}{name}@{major}", fields["name"][0], body, {}, {})
    if r.errors or comp is None or name is None or version is None:
        first = r.errors[0] if r.errors else PipefileError("no component could be read", SourceLoc(r.display))
        more = f" (and {len(r.errors) - 1} more)" if len(r.errors) > 1 else ""
        raise LibraryError(
            f"the std component spec is malformed: {first.message}{more}",
            first.loc,
            "this is a bug in pipe's std library: please report it",
        )
    comp = replace(comp, description=" ".join(comp.description.split()))
    return LibraryComponent(name, version, os.path.dirname(os.path.abspath(path)), comp)


def _required(r: NodeReader, root: Node, fields: dict, key: str) -> Optional[str]:
    if key not in fields:
        r.error(root, f"the std component spec has no {key}")
        return None
    v = r.value(fields[key][1])
    if not isinstance(v, str):
        r.error(fields[key][1], f"{key} must be a string, not {v!r}")
        return None
    return v


def _without(node: Node, keys: tuple) -> Node:
    """A copy of a mapping node without some of its keys (the component parser knows the rest)."""
    yaml = reader.yaml
    pairs = [(k, v) for k, v in node.value if getattr(k, "value", None) not in keys]
    return yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark, node.flow_style)
