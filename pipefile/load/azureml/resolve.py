"""Finding what an Azure ML YAML names: components and environments by path (`./train.yml`,
`file:./train.yml`) or by `azureml:NAME@latest` / `azureml:NAME:VERSION`, data by local path,
by `azureml:NAME:VERSION`, or by URL through the user's map (`--azureml-map FILE`).

A name is looked up in the YAMLs that define it by `name:` (and `version:`): those in the
pipeline's folder tree and in the `--azureml-assets` folders; the map file's entries come first.
"""

from __future__ import annotations

import os
import re
import time
from typing import Optional

from ...errors import PipefileError, SourceLoc, did_you_mean
from ...filehash import racy_stat
from ...noop_trace import scandir_names
from . import yamlfile

URL_SCHEMES = (
    "https://",
    "http://",
    "wasbs://",
    "wasb://",
    "abfss://",
    "abfs://",
    "adl://",
    "azureml://",
    "s3://",
    "gs://",
)
_SKIP_DIRS = {".git", ".pipe", ".azureml-outputs", "node_modules", "__pycache__", ".venv", "venv"}
_MAX_FILES = 2000  # YAMLs read while looking for a name (a folder tree of data is not scanned forever)
_AZ_NAME = re.compile(r"^azureml:(?!//)([^:@/]+)(?:[:@](.+))?$")


def parse_name(ref: str) -> Optional[tuple]:
    """(NAME, VERSION or 'latest') of `azureml:NAME:VERSION` / `azureml:NAME@LABEL`, else None."""
    m = _AZ_NAME.match(ref.strip())
    return (m.group(1), m.group(2) or "latest") if m else None


