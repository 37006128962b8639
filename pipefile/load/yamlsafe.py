"""Reading YAML that someone else wrote (a Pipefile from a pull request, a committed remotes
file, a step's metrics file) without letting its shape take the process down.

Every YAML read in pipe goes through here. The node tree is built from the parser's events
by a loop (not recursion) that keeps count as it goes, and refuses, at the place in the file
where a bound is crossed:

- aliases that expand to more than MAX_ALIAS_NODES nodes ("billion laughs": a few hundred
  bytes whose aliases of aliases stand for billions of values, which turn into gigabytes as
  soon as anything prints or walks them), or more than MAX_ALIASES alias uses;
- an alias inside the node it names (a cycle: printing it never ends);
- nesting deeper than MAX_DEPTH (libyaml's own composer recurses in C and crashes the
  process, and every walk of the values in Python would hit the recursion limit);
- optionally, a NUL character in a string (no command, path or environment value can hold
  one).

Files are read only when they are regular files, and at most MAX_FILE_BYTES of them
(`/dev/zero`, a FIFO or a symlink to either would otherwise hang or fill memory).
"""

from __future__ import annotations

import os
import stat
from typing import Any, Optional

from ..errors import PipefileError, SourceLoc
from . import numbers as num

MAX_DEPTH = 100  # a Pipefile needs about 6; leaves room below Python's recursion limit
MAX_ALIASES = 100_000  # alias uses in one file
MAX_ALIAS_NODES = 200_000  # nodes that alias uses stand for, all together (expanded)
MAX_FILE_BYTES = 64 << 20
# Tags a file may write (!!str 5): plain data. Others (!!python/..., !!binary, !!set, !local) would
# reach code that expects plain values, or fail in the constructor.
_CORE = "tag:yaml.org,2002:"
_INT = _CORE + "int"
_FLOAT = _CORE + "float"
_STR = _CORE + "str"
TAGS = frozenset(_CORE + t for t in ("null", "bool", "int", "float", "str", "seq", "map", "merge", "timestamp"))

_yaml: Any = None
_parser_class: Any = None


def _import() -> None:
    # PyYAML is imported on first use: a run whose Pipefile is cached never parses.
    global _yaml, _parser_class
    if _yaml is not None:
        return
    import yaml

    # libyaml parses several times faster and keeps positions; its events are all we need
    _parser_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _yaml = yaml


def yaml_error() -> type:
    """PyYAML's error class (PyYAML imported now, for a caller about to parse)."""
    _import()
    return _yaml.YAMLError


