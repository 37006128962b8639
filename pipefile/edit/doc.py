"""The text being edited, its tree, and the splices that change it.

Every change is a splice of the text: a value's span replaced, an entry's lines added
after its last sibling, an entry's lines removed. Nothing else in the file is written, so
comments, key order, quoting, styles and anchors outside the spliced spans stay as they
are. The file's habits (indentation unit, quote character, how `${{...}}` bindings are
quoted) are read from the file itself, for the text an edit adds.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from . import parsed, render
from .tree import SCALAR, Node, line_end, line_start


class Doc:
    def __init__(self, text: str, safe: bool = False):
        self.text = text
        self.safe = safe  # write new values inline and quoted where needed: the way that cannot go wrong
        self.splices: list = []  # (start, end, new text)
        self.tree = parsed.tree(text)
        self.root: Optional[Node] = self.tree.root
        self.unit = self.tree.unit
        self.quote, self.binding_quote = self.tree.quote, self.tree.binding_quote

    # --- the file's habits (read once per text: parsed.tree) ----------------------------------
    def in_flow(self, node: Node) -> bool:
        """Whether `node` sits inside a flow collection (bindings there must be quoted)."""
        return node.inflow

    # --- positions --------------------------------------------------------------------------
    def column(self, node: Node) -> int:
        return node.vstart - line_start(self.text, node.vstart)

    def stop(self, value: Node) -> int:
        """Just past the last line an entry's value is written on (comment on it included)."""
        return line_end(self.text, max(value.cend - 1, value.vstart))

    # --- splices ----------------------------------------------------------------------------
    def splice(self, start: int, end: int, new: str) -> None:
        self.splices.append((start, end, new))

    def insert_lines(self, pos: int, lines: list) -> None:
        """Whole lines at `pos` (a line start); at the end of a file without a final newline,
        the file still ends without one."""
        if pos >= len(self.text) and self.text and not self.text.endswith("\n"):
            self.splice(len(self.text), len(self.text), "\n" + "\n".join(lines))
        else:
            self.splice(pos, pos, "\n".join(lines) + "\n")

    def remove_lines(self, start: int, stop: int) -> None:
        """The lines from `start` (a line start) to `stop` (past a newline, or the end)."""
        if stop >= len(self.text) and not self.text.endswith("\n") and start > 0:
            start -= 1  # the last line goes with the newline before it
        self.splice(start, stop, "")

    def applied(self) -> str:
        text = self.text
        for start, end, new in sorted(self.splices, key=lambda s: (s[0], s[1]), reverse=True):
            text = text[:start] + new + text[end:]
        return text

    # --- values -----------------------------------------------------------------------------
    def value_text(self, value: Any, flow: bool) -> str:
        return render.value_text(value, flow, self.quote, self.binding_quote)

    def replace_scalar(self, node: Node, value: Any) -> None:
        """A scalar's (or alias's) text replaced by `value`, anchor and tag kept."""
        flow = self.in_flow(node)
        block = node.kind == SCALAR and node.style in ("|", ">")
        if block and isinstance(value, str) and not flow and not self.safe:
            self.splice(node.vstart, node.cend, self._block_scalar(node, value))
            return
        new = self.value_text(value, flow)
        start = node.vstart
        if node.kind == SCALAR and node.vstart == node.end:  # `key:` with nothing after it
            new = " " + new if node.vstart > 0 and self.text[node.vstart - 1] == ":" else new
        tag = self.text.find("!", node.start, node.vstart)
        if tag >= 0:  # `!!str 5`: the new value says its own type; the anchor before the tag stays
            start = tag
        self.splice(start, node.cend, new + ("\n" if block else ""))

    def _block_scalar(self, node: Node, value: str) -> str:
        """A literal or folded scalar rewritten in its own style: indentation and comment kept,
        the chomping indicator as the new value's trailing newlines need."""
        head_end = self.text.index("\n", node.vstart)
        m = re.match(r"([|>])([1-9]?)[+-]?([1-9]?)(.*)", self.text[node.vstart : head_end], re.S)
        assert m is not None  # a block scalar starts with its indicator
        stripped = value.rstrip("\n")
        chomp = "-" if stripped == value else "" if value.endswith("\n") and not value.endswith("\n\n") else "+"
        head = m.group(1) + m.group(2) + chomp + m.group(3) + m.group(4)
        body = self.text[head_end + 1 : node.cend]
        first = next((ln for ln in body.split("\n") if ln.strip()), "")
        indent = len(first) - len(first.lstrip(" ")) if first else self.column(node) + self.unit
        text = value[:-1] if value.endswith("\n") else value
        if node.style == ">":
            text = "\n\n".join(_fold(part, 88 - indent) for part in text.split("\n"))
        pad = " " * indent
        return head + "\n" + "\n".join((pad + ln) if ln else "" for ln in text.split("\n")) + "\n"


def _fold(line: str, width: int) -> str:
    """One line of a folded scalar broken at single spaces (each break reads back as one
    space); lines that start with a space are not folded by YAML, so they are kept whole."""
    if line.startswith((" ", "\t")) or len(line) <= width:
        return line
    words = re.split(r"(?<=\S) (?=\S)", line)
    out, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    out.append(cur)
    return "\n".join(out)