def file_mark(path: str, now: int) -> Optional[tuple]:
    """What a file's stat says of its content, or None when it is not there; a mark no later
    one equals when it changed within the racy window (a same-tick rewrite keeps its stat)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if racy_stat(now, st):
        return ("racy", now)
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def folder_mark(folder: str) -> tuple:
    """The names in `folder` the name index looks at: its YAMLs and the folders it walks
    into. (Names, not the folder's times: a traced run's no-op record sees a listing.)"""
    try:
        with scandir_names(folder) as it:
            names = [e.name for e in it if _indexed(e)]
    except OSError:
        return ("gone",)
    return ("folder", *sorted(names))


def _indexed(entry) -> bool:
    if entry.name.endswith((".yml", ".yaml")):
        return True
    try:
        return entry.is_dir() and entry.name not in _SKIP_DIRS and not entry.name.startswith(".")
    except OSError:
        return False


def listed_unchanged(listed: tuple) -> bool:
    """Whether the folders and files a name lookup saw (`spec.Pipefile.listed`) are as they were."""
    now = time.time_ns()
    for path, mark in listed:
        if (folder_mark(path) if mark and mark[0] in ("folder", "gone") else file_mark(path, now)) != mark:
            return False
    return True


class Resolver:
    def __init__(self, root: str, options, sources: dict):
        self.root = root
        self.options = options
        self.sources = sources
        self.listed: dict = {}  # path -> stat mark of what the name index was built from
        self._index: Optional[dict] = None  # name -> [(version, kind, Map)]
        self._map: Optional[dict] = None

    # --- the map file -------------------------------------------------------------------
    def mapping(self) -> dict:
        """prefix -> absolute local path, from --azureml-map FILE (longest prefix wins)."""
        if self._map is None:
            self._map = {}
            f = self.options.map_file
            if f:
                data = yamlfile.read(f, self.sources)
                if not isinstance(data, yamlfile.Map):
                    raise PipefileError("the map file must be a mapping: URL prefix -> local path", SourceLoc(f))
                for k, v in data.items():
                    if not isinstance(v, str):
                        raise PipefileError(f"map entry '{k}' must be a local path", data.at(k))
                    self._map[str(k)] = os.path.normpath(os.path.join(os.path.dirname(f), v))
        return self._map

    def mapped(self, ref: str) -> Optional[str]:
        best = None
        for prefix, local in self.mapping().items():
            if ref == prefix or (ref.startswith(prefix) and (prefix.endswith("/") or ref[len(prefix)] == "/")):
                if best is None or len(prefix) > len(best[0]):
                    best = (prefix, local)
        if best is None:
            return None
        rest = ref[len(best[0]) :].lstrip("/")
        return os.path.join(best[1], rest) if rest else best[1]

    # --- names --------------------------------------------------------------------------
    def index(self) -> dict:
        if self._index is None:
            index: dict = {}
            count = 0
            now = time.time_ns()  # (a file's mark is taken before it is read)
            for top in (self.root,) + tuple(self.options.assets):
                self.listed[top] = folder_mark(top)  # (a folder made later is looked in then)
                for folder, dirs, files in os.walk(top):
                    dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                    self.listed[folder] = folder_mark(folder)
                    for f in sorted(files):
                        if not f.endswith((".yml", ".yaml")) or count >= _MAX_FILES:
                            continue
                        count += 1
                        self.listed[os.path.join(folder, f)] = file_mark(os.path.join(folder, f), now)
                        self._note(index, os.path.join(folder, f))
            self._index = index
        return self._index

    def _note(self, index: dict, path: str) -> None:
        try:
            data = yamlfile.read(path, {})
        except PipefileError:
            return  # not ours to judge: a YAML that names nothing we look for
        if not isinstance(data, yamlfile.Map) or not isinstance(data.get("name"), str):
            return
        if "image" in data or "build" in data or "conda_file" in data:
            kind = "environment"
        else:
            kind = str(data.get("type") or "command")  # a component without type: is a command
        index.setdefault(data["name"], []).append((str(data.get("version", "")), kind, path))

    def by_name(self, ref: str, kinds: tuple, what: str, loc, hint: str = "") -> tuple:
        """(absolute path of the YAML defining `azureml:NAME...`, its values)."""
        name, version = parse_name(ref) or ("", "")
        found = [e for e in self.index().get(name, []) if e[1] in kinds]
        versions = sorted({str(e[0]) for e in found}, key=_version_order)
        if version not in ("latest", ""):
            found = [e for e in found if e[0] == version]
        if not found and versions:  # (said as if no YAML had the name: the version is what is missing)
            raise PipefileError(
                f"{what} '{ref}': the local YAMLs define version {', '.join(versions)} of '{name}', not {version}",
                loc,
                f"name one of them (azureml:{name}:{versions[-1]}), or azureml:{name}@latest",
            )
        if not found:
            known = [n for n, es in self.index().items() if any(e[1] in kinds for e in es)]
            near = did_you_mean(name, known, "name") if known else None
            raise PipefileError(
                f"{what} '{ref}' is not defined by any local YAML (looked for `name: {name}` in "
                f"{os.path.relpath(self.root)} and the --azureml-assets folders)",
                loc,
                hint
                or (f"{near} Or " if near else "")
                + "write its YAML next to the pipeline (or pass --azureml-assets DIR), or map it in --azureml-map FILE",
            )
        found.sort(key=lambda e: _version_order(e[0]))
        path = found[-1][2]
        return path, yamlfile.read(path, self.sources)

    # --- data ---------------------------------------------------------------------------
    def data_path(self, ref: str, base_file: str, loc, what: str) -> tuple:
        """(absolute local path, type or None) of a data reference written in `base_file`."""
        if ref.startswith("azureml:") and ref[len("azureml:") :].startswith(URL_SCHEMES):
            ref = ref[len("azureml:") :]  # (how azure-ai-ml writes a URL it was given)
        local = self.mapped(ref)
        if local is not None:
            return local, None
        if ref.startswith(URL_SCHEMES):
            raise PipefileError(
                f"{what} reads '{ref}', which is not on this machine",
                loc,
                "download it and map the URL to the local copy in a map file (--azureml-map FILE: "
                f"'{ref.split('?')[0]}: ./local/path'), or give a local path",
            )
        if ref.startswith(("azureml:./", "azureml:../", "azureml:/")):
            ref = ref[len("azureml:") :]  # (how azure-ai-ml writes a local path it was given)
        elif ref.startswith("azureml:"):
            path, data = self.by_name(ref, ("uri_file", "uri_folder", "mltable"), what + ": data asset", loc)
            inner = data.get("path")
            if not isinstance(inner, str):
                raise PipefileError(f"data asset '{ref}' has no path:", getattr(data, "loc", loc))
            found, _ = self.data_path(inner, path, data.at("path"), f"data asset '{ref}'")
            return found, data.get("type")
        if ref.startswith("file:"):
            ref = ref[len("file:") :]
        return os.path.normpath(os.path.join(os.path.dirname(base_file), ref)), None


def _version_order(v: str) -> tuple:
    parts = re.split(r"[.\-]", v)
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() and len(p) < 100 else (1, 0, p) for p in parts)
