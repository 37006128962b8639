"""One operation's edit: a path of keys from the top of the file, set or removed, in the
text (splices, see doc.py) and in the data the text must read back as (checked after).

A path goes through mappings written in the file. It is refused, located, where the text
cannot be changed in one place: through an alias (`*x`), or through the anchored node an
alias names (the change would land in every place that uses it), or into a mapping that a
merge key (`<<: *x`) brings in.
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import SourceLoc, did_you_mean
from . import render
from .doc import Doc
from .errors import EditError
from .tree import ALIAS, MAP, SCALAR, SEQ, Node, line_end, line_no, line_start

_MISSING = object()


class Editor:
    def __init__(self, text: str, data: Any, path: str, safe: bool = False):
        self.doc = Doc(text, safe)
        self.text = text
        self.data = render.unshared(data)  # what the text must read back as, changed as we go
        self.path = path
        self.used_anchors = self.doc.tree.used_anchors

    # --- where things are -------------------------------------------------------------------
    def loc(self, node: Optional[Node]) -> SourceLoc:
        if node is None:
            return SourceLoc(self.path)
        return SourceLoc(self.path, line_no(self.text, node.vstart), self.doc.column(node) + 1)

    def fail(self, node: Optional[Node], message: str, hint: Optional[str] = None) -> EditError:
        return EditError(message, self.loc(node), hint)

    def root(self) -> Node:
        root = self.doc.root
        if root is None or root.kind != MAP or root.flow:
            raise self.fail(root, "the Pipefile's top level is not a block mapping", "write it as key: value lines")
        return root

    def find(self, keys: list) -> tuple:
        """(key node, value node) at `keys` from the top; (None, None) where it is not written."""
        node: Optional[Node] = self.root()
        k: Optional[Node] = None
        for key in keys:
            if node is None or node.kind != MAP:
                return None, None
            k, node = node.get(key)
        return k, node

    def steps(self) -> Node:
        k, v = self.find(["steps"])
        if v is not None and v.kind == SEQ:
            raise self.fail(
                v,
                "steps: is a list here, and a Pipefile's steps are a mapping",
                "write each step as NAME: {command: ...}",
            )
        if v is None or v.kind != MAP:
            raise self.fail(v or self.root(), "the Pipefile has no steps: mapping to edit", "add steps: with a step")
        self.owned(v, "steps")
        return v

    def step_names(self) -> list:
        return [k.value for k, _ in self.steps().pairs() if k.kind == SCALAR and k.value != "<<"]

    def step(self, name: Any) -> tuple:
        steps = self.steps()
        k, v = steps.get(name) if isinstance(name, str) else (None, None)
        if k is None:
            raise self.fail(steps, f"there is no step '{name}'", did_you_mean(str(name), self.step_names(), "step"))
        return k, v

    def owned(self, node: Node, what: str) -> None:
        """Refuse to edit inside `node` where the edit would not stay in one place."""
        if node.kind == ALIAS:
            raise self.fail(
                node,
                f"{what} is the alias *{node.value}, which cannot be changed for this place alone",
                f"write the value out in place of *{node.value}",
            )
        if node.anchor and node.anchor in self.used_anchors:
            raise self.fail(
                node,
                f"{what} is anchored as &{node.anchor} and used elsewhere as *{node.anchor}: "
                "editing it would change those places too",
                f"edit the places that use *{node.anchor} (write their values out), or this value by hand",
            )

    # --- setting and removing ---------------------------------------------------------------
    def put(self, keys: list, value: Any, what: str, keep: int = 1) -> None:
        """Set the value at `keys` (None: remove the key, and then any mapping that is left
        empty, but never one of the first `keep` levels)."""
        node = self.root()
        data = self.data
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            self.owned(node, what)
            k, v = node.get(key)
            if k is None:
                if isinstance(data, dict) and key in data and node.merges():
                    if not last or value is None:
                        raise self.fail(
                            node,
                            f"{what}: '{key}' comes from a merge key (<<: *...) here",
                            f"write '{key}:' out in this mapping first, then edit it",
                        )
                if value is None:
                    return  # nothing to remove
                nested = value
                for inner in reversed(keys[depth + 1 :]):
                    nested = {inner: nested}
                self.add_entry(node, key, nested)
                _set(data, keys[depth:], value)
                return
            if last:
                if value is not None and isinstance(data, dict) and render.same(data.get(key, _MISSING), value):
                    return  # the same value again writes nothing: `1e-2` stays as written
                if v.kind != ALIAS:  # an alias is replaced here alone; an anchor others use is not
                    self.owned(v, what)
                if value is None:
                    self.remove(keys, keep)
                else:
                    self.set_value(k, v, value, what)
                    data[key] = value
                return
            if v.kind == SCALAR and v.value in ("", "~", "null", "Null", "NULL") and not v.style and value is not None:
                nested = value
                for inner in reversed(keys[depth + 1 :]):
                    nested = {inner: nested}
                self.fill_null(k, v, nested)
                data[key] = {}
                _set(data[key], keys[depth + 1 :], value)
                return
            if v.kind == ALIAS and isinstance(data.get(key), dict):
                self.write_out(v, data, keys[depth:], value)
                return
            if v.kind != MAP:
                self.owned(v, what)
                raise self.fail(v, f"{what}: '{key}' is not a mapping here", f"write {key}: as key: value lines")
            node = v
            if not isinstance(data.get(key), dict):
                data[key] = {}
            data = data[key]

    def remove(self, keys: list, keep: int) -> None:
        """Remove the entry at `keys`, with the mappings around it it would leave empty."""
        j = len(keys) - 1
        while j > keep and len(self.find(keys[:j])[1].pairs()) == 1:
            j -= 1  # its mapping holds only this entry: remove that mapping's own entry instead
        k, v = self.find(keys[: j + 1])
        parent = self.find(keys[:j])[1] if j else self.root()
        self.remove_entry(parent, k, v)
        data = self.data
        for key in keys[:j]:
            data = data[key]
        del data[keys[j]]

    def write_out(self, alias: Node, data: dict, keys: list, value: Any) -> None:
        """An edit inside a mapping this place takes by alias (`resources: *res`): the alias
        is replaced by the mapping written out, with the change; the anchor and its other
        users stay as they are."""
        mapping = render.unshared(data[keys[0]])
        inner = mapping
        for key in keys[1:-1]:
            if not isinstance(inner.get(key), dict):
                inner[key] = {}
            inner = inner[key]
        if value is None:
            inner.pop(keys[-1], None)
        else:
            inner[keys[-1]] = value
        self.doc.splice(alias.vstart, alias.cend, self.doc.value_text(mapping, True))
        data[keys[0]] = mapping

    def set_value(self, k: Node, v: Node, value: Any, what: str) -> None:
        if v.kind in (SCALAR, ALIAS):
            self.doc.replace_scalar(v, value)
            return
        # a mapping or list replaced by a scalar (a long-form input bound to a step's output)
        self.owned(v, what)
        if v.flow:
            self.doc.splice(v.vstart, v.cend, self.doc.value_text(value, self.doc.in_flow(v)))
        else:
            colon = self.after_colon(k)
            # a comment on the key's line (`lr:   # rates`) stays, after the value now on it
            rest = self.text[colon : line_end(self.text, colon)].strip()
            note = "   " + rest if rest.startswith("#") else ""
            self.doc.splice(colon, line_end(self.text, v.cend - 1) - 1, " " + self.doc.value_text(value, False) + note)

    def after_colon(self, k: Node) -> int:
        i = k.end
        while self.text[i] in " \t":
            i += 1
        return i + 1

    def add_entry(self, node: Node, key: str, value: Any) -> None:
        """A new `key: value` after the last entry of a mapping, in its style."""
        d = self.doc
        items = node.pairs()
        if node.flow:
            entry = f"{render.key(key)}: {d.value_text(value, True)}"
            if items:
                last = items[-1][0]
                sep = ", "
                above = items[0][0].start if len(items) > 1 else node.start
                if line_no(self.text, last.start) != line_no(self.text, above):
                    # one entry a line: the new one on a line of its own, aligned
                    sep = ",\n" + " " * d.column(last)
                d.splice(items[-1][1].cend, items[-1][1].cend, sep + entry)
            else:
                d.splice(node.end - 1, node.end - 1, entry)
            return
        indent = d.column(items[0][0])
        d.insert_lines(d.stop(items[-1][1]), self.lines({key: value}, indent))

    def fill_null(self, k: Node, v: Node, value: dict) -> None:
        """`key:` (or `key: ~`) given a mapping."""
        d = self.doc
        if d.in_flow(v):
            start = v.vstart if v.end > v.vstart else v.vstart
            d.splice(start, v.end, (" " if v.end == v.vstart else "") + d.value_text(value, True))
            return
        if v.end > v.vstart:
            d.splice(k.end, v.end, ":")  # drop the written `~`/`null`, keep the comment after it
        d.insert_lines(line_end(self.text, v.vstart), self.lines(value, d.column(k) + d.unit))

    def lines(self, value: dict, indent: int) -> list:
        return render.block(value, indent, self.doc.unit, self.doc.quote, self.doc.binding_quote)

    def remove_entry(self, node: Node, k: Node, v: Node) -> None:
        d = self.doc
        items = node.pairs()
        i = next(j for j, p in enumerate(items) if p[0] is k)
        if node.flow:
            if i + 1 < len(items):
                d.splice(k.start, items[i + 1][0].start, "")
            elif i > 0:
                d.splice(items[i - 1][1].cend, v.cend, "")
            else:
                d.splice(k.start, v.cend, "")
            return
        start = line_start(self.text, k.start)
        if self.text[start : k.start].strip():
            raise self.fail(
                k,
                f"'{k.value}' shares its line with other text, which the editor leaves alone",
                f"put '{k.value}:' on a line of its own",
            )
        d.remove_lines(start, d.stop(v))


def _set(data: dict, keys: list, value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value
