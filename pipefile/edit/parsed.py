"""What the editor reads from a text, kept for the next edit of the same text.

The designer sends edit after edit against the same base (each preview, then the save of
the last one), and the save of a previewed edit yields a text read back already. Parsing a
10,000-step Pipefile is most of an edit's time (the loader's YAML reader, then the tree of
spans), so both are kept here by the exact text, for a few texts: `data` (what the loader's
reader makes of it) and `tree` (its nodes with their spans, and the file's habits). Both
are the same for the same text (the reader is deterministic), and neither is changed by
the editor: `Editor` edits a copy of the data (`render.unshared`), and nodes are never
written after `tree.parse`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from typing import Any, Callable, Optional

from ..lazyclass import dataclass
from .tree import ALIAS, MAP, SCALAR, Node, line_start, parse

_BINDING = re.compile(r"^\$\{\{.*\}\}$", re.S)  # a value that is one ${{...}} binding
KEPT = 2  # texts kept: the base and the last edit's result (about 56 MiB for a 10,000-step file)


class _Kept:
    """A small least-recently-used map from texts to what was read from them."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()  # the server edits on worker threads
        self.items: OrderedDict = OrderedDict()
        self.busy: dict = {}  # text -> an Event set when the thread reading it is done

    def get(self, text: str, make: Callable[[], Any]) -> Any:
        while True:
            with self.lock:
                if text in self.items:
                    self.items.move_to_end(text)
                    return self.items[text]
                busy = self.busy.get(text)
                if busy is None:  # this thread reads it; others asking for the same text wait
                    busy = self.busy[text] = threading.Event()
                    break
            busy.wait()  # (a read that failed leaves nothing kept: this thread tries it itself)
        try:
            value = make()  # (outside the lock: a slow parse does not hold up another text's edit)
            self.put(text, value)
            return value
        finally:
            with self.lock:
                self.busy.pop(text, None)
            busy.set()

    def put(self, text: str, value: Any) -> None:
        with self.lock:
            self.items[text] = value
            self.items.move_to_end(text)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_DATA = _Kept(KEPT)
_TREES = _Kept(KEPT)


class _Prefixes:
    """The texts (and their data) a few operation lists made of a base text: (base, path,
    operations) -> (text, data). The data is never changed (an Editor edits its own copy)."""

    KEPT = 3  # the last previews' operation lists (a save of a preview, an undo)

    def __init__(self):
        self.lock = threading.Lock()  # the server edits on worker threads
        self.items: OrderedDict = OrderedDict()

    def longest(self, base: str, path: str, keys: Optional[tuple]) -> tuple:
        """(how many of the operations were applied, the text, its data) of the longest kept prefix."""
        if keys is None:
            return 0, None, None
        with self.lock:
            for n in range(len(keys), 0, -1):
                got = self.items.get((base, path, keys[:n]))
                if got is not None:
                    self.items.move_to_end((base, path, keys[:n]))
                    return n, got[0], got[1]
        return 0, None, None

    def put(self, base: str, path: str, keys: tuple, text: str, data: Any) -> None:
        with self.lock:
            self.items[(base, path, keys)] = (text, data)
            self.items.move_to_end((base, path, keys))
            while len(self.items) > self.KEPT:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


PREFIXES = _Prefixes()


def data(text: str, load: Callable[[str], Any]) -> Any:
    """What `load` (the loader's reader) makes of `text`, read once per text. Never change it."""
    return _DATA.get(text, lambda: load(text))


def remember_data(text: str, value: Any) -> None:
    """`value` is what the loader's reader made of `text` (a read-back)."""
    _DATA.put(text, value)


def known_data(text: str) -> Optional[tuple]:
    """(data,) when `text` was read already, else None."""
    with _DATA.lock:
        return (_DATA.items[text],) if text in _DATA.items else None


@dataclass(frozen=True)
class Tree:
    root: Optional[Node]
    unit: int  # the indentation unit of nested block mappings
    quote: str  # the quote character the file uses most
    binding_quote: str  # how it writes ${{...}} bindings: "" plain, or a quote
    used_anchors: frozenset  # anchors that an alias (*name) uses


def tree(text: str) -> Tree:
    """`text`'s nodes and habits, read once per text."""
    return _TREES.get(text, lambda: _read_tree(text))


def clear() -> None:
    """Forget every text (tests; a long-lived process never needs to)."""
    _DATA.clear()
    _TREES.clear()
    PREFIXES.clear()


def _read_tree(text: str) -> Tree:
    root = parse(text)
    units: Counter = Counter()
    quotes: Counter = Counter()
    bindings: Counter = Counter()
    used = set()
    for n in root.walk() if root else ():  # one walk for every habit
        if n.kind == MAP:
            if not n.flow:
                for _, v in n.items:
                    if v.kind == MAP and not v.flow and v.items:
                        d = _column(text, v.items[0][0]) - _column(text, n.items[0][0])
                        if d > 0:
                            units[d] += 1
        elif n.kind == SCALAR:
            if n.style in ("'", '"', ""):
                if _BINDING.match(n.value) and not n.inflow:
                    bindings[n.style] += 1
                elif n.style:
                    quotes[n.style] += 1
        elif n.kind == ALIAS:
            used.add(n.value)
    return Tree(
        root=root,
        unit=units.most_common(1)[0][0] if units else 2,
        quote="'" if quotes["'"] > quotes['"'] else '"',
        binding_quote=bindings.most_common(1)[0][0] if bindings else "",
        used_anchors=frozenset(used),
    )


def _column(text: str, node: Node) -> int:
    return node.vstart - line_start(text, node.vstart)