def read_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed). Raises OSError as open()
    does, and PipefileError for anything that is not a regular file or is over `limit`."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PipefileError(
                f"{path}: is {file_kind(st.st_mode)}, not a regular file",
                hint="give the path of a file (a YAML text file)",
            )
        chunks, size = [], 0
        while True:  # read to the end, not st_size: the file may grow, /proc files say 0
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PipefileError(
                    f"{path}: is larger than {limit >> 20} MiB, more than pipe reads",
                    hint="a Pipefile or config file this big is surely not one; check the path",
                )
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What stands at a path of this st_mode, in words: "a FIFO (named pipe)", "a device"..."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def decode(data: bytes, display: str) -> str:
    """UTF-8 text, newlines translated as open(..., encoding="utf-8") does; a located error
    naming the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise PipefileError(
            f"the file is not UTF-8 text: byte 0x{data[e.start]:02x} cannot start or continue a character",
            SourceLoc(display, line, col),
            "save the file as UTF-8 (editors offer it under 'encoding')",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def compose(text: str, display: str, forbid_nul: bool = False, numbers: bool = False):
    """The node tree of the single YAML document in `text` (None when there is none), as
    yaml.compose makes it. Raises yaml.YAMLError for bad syntax (as yaml.compose does) and
    PipefileError, located in `display`, when a bound is crossed.

    numbers=True (a Pipefile): plain scalars are numbers as `load.numbers` says (YAML 1.2:
    `1e-3` is a float, `010` is 10, `1:30` is text), not as YAML 1.1 resolves them."""
    _import()
    parser = _parser_class(text)
    try:
        return _Composer(parser, display, forbid_nul, numbers).document()
    except _yaml.reader.ReaderError as e:
        # It has an offset only (in bytes or characters, by parser): the character is the first of its kind.
        at = text.find(chr(e.character)) if isinstance(e.character, int) else -1
        loc = (
            SourceLoc(display, text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at))
            if at >= 0
            else SourceLoc(display)
        )
        raise PipefileError(
            f"invalid YAML: character U+{e.character:04X} is not allowed ({e.reason})",
            loc,
            'remove it, or write it as an escape in a double-quoted string ("\\x01")',
        ) from None
    finally:
        parser.dispose()


def events(text: str):
    """The parser's events of `text`, for a reader that needs exact positions (the Pipefile
    editor). Events expand no aliases, so only nesting is bounded here; the caller has read
    the same text with `load` first. Raises yaml.YAMLError for bad syntax."""
    _import()
    parser = _parser_class(text)
    depth = 0
    try:
        while parser.check_event():
            e = parser.get_event()
            if isinstance(e, (_yaml.MappingStartEvent, _yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise PipefileError(f"the YAML is nested deeper than {MAX_DEPTH} levels")
            elif isinstance(e, (_yaml.MappingEndEvent, _yaml.SequenceEndEvent)):
                depth -= 1
            yield e
    finally:
        parser.dispose()


def load(text: str, display: str, forbid_nul: bool = False, numbers: bool = False) -> Any:
    """yaml.safe_load, bounded as `compose` is."""
    node = compose(text, display, forbid_nul, numbers)
    if node is None:
        return None
    return _yaml.constructor.SafeConstructor().construct_document(node)


def load_tree(text: str, display: str, numbers: bool = False) -> tuple:
    """(what `load` makes of `text`, its node tree as the Pipefile loader composes it, or None
    where that tree cannot stand for the text): one reading for a caller that checks the value
    and then has the text loaded (the designer's check of an edit). No tree where the text
    holds a NUL character (the loader refuses it, located: let it compose and say so) or the
    constructor rewrote the tree (a merge key `<<` or a `=` key: PyYAML's constructor edits
    those mappings in place)."""
    try:
        node = compose(text, display, forbid_nul=True, numbers=numbers)
        shared = True
    except PipefileError:  # a NUL (or a bound, which the plain compose raises again)
        node, shared = compose(text, display, numbers=numbers), False
    if node is None:
        return None, None
    constructor = _keeping_constructor()
    value = constructor.construct_document(node)
    return value, node if shared and not constructor.rewrote else None


_KEEPING: Any = None  # the class below, made once PyYAML is imported


def _keeping_constructor() -> Any:
    """PyYAML's safe constructor, noting whether it rewrote a mapping of the tree."""
    global _KEEPING
    if _KEEPING is None:
        base = _yaml.constructor.SafeConstructor
        rewritten = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")

        class Keeping(base):  # type: ignore[misc,valid-type]
            rewrote = False

            def flatten_mapping(self, node):
                if not self.rewrote and any(k.tag in rewritten for k, _ in node.value):
                    self.rewrote = True
                base.flatten_mapping(self, node)

        _KEEPING = Keeping
    return _KEEPING()


class Key(str):
    """A mapping key as `load_written_keys` reads it: the text the file wrote, and its line."""

    line = 0


def load_written_keys(text: str, display: str) -> Any:
    """`load`, with every mapping key the text the file wrote: `1.5`, `null`, `yes`, `0x10`,
    `2024-01-02` as such (`load` makes them 1.5, None, True, 16, a date, which name no metric
    as the user wrote it, and `~` and `null`, or `1` and `"1"`, the same key: the later
    silently kept). Each key is a `Key` holding its line. A key that is a list or a mapping,
    or a mapping that writes one key twice, is a PipefileError located at it."""
    node = compose(text, display)
    if node is None:
        return None
    return _written_keys_constructor(display).construct_document(node)


_WRITTEN: Any = None  # the constructor class of load_written_keys, made once PyYAML is imported


def _written_keys_constructor(display: str) -> Any:
    global _WRITTEN
    if _WRITTEN is None:
        base = _yaml.constructor.SafeConstructor
        merge = _CORE + "merge"

        class Written(base):  # type: ignore[misc,valid-type]
            def construct_mapping(self, node, deep=False):
                if not isinstance(node, _yaml.MappingNode):
                    return base.construct_mapping(self, node, deep)  # (PyYAML's own error)
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == merge:  # (`<<: *base`: its keys give way to the mapping's own)
                        continue
                    mark = key_node.start_mark
                    if not isinstance(key_node, _yaml.ScalarNode):
                        raise PipefileError(
                            "a key that is a list or a mapping names nothing",
                            SourceLoc(self.display, mark.line + 1, mark.column + 1),
                            "write the key as text",
                        )
                    first = seen.get(key_node.value)
                    seen.setdefault(key_node.value, mark)
                    if first is not None:  # (an alias of an earlier key too: the same key again)
                        raise PipefileError(
                            f"the key '{key_node.value}' is written twice in one mapping (also at line "
                            f"{first.line + 1}): the one would silently replace the other",
                            SourceLoc(self.display, mark.line + 1, mark.column + 1),
                            "rename or remove one of them",
                        )
                self.flatten_mapping(node)
                mapping = {}
                for key_node, value_node in node.value:
                    key = Key(key_node.value)
                    key.line = key_node.start_mark.line + 1
                    mapping[key] = self.construct_object(value_node, deep=deep)
                return mapping

        _WRITTEN = Written
    constructor = _WRITTEN()
    constructor.display = display
    return constructor


def _number_tag(tag: str, value: str) -> tuple:
    """The tag (and the text for PyYAML's constructor) of a plain scalar, numbers read as
    `load.numbers` reads them; other scalars keep what the YAML 1.1 resolver said."""
    k = num.kind(value)
    if k == num.INT:
        return _INT, num.yaml_int_text(value)
    if k == num.FLOAT:
        return _FLOAT, value
    if tag in (_INT, _FLOAT):  # a YAML 1.1 number that YAML 1.2 reads as text: 1:30
        return _STR, value
    return tag, value


class _Composer:
    def __init__(self, parser, display: str, forbid_nul: bool, numbers: bool = False):
        self.p = parser
        self.display = display
        self.forbid_nul = forbid_nul
        self.numbers = numbers

    def fail(self, mark, message: str, hint: str) -> None:
        raise PipefileError(message, SourceLoc(self.display, mark.line + 1, mark.column + 1), hint)

    def document(self):
        y = _yaml
        ev, nodes = y.events, y.nodes
        Alias, Scalar, SeqStart, MapStart = ev.AliasEvent, ev.ScalarEvent, ev.SequenceStartEvent, ev.MappingStartEvent
        ScalarNode, SequenceNode, MappingNode = nodes.ScalarNode, nodes.SequenceNode, nodes.MappingNode
        p = self.p
        get_event, resolve = p.get_event, p.resolve
        get_event()  # stream start
        if p.check_event(ev.StreamEndEvent):
            get_event()
            return None
        doc_start = get_event()
        anchors: dict = {}  # name -> [node, expanded size (None while the node is still open)]
        # one frame per open collection: [node, anchor, count when it opened, pending mapping key or None,
        # whether it is a sequence]
        stack: list = []
        frame: Optional[list] = None  # the innermost open collection: stack[-1]
        count = 0  # nodes so far, aliases expanded
        aliases = expanded = 0
        root = None
        plain: dict = {}  # a plain scalar's text -> (its tag, its text as the constructor reads it)
        # (A path resolver, which PyYAML lets a program add to every loader, would make the tag
        # depend on where the scalar is: then nothing is remembered.)
        memo = not p.yaml_path_resolvers
        quoted = None  # the tag of a quoted scalar (the same for all)
        collection_tags: dict = {}  # SequenceNode / MappingNode -> its tag
        forbid_nul = self.forbid_nul
        while True:
            e = get_event()
            kind = type(e)
            if kind is Scalar:
                if forbid_nul and "\0" in e.value:
                    self.fail(
                        e.start_mark,
                        "a NUL character (\\0) in a string: no command, path or environment variable can hold one",
                        "remove the \\0 (or \\x00, \\u0000) escape",
                    )
                tag, value = e.tag, e.value
                if tag is None or tag == "!":
                    implicit = e.implicit
                    if implicit[0] and not e.style:  # plain (libyaml says "", PyYAML None)
                        # The same keys (command:, inputs:, i0:) come back on every step: each
                        # text is resolved once (by its text alone: no path resolvers, checked above).
                        hit = plain.get(value)
                        if hit is None:
                            hit = resolve(ScalarNode, value, implicit), value
                            if self.numbers:
                                hit = _number_tag(*hit)
                            if memo:
                                plain[value] = hit
                        tag, value = hit
                    elif implicit[0] or not memo:
                        tag = resolve(ScalarNode, value, implicit)
                    else:  # quoted: the resolver does not look at the text
                        if quoted is None:
                            quoted = resolve(ScalarNode, value, implicit)
                        tag = quoted
                elif tag not in TAGS:
                    self.bad_tag(e)
                if tag == _INT and len(e.value) > num.MAX_INT_CHARS:  # (numbers.py says why)
                    self.fail(
                        e.start_mark,
                        f"the number {e.value[:20]}... has {len(e.value)} characters, more than pipe reads",
                        "quote it if it is text, or write a smaller number",
                    )
                node = ScalarNode(tag, value, e.start_mark, e.end_mark, e.style)
                count += 1
                if e.anchor is not None:
                    self.anchor(anchors, e, node, 1)
                # attached here, as below (most events are scalars: the rest need not be asked)
                if frame is None:
                    root = node
                    break  # the document is one scalar
                if frame[4]:
                    frame[0].value.append(node)
                elif frame[3] is None:
                    frame[3] = node  # a mapping's key: its value comes next
                else:
                    frame[0].value.append((frame[3], node))
                    frame[3] = None
                continue
            elif kind is Alias:
                entry = anchors.get(e.anchor)
                if entry is None:
                    raise y.composer.ComposerError(None, None, f"found undefined alias {e.anchor!r}", e.start_mark)
                node, size = entry
                if size is None:
                    self.fail(
                        e.start_mark,
                        f"alias *{e.anchor} is used inside the node it names (&{e.anchor}): "
                        f"the value would contain itself without end",
                        "use the alias after the anchored value ends, or copy the value",
                    )
                aliases += 1
                expanded += size
                count += size
                if aliases > MAX_ALIASES:
                    self.fail(
                        e.start_mark,
                        f"more than {MAX_ALIASES} alias uses (*NAME) in one file",
                        "write the values out, or use fewer aliases",
                    )
                if expanded > MAX_ALIAS_NODES:
                    self.fail(
                        e.start_mark,
                        f"alias *{e.anchor} stands for {size} values, and with the aliases "
                        f"before it the file expands to more than {MAX_ALIAS_NODES} values",
                        "aliases of aliases multiply (a 'billion laughs' file): write the values out, or "
                        "alias fewer and smaller nodes",
                    )
            elif kind is SeqStart or kind is MapStart:
                if len(stack) >= MAX_DEPTH:
                    self.fail(
                        e.start_mark,
                        f"lists and mappings are nested more than {MAX_DEPTH} deep here",
                        "flatten the structure; no field of a Pipefile needs such depth",
                    )
                cls = SequenceNode if kind is SeqStart else MappingNode
                tag = e.tag
                if tag is None or tag == "!":
                    # (by the kind of node alone where there are no path resolvers)
                    tag = collection_tags.get(cls) if memo else None
                    if tag is None:
                        tag = resolve(cls, None, e.implicit)
                        if memo:
                            collection_tags[cls] = tag
                elif tag not in TAGS:
                    self.bad_tag(e)
                node = cls(tag, [], e.start_mark, None, e.flow_style)
                if e.anchor is not None:
                    self.anchor(anchors, e, node, None)
            else:  # the end of a sequence or mapping: the parser checks the grammar
                node, anchor, start = stack[-1][0], stack[-1][1], stack[-1][2]
                node.end_mark = e.end_mark
                if anchor is not None:
                    anchors[anchor][1] = count - start
                stack.pop()
                if not stack:
                    break
                frame = stack[-1]
                continue
            # a new node: attach it to the open collection
            if frame is None:
                root = node
            elif frame[4]:
                frame[0].value.append(node)
            elif frame[3] is None:
                frame[3] = node  # a mapping's key: its value comes next
            else:
                frame[0].value.append((frame[3], node))
                frame[3] = None
            if kind is SeqStart or kind is MapStart:
                frame = [node, e.anchor, count, None, kind is SeqStart]
                stack.append(frame)
                count += 1
            elif frame is None:
                break  # the document is one scalar
        get_event()  # document end
        if not p.check_event(ev.StreamEndEvent):
            e = get_event()
            raise y.composer.ComposerError(
                "expected a single document in the stream",
                doc_start.start_mark,
                "but found another document",
                e.start_mark,
            )
        get_event()
        return root

    def bad_tag(self, e) -> None:
        shown = "!!" + e.tag[len(_CORE) :] if e.tag.startswith(_CORE) else e.tag
        self.fail(
            e.start_mark,
            f"the tag {shown} is not one pipe reads: only plain values, lists and mappings",
            "remove the tag (write the value itself)",
        )

    def anchor(self, anchors: dict, e, node, size) -> None:
        if e.anchor in anchors:
            first = anchors[e.anchor][0].start_mark
            raise _yaml.composer.ComposerError(
                None, None, f"found duplicate anchor {e.anchor!r} (first at line {first.line + 1})", e.start_mark
            )
        anchors[e.anchor] = [node, size]
