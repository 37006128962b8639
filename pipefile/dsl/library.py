"""`load_component`: a component made elsewhere, used from the DSL. A std component
(`std/split_data@1`) is named by its reference; a Pipefile's (`./Pipefile:NAME`) or a
component YAML file's (the keys of a Pipefile component, plus `name:` and `version:`) is
copied into the pipeline's `components:`, its paths rebased onto the pipeline's workspace.
A relative path is read from the folder of the file that calls `load_component`."""

from __future__ import annotations

import os
import re
from typing import Optional

from .. import lazyre, spec
from ..errors import PipefileError
from .components import Component, OutputPort
from .ports import InputPort
from .where import DslError, Place, caller, inside


class LoadedComponent(Component):
    def __init__(self, name: str, comp: spec.Component, place: Place, ref: str = "", src=None, envs=None):
        self.name = name
        self.component = comp
        self.place = place
        self._ref = ref  # a std reference; "" for a copied component
        self.src = src  # (folder its paths are relative to, what it came from) of a copied component
        self._envs = envs or {}
        self.inputs = {
            n: InputPort(n, d.type or spec.STRING, d.default, d.optional, d.description, d.enum)
            for n, d in comp.inputs.items()
        }
        self.outputs = {n: OutputPort(n, o.type, None, o.description) for n, o in comp.outputs.items()}

    @property
    def ref(self) -> str:
        return self._ref or self.name

    def _rebase(self, path: str, root: str, what: str) -> str:
        folder, source = self.src
        return inside(
            os.path.join(folder, path),
            root,
            f"component '{self.name}' (from {source}): {what} '{path}' lies outside the workspace {root}",
            self.place,
            "keep its files inside the pipeline's folder",
        )

    def body(self, root: str) -> Optional[dict]:
        if self._ref:
            return None
        c = self.component
        out: dict = {}
        if c.description:
            out["description"] = c.description
        if self.inputs:
            out["inputs"] = {}
            for n, d in c.inputs.items():
                port = self.inputs[n]
                if d.type in spec.PATH_TYPES and isinstance(d.default, str):
                    port = InputPort(
                        n, d.type, self._rebase(d.default, root, f"default of input '{n}'"), d.optional, d.description
                    )
                out["inputs"][n] = port.declaration()
        if self.outputs:
            out["outputs"] = {n: p.declaration() for n, p in self.outputs.items()}
        if c.code:
            out["code"] = [self._rebase(r.path, root, "code") for r in c.code]
        res = c.resources
        resources = {
            k: v
            for k, v in (("cpus", res.cpus), ("memory", res.memory), ("gpus", res.gpus))
            if v and (k != "cpus" or v != 1.0)
        }
        if resources:
            out["resources"] = resources
        if c.environment:
            out["environment"] = c.environment
        if c.key_includes:
            out["key_includes"] = list(c.key_includes)
        if c.metrics:
            out["metrics"] = list(c.metrics)
        out["command"] = self._command(root)
        return out

    def _command(self, root: str):
        """The command with each word that names a file of the component's folder (`python
        score.py`) rebased as its `code:` is: the command runs in the pipeline's workspace,
        where `score.py` is another file, or none."""
        c = self.component
        folder = self.src[0]
        if os.path.realpath(folder) == os.path.realpath(root):
            return c.command if isinstance(c.command, str) else list(c.command)
        code = [r.path for r in c.code]

        def placed(word: str) -> Optional[str]:
            if not word or word.startswith(("-", "/", "~")) or "${{" in word or "=" in word:
                return None
            path = os.path.normpath(word)
            under_code = any(path == p or path.startswith(p.rstrip("/") + "/") for p in code)
            if path.startswith("..") or not (under_code or os.path.isfile(os.path.join(folder, path))):
                return None
            return self._rebase(path, root, "file its command names")

        if not isinstance(c.command, str):
            words = list(c.command)
            return [w if i and words[i - 1] == "-m" else placed(w) or w for i, w in enumerate(words)]
        import shlex

        tokens = [m.group(0) for m in _TOKEN.finditer(c.command)]
        before = ""
        for i, t in enumerate(tokens):
            if t.isspace():
                continue
            before, after_m = t, before == "-m"  # (a module, imported from where it runs: no file)
            joined = any(0 <= j < len(tokens) and not _BREAK.fullmatch(tokens[j]) for j in (i - 1, i + 1))
            quoted = len(t) > 1 and t[0] == t[-1] and t[0] in "'\"" and not re.search(r"[$`\\]", t[1:-1])
            if joined or after_m or not (quoted or _PLAIN.fullmatch(t)):
                continue  # (part of a word with quotes or an expression, or no word)
            new = placed(t[1:-1] if quoted else t)
            if new is not None:
                tokens[i] = shlex.quote(new)
        return "".join(tokens)

    def environments(self, root: str) -> dict:
        return {n: _environment_body(e, lambda p, w: self._rebase(p, root, w)) for n, e in self._envs.items()}


# A shell command's pieces: quoted text, an expression, a plain word (no quote, `$`, backslash
# or operator in it), blanks, or one other character; a plain word between breaks is a word.
_TOKEN = lazyre.Pattern(r"""'[^']*'?|"(?:\\.|[^"\\])*"?|\$\{\{.*?\}\}|[^\s'"`$\\;&|<>()]+|\s+|.""", re.S)
_PLAIN = lazyre.Pattern(r"""[^\s'"`$\\;&|<>()]+""")
_BREAK = lazyre.Pattern(r"\s+|[;&|<>()]")


