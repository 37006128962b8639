"""Reading YAML nodes of one Pipefile, collecting every problem with its file:line:column.

A `NodeReader` holds the file's text and display name and a list of errors. Its helpers
(`mapping`, `string`, `path_value`, `type_name`, ...) return what they could read, or
None / nothing, and record a located `PipefileError` for what they could not: callers
go on with the rest, so one load reports every problem in the file at once.

Invariant: a helper never raises for a problem in the file; it records it in `errors`.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .. import lazyre
from ..errors import PipefileError, SourceLoc, did_you_mean
from .paths import normalize_path, path_hint
from .phrases import SCALAR_HINT

if TYPE_CHECKING:
    from yaml import Node

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# At most 255 characters: a version is kept at .pipe/artifacts/NAME/VERSION, and a longer name
# (past a file name's 255 bytes) was accepted, then failed every run that bound it (exit 70).
# Every name of up to 255 worked, and is kept: a history may hold one.
ARTIFACT_NAME_RE = lazyre.Pattern(r"[A-Za-z_][A-Za-z0-9_.\-]{0,254}")
ARTIFACT_NAME_HINT = (
    "use ASCII letters, digits, '_', '-' and '.', starting with a letter or '_', at most 255 characters"
)
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
# The keys PyYAML's constructor rewrites a mapping for (SafeConstructor.flatten_mapping).
_REWRITTEN_KEYS = (_MERGE, "tag:yaml.org,2002:value")

# PyYAML is imported when a Pipefile is first parsed (`import_yaml`), not with this module:
# a run whose Pipefile is unchanged reads the validated spec from .pipe/cache and never
# parses, and the import is a measurable part of a no-op's start-up.
yaml: Any = None
_Constructor: Any = None


def import_yaml() -> None:
    global yaml, _Constructor
    if yaml is not None:
        return
    import yaml as module

    class Constructor(module.constructor.SafeConstructor):
        """Plain YAML values; dates and times stay the strings they were written as."""

    Constructor.add_constructor("tag:yaml.org,2002:timestamp", Constructor.construct_yaml_str)
    _Constructor = Constructor
    yaml = module  # last: another thread that sees it set finds the rest set too


# The kinds of node, for the modules that read them (PyYAML is imported late: see above).
def is_mapping(node: Node) -> bool:
    return isinstance(node, yaml.MappingNode)


def is_sequence(node: Node) -> bool:
    return isinstance(node, yaml.SequenceNode)


def is_scalar(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode)


def valid_artifact_name(name: str) -> bool:
    """What `name:` accepts for an output or asset (and `pipe asset add --name`)."""
    return bool(ARTIFACT_NAME_RE.fullmatch(name))


def display_path(path: str) -> str:
    """The path as messages show it: relative to the current folder when it is below it."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def kind(node: Node) -> str:
    """What a node is, as a message says it: 'a mapping', 'a list', 'empty' or its text."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "empty"
    return f"'{node.value}'"


class NodeReader:
    """Typed access to the nodes of one file; problems go to `errors`, located."""

    def __init__(self, text: str, path: str):
        import_yaml()
        self.text = text
        self.path = path
        self.display = display_path(path)
        self.errors: list[PipefileError] = []
        self.warnings: list[tuple] = []  # (SourceLoc, message, hint): loads, but likely a mistake
        self._construct = _Constructor()
        self._good_names: set = set()  # names `name_ok` accepted
        # (kind, name) of a param, asset or environment declared with an error already reported:
        # a use of it is not also "not defined" (it is, only wrongly).
        self.broken: set[tuple[str, str]] = set()
        self.relocate = None  # line -> SourceLoc, for text generated from another file

    def loc(self, node: Node, offset: int = 0) -> SourceLoc:
        """Where `node` starts; `offset` characters into a scalar's value when it is on one line
        (or the line `offset` falls on inside a block scalar)."""
        mark = node.start_mark
        line, col = mark.line + 1, mark.column + 1
        if self.relocate is not None:  # text written for another file (a DSL pipeline): point there
            moved = self.relocate(line)
            if moved is not None:
                return moved
        if offset and isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                value = node.value
                line += 1 + value.count("\n", 0, offset)
                col = 0
            elif "\n" not in self.text[mark.index : node.end_mark.index]:
                col += offset + (1 if node.style in ("'", '"') else 0)
        return SourceLoc(self.display, line, col)

    def error(self, node: Optional[Node], message: str, hint: str | None = None, offset: int = 0) -> None:
        loc = self.loc(node, offset) if node is not None else SourceLoc(self.display)
        self.errors.append(PipefileError(message, loc, hint))

    def error_at(self, loc: SourceLoc, message: str, hint: str | None = None) -> None:
        """An error at a place read before (a declaration kept with its location)."""
        self.errors.append(PipefileError(message, loc, hint))

    def written(self, node: Node) -> str:
        """The text of `node` as written in the file."""
        return self.text[node.start_mark.index : node.end_mark.index]

    def text_before_numbers(self, node: Node) -> Optional[str]:
        """The written text of a plain scalar that is a number now but was text when the
        Pipefile was read as YAML 1.1 (`1e3`, `0o17`); None for anything else. Where a value
        ends up as text (an environment variable), it stays what it was."""
        if not is_scalar(node) or node.style or not node.tag.endswith(("int", "float")):
            return None
        text = self.written(node)
        was = yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
        return text if was.endswith(":str") else None

    def warn(self, node: Node, message: str, hint: str | None = None) -> None:
        self.warnings.append((self.loc(node), message, hint))

    def value(self, node: Node) -> Any:
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value  # what the constructor makes of it, without its bookkeeping
        return self._construct.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: Iterable[str] | None = None) -> list[tuple[str, Node, Node]]:
        """[(key, key_node, value_node)] of a mapping; reports bad shape, duplicates, unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith("null"):
                return []
            self.error(node, f"{what} must be a mapping (key: value), not {kind(node)}", _mapping_hint(node, what))
            return []
        # Only a merge key (<<) or a value key (=) makes the constructor rewrite the mapping:
        # without one (nearly every mapping) there is nothing to flatten.
        rewrite = False
        for k, _ in node.value:  # (a loop, not any(): this runs for every mapping of the file)
            if k.tag in _REWRITTEN_KEYS:
                rewrite = True
                break
        if rewrite:
            explicit = sum(1 for k, _ in node.value if k.tag != _MERGE)
            try:
                self._construct.flatten_mapping(node)  # YAML merge keys: <<: *defaults
            except yaml.constructor.ConstructorError as e:
                self.error(
                    node,
                    f"invalid merge key in {what}: {e.problem}",
                    "merge mappings only: <<: *NAME or <<: [*A, *B], each anchor (&NAME) on a mapping",
                )
                return []
            if len(node.value) != explicit:
                # The pairs merged in come first: a key written here, or a later merged one, overrides them.
                # Kept on the node: a node reached through another alias is flattened already.
                node.merged_pairs = len(node.value) - explicit
        merged = getattr(node, "merged_pairs", 0)
        last: dict = {}
        if merged:
            last = {str(k.value): i for i, (k, _) in enumerate(node.value[:merged]) if isinstance(k, yaml.ScalarNode)}
            for k, _ in node.value[merged:]:
                if isinstance(k, yaml.ScalarNode):
                    last[str(k.value)] = merged
        seen: dict[str, Node] = {}
        out = []
        keys = tuple(allowed) if allowed is not None else None
        scalar = yaml.ScalarNode
        for i, (knode, vnode) in enumerate(node.value):
            if not isinstance(knode, scalar):
                self.error(knode, f"keys of {what} must be plain names", "write the key as text, NAME: VALUE")
                continue
            key = str(knode.value)
            if i < merged and last[key] != i:
                continue  # merged in, and overridden
            if key in seen:
                # (text written for a DSL module: its own line numbers mean nothing to the user)
                first = f"line {seen[key].start_mark.line + 1}" if self.relocate is None else self.loc(seen[key])
                self.error(knode, f"'{key}' appears twice in {what} (first at {first})", "remove or rename one of them")
                continue
            seen[key] = knode
            if keys is not None and key not in keys:
                self.error(knode, f"unknown key '{key}' in {what}", did_you_mean(key, keys, "key"))
                continue
            out.append((key, knode, vnode))
        return out

    def fields(self, node: Node, what: str, allowed: Iterable[str]) -> dict[str, Node]:
        """{key: value node} of a mapping with known keys (see `mapping`)."""
        return {k: vn for k, _, vn in self.mapping(node, what, allowed)}

    def name_ok(self, key: str, knode: Node, what: str) -> bool:
        if key in self._good_names:  # (inputs and outputs are named alike on every step)
            return True
        if NAME_RE.fullmatch(key):
            self._good_names.add(key)
            return True
        self.error(
            knode,
            f"'{key}' is not a valid {what} name",
            "use ASCII letters, digits, '_' and '-', starting with a letter or '_'",
        )
        return False

    def string(self, node: Node, what: str) -> Optional[str]:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(v, str):
            self.error(node, f"{what} must be a string, not {kind(node)}", _string_hint(node))
            return None
        return v

    def path_value(self, node: Node, what: str) -> Optional[str]:
        raw = self.string(node, what)
        if raw is None:
            return None
        if "${{" in raw:
            self.error(
                node, f"{what}: expressions are not evaluated in paths", "write the path itself, e.g. data/raw.csv"
            )
            return None
        p, problem = normalize_path(raw)
        if problem:
            self.error(node, f"{what}: {problem}", path_hint(raw))
        return p

    def type_name(self, node: Node, allowed: tuple, what: str) -> Optional[str]:
        t = self.string(node, f"the type of {what}")
        if t is None:
            return None
        if t not in allowed:
            self.error(node, f"unknown type '{t}' for {what}", did_you_mean(t, allowed, "type"))
            return None
        return t

    def flag(self, node: Node, what: str) -> bool:
        v = self.value(node)
        if not isinstance(v, bool):
            self.error(node, f"{what} must be true or false, not {kind(node)}", "write true or false")
            return False
        return v

    def artifact_name(self, node: Node, what: str) -> Optional[str]:
        n = self.string(node, f"the artifact name of {what}")
        if n is not None and not ARTIFACT_NAME_RE.fullmatch(n):
            self.error(
                node,
                f"'{n}' is not a valid artifact name for {what}",
                ARTIFACT_NAME_HINT,
            )
            return None
        return n

    def string_list(self, node: Node, what: str, hint: str) -> tuple:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else None
        if nodes is None:
            self.error(node, f"{what} must be a list of strings", hint)
            return ()
        out = []
        for n in nodes:
            v = self.value(n) if isinstance(n, yaml.ScalarNode) else None
            if not isinstance(v, str) or not v.strip():
                self.error(n, f"each item of {what} must be a non-empty string", hint)
                continue
            out.append(v.strip())
        return tuple(out)

    def scalar_list(self, node: Node, what: str) -> Optional[tuple]:
        """A list of numbers, strings and booleans (a matrix axis, a sweep's choice or range)."""
        if not is_sequence(node):
            self.error(node, f"{what} must be a list of values", "write [value, ...]")
            return None
        values = []
        for n in node.value:
            v = self.value(n) if is_scalar(n) else None
            if v is None or not isinstance(v, (bool, int, float, str)):
                self.error(n, f"each value of {what} must be a number, a string or a boolean", SCALAR_HINT)
                return None
            values.append(v)
        return tuple(values)

    def description(self, fields: dict, default: str = "") -> str:
        """The `description:` among `fields` ({key: value node}) as text."""
        return str(self.value(fields["description"]) or "") if "description" in fields else default


