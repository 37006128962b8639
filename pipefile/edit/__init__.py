"""The Pipefile editor of `pipe ui`: edit operations applied as minimal patches to the
file's text (comments, key order, quoting, styles, anchors and untouched lines kept), each
checked by reading the result back. Pure: no HTTP, no click. See docs/ui.md."""

from __future__ import annotations

from .apply import Edited, apply_edits, prepare
from .diff import digest_of, unified_diff
from .errors import BadValue, EditError

__all__ = ["BadValue", "Edited", "EditError", "apply_edits", "digest_of", "prepare", "unified_diff"]