def _environment_body(e: spec.EnvSpec, rebase) -> dict:
    out: dict = {"type": e.type}
    for key in ("python", "image", "dockerfile", "network", "description"):
        if getattr(e, key):
            out[key] = getattr(e, key)
    for key in ("requirements", "file", "build"):
        if getattr(e, key):
            out[key] = rebase(getattr(e, key), f"{key} of environment '{e.name}'")
    if e.packages:
        out["packages"] = list(e.packages)
    if e.env:
        out["env"] = dict(e.env)
    if e.mounts:
        out["mounts"] = [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in e.mounts]
    return out


def load_component(source: str) -> Component:
    """`std/NAME[@MAJOR]`, `PIPEFILE:NAME` (a component of that Pipefile) or a component YAML file."""
    place = caller()
    if not isinstance(source, (str, os.PathLike)):
        raise DslError(f"load_component takes a path or std/NAME, not {type(source).__name__}", place)
    source = os.fspath(source)
    if source.startswith("std/"):
        return _std(source, place)
    here = os.path.dirname(place[0])
    path, _, name = source.rpartition(":")
    if path and name and not os.path.exists(os.path.join(here, source)):
        return _from_pipefile(os.path.join(here, path), name, source, place)
    return _from_file(os.path.join(here, source), source, place)


def _std(ref: str, place: Place) -> Component:
    from ..load import stdlib

    try:
        found = stdlib.library().resolve(ref)
    except stdlib.LibraryError:
        raise
    except PipefileError as e:
        raise DslError(f"load_component({ref!r}): {e.message}", place, e.hint) from None
    return LoadedComponent(found.name, found.component, place, ref=ref)


def _from_pipefile(path: str, name: str, source: str, place: Place) -> Component:
    from ..load import load_lenient

    if not os.path.isfile(path):
        raise DslError(
            f"load_component({source!r}): no such file {path}", place, "give PIPEFILE:NAME, e.g. ./Pipefile:train"
        )
    pf, errors = load_lenient(os.path.abspath(path))
    comp = pf.components.get(name)
    if comp is None:
        from ..errors import did_you_mean

        mine = [e for e in errors if f"component '{name}'" in e.message]
        if mine:
            raise mine[0]
        raise DslError(
            f"load_component({source!r}): {path} has no component '{name}'",
            place,
            did_you_mean(name, pf.components, "component") or "declare it under components:",
        )
    envs = {comp.environment: pf.environments[comp.environment]} if comp.environment in pf.environments else {}
    return LoadedComponent(name, comp, place, src=(pf.root, source), envs=envs)


def _from_file(path: str, source: str, place: Place) -> Component:
    from ..errors import raise_all
    from ..load import reader, sections, yamlsafe
    from ..load.fields import LIBRARY_COMPONENT_KEYS

    try:
        text = yamlsafe.decode(yamlsafe.read_file(path), reader.display_path(path))
    except FileNotFoundError:
        raise DslError(
            f"load_component({source!r}): no such file {path}",
            place,
            "give a component YAML file, PIPEFILE:NAME or std/NAME@MAJOR",
        ) from None
    except OSError as e:
        raise DslError(f"load_component({source!r}): cannot read {path}: {e.strerror or e}", place) from None
    except PipefileError as e:  # (a folder, a FIFO, not UTF-8 ...: at the call, not without a place)
        raise DslError(f"load_component({source!r}): {e.message}", place, e.hint) from None
    r = reader.NodeReader(text, path)
    try:
        root = yamlsafe.compose(text, r.display, forbid_nul=True, numbers=True)
    except reader.yaml.YAMLError as e:  # (PyYAML's own error would surface as the module's crash)
        problem = " ".join(filter(None, [getattr(e, "context", None), getattr(e, "problem", None)])) or str(e)
        mark = getattr(e, "problem_mark", None)
        if mark is None or "end of stream" in problem:  # (an unclosed bracket: where it opens)
            mark = getattr(e, "context_mark", None) or mark
        raise DslError(
            f"load_component({source!r}): invalid YAML: {problem}",
            (os.path.abspath(path), mark.line + 1 if mark else 0),
            "fix the component file (it holds the keys of a Pipefile component)",
        ) from None
    if root is None or not reader.is_mapping(root):
        raise DslError(f"load_component({source!r}): {path} is not a component (a mapping)", place)
    fields = {k: (kn, vn) for k, kn, vn in r.mapping(root, "the component", LIBRARY_COMPONENT_KEYS)}
    name = r.value(fields["name"][1]) if "name" in fields else os.path.splitext(os.path.basename(path))[0]
    yaml = reader.yaml
    body = yaml.MappingNode(
        root.tag,
        [(k, v) for k, v in root.value if getattr(k, "value", None) not in ("name", "version")],
        root.start_mark,
        root.end_mark,
    )
    comp = sections.load_component(r, str(name), fields.get("name", (root,))[0], body, {}, {})
    for e in r.errors:  # (the loader's words are a Pipefile's: here the file's folder is the component's)
        if "is outside the workspace (the Pipefile's folder)" in e.message:
            e.message = e.message.replace("the workspace (the Pipefile's folder)", "the component file's folder")
            e.hint = (
                "a component file's paths are read from its folder and lie below it: "
                "put the file beside (or above) what it names"
            )
    raise_all(r.errors)
    if comp is None:  # (never without an error)
        raise DslError(f"load_component({source!r}): no component could be read", place)
    return LoadedComponent(str(name), comp, place, src=(os.path.dirname(os.path.abspath(path)), source))