def _string_hint(node: Node) -> str:
    """How to write text where a number, a list, a mapping or nothing was."""
    if not isinstance(node, yaml.ScalarNode):
        return "write it as one line of text (quote it if it starts with [ or { or holds ': ')"
    if node.tag.endswith(":null"):
        return "write the text after the colon, or remove the key"
    return f'quote it to make it text: "{node.value}"'


def _mapping_hint(node: Node, what: str) -> str:
    """How to write a mapping where a list or a value was (every such error had none but a list's)."""
    if what == "the Pipefile":  # (a list there names no entries: `- a` is no step named a)
        return "a Pipefile is key: value lines, steps: among them (`pipe help pipefile`; `pipe init` writes one)"
    named = _named_hint(node, what)
    if named:
        return named
    if what.startswith("step ") and isinstance(node, yaml.ScalarNode):  # (`train: python train.py`)
        return f"write the step's keys on the lines under it, indented: command: {node.value}"
    return "write NAME: VALUE lines under it, indented, or {NAME: VALUE}"


def _named_hint(node: Node, what: str) -> Optional[str]:
    """For a list where named entries are expected (`outputs: [build/x.txt]`, as DVC and
    Snakemake write it): show the same entries with names."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        return None
    first = node.value[0]
    if not isinstance(first, yaml.ScalarNode):
        return "give each entry a name: NAME: VALUE, one per line"
    base = os.path.basename(first.value.rstrip("/")).split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or "name"
    if not NAME_RE.fullmatch(name):
        name = "x" + name
    hint = f"give each entry a name: {{{name}: {first.value}}}"
    section = what.split(" ", 1)[0]
    if section in ("inputs", "outputs"):
        hint += f"; the command then writes ${{{{{section}.{name}}}}}"
    return hint
