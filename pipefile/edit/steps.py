"""The edit operations on steps and their connections (add, delete, rename, connect ...)."""

from __future__ import annotations

from .editor import Editor
from .errors import EditError


def _later(ed: Editor, op: dict) -> None:
    raise EditError(f"the operation {op.get('op')!r} is not available yet", hint="edit the file by hand for now")


add_step = connect = disconnect = bind_asset = promote = delete_step = rename_step = _later
