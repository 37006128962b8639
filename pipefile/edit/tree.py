"""The Pipefile's YAML as a tree of nodes that know where they are written.

The editor changes a Pipefile by splicing text, so it needs, for every value, the exact
span of its text (not only its line, as a loaded document keeps). PyYAML's parse events
have those spans, and the loader parses with the same parser (load/yamlsafe.py), so the
spans here are those of the nodes the loader reads. Aliases stay alias nodes here (where
`*name` is written), not the node they name: an edit at an alias must not land at its
anchor.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from ..lazyclass import dataclass

SCALAR, MAP, SEQ, ALIAS = "scalar", "map", "seq", "alias"


@dataclass(eq=False)
class Node:
    kind: str
    start: int  # where the node's text starts (its anchor or tag, where it has one)
    end: int  # the parser's end: a block collection's end lies past trailing comments
    vstart: int  # where the value itself starts (after `&anchor !!tag `)
    style: Optional[str] = None  # a scalar's: "" plain, "'", '"', "|", ">"
    flow: bool = False  # a collection written {..} or [..]
    anchor: Optional[str] = None
    value: Any = None  # a scalar's text, an alias's name
    items: Any = None  # a map's [(key, value)], a seq's [node]
    cend: int = 0  # where the written value ends: no trailing comments or blank lines
    inflow: bool = False  # inside a flow collection (where `{`, `,` ... end a plain value)

    def pairs(self) -> list:
        return self.items if self.kind == MAP else []

    def get(self, key: str) -> tuple:
        """(key node, value node) of the last explicit `key` in a mapping; (None, None)."""
        found: tuple = (None, None)
        for k, v in self.pairs():
            if k.kind == SCALAR and k.value == key:
                found = (k, v)
        return found

    def merges(self) -> bool:
        """Whether a mapping takes keys from elsewhere (`<<: *x`)."""
        return any(k.kind == SCALAR and k.value == "<<" and not k.style for k, _ in self.pairs())

    def walk(self) -> Iterator["Node"]:
        stack = [self]
        while stack:
            n = stack.pop()
            yield n
            if n.kind == MAP:
                for k, v in reversed(n.items):
                    stack += [v, k]
            elif n.kind == SEQ:
                stack += reversed(n.items)


def parse(text: str) -> Optional[Node]:
    """The root node of `text` (one YAML document), None when there is no document. Raises
    yaml.YAMLError on bad syntax: callers check the text loads (yamlsafe) first."""
    import yaml

    from ..load import yamlsafe

    ev = yaml.events
    root: Optional[Node] = None
    stack: list = []  # [node, pending key or None]
    for e in yamlsafe.events(text):
        if isinstance(e, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            node = stack.pop()[0]
            node.end = e.end_mark.index
            last = node.items[-1] if node.items else None
            if node.flow or last is None:
                node.cend = node.end
            else:
                node.cend = (last[1] if node.kind == MAP else last).cend
            continue
        if isinstance(e, ev.ScalarEvent):
            s, t = e.start_mark.index, e.end_mark.index
            node = Node(SCALAR, s, t, _value_start(text, s, e), style=e.style or "", anchor=e.anchor, value=e.value)
            node.cend = _block_end(text, node.vstart, t) if node.style in ("|", ">") else t
        elif isinstance(e, ev.AliasEvent):
            node = Node(ALIAS, e.start_mark.index, e.end_mark.index, e.start_mark.index, value=e.anchor)
            node.cend = node.end
        elif isinstance(e, (ev.MappingStartEvent, ev.SequenceStartEvent)):
            kind = MAP if isinstance(e, ev.MappingStartEvent) else SEQ
            s = e.start_mark.index
            node = Node(kind, s, s, _value_start(text, s, e), flow=bool(e.flow_style), anchor=e.anchor, items=[])
        else:
            continue
        if not stack:
            root = node
        else:
            frame = stack[-1]
            parent = frame[0]
            node.inflow = parent.flow or parent.inflow
            if parent.kind == SEQ:
                parent.items.append(node)
            elif frame[1] is None:
                frame[1] = node
            else:
                parent.items.append((frame[1], node))
                frame[1] = None
        if node.kind in (MAP, SEQ):
            stack.append([node, None])
    return root


def _value_start(text: str, start: int, event: Any) -> int:
    """Past the `&anchor` and explicit `!tag` written before a value."""
    if event.anchor is None and getattr(event, "tag", None) is None:
        return start
    i = start
    while i < len(text) and text[i] in "&!":
        while i < len(text) and text[i] not in " \t\n":
            i += 1
        while i < len(text) and text[i] in " \t\n#":
            if text[i] == "#":  # a comment after `&anchor`: the value starts on a later line
                i = text.find("\n", i)
                i = len(text) if i < 0 else i
            i += 1
    return min(i, len(text))


def _block_end(text: str, start: int, end: int) -> int:
    """A block scalar's end without the blank lines the parser counts into it."""
    stop = end
    while stop > start and text[stop - 1] in " \t\n":
        stop -= 1
    nl = text.find("\n", stop)
    return end if nl < 0 or nl >= end else nl + 1


def line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def line_end(text: str, i: int) -> int:
    """The index just past the newline of the line holding `i` (len(text) on the last line)."""
    nl = text.find("\n", i)
    return len(text) if nl < 0 else nl + 1


def line_no(text: str, i: int) -> int:
    """1-based line of index `i`."""
    return text.count("\n", 0, i) + 1
