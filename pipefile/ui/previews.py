"""A look at a step's output as a job recorded it: the content by its digest in the store
(what that job wrote, even if the workspace holds newer), never read whole when large.

Kinds: `table` (CSV/TSV, Parquet: the columns and the first ROWS rows), `image` (PNG,
JPEG, GIF, SVG up to IMAGE_MAX bytes, as a data URL), `json` (pretty, up to TEXT_MAX),
`text` (the first TEXT_MAX bytes), `folder` (its entries, up to ENTRIES), `binary`
(its size only)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
from typing import Optional

from ..digest import E_EXEC, E_FILE, E_LINK, E_TREE, FILE
from ..errors import PipefileError
from .errors_view import Refusal

ROWS = 50
TEXT_MAX = 256 * 1024
IMAGE_MAX = 2 * 2**20
ENTRIES = 500
_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
_TEXT = (".txt", ".log", ".md", ".yaml", ".yml", ".py", ".sql", ".html", ".xml", ".ini", ".toml", ".cfg", ".jsonl")


def output_record(ws, job, step: str, name: str) -> dict:
    rec = ws.jobs.step_record(job.id, step)
    if rec is None:
        raise Refusal(404, f"job {job.id} has no record of task '{step}'", "its outputs are there once it has ended")
    out = rec.outputs.get(name)
    if out is None:
        from ..errors import did_you_mean

        raise Refusal(404, f"task '{step}' has no output '{name}'", did_you_mean(name, rec.outputs, "output"))
    return out


def _entry(ws, tree_digest: str, sub: str) -> tuple:
    """(kind, digest, size) of `sub` inside a stored folder."""
    for p, kind, d, size in ws.store.walk(tree_digest):
        if p == sub and kind != E_LINK:
            return ("tree" if kind == E_TREE else FILE), d, size
    raise Refusal(404, f"the folder has no entry '{sub}'", "the folder preview lists its entries")


def preview_output(ws, job, step: str, name: str, sub: Optional[str] = None) -> dict:
    """The preview of output `name` of `step` in `job`; `sub`: a path inside a folder output."""
    out = output_record(ws, job, step, name)
    digest, kind, size = out.get("digest"), out.get("kind"), int(out.get("size") or 0)
    label = str(out.get("path") or name)
    base = {"output": name, "path": label, "size": size, "digest": digest}
    if not digest:
        raise Refusal(404, f"output '{name}' of task '{step}' has no recorded content", "it did not end well")
    if sub and kind == FILE:  # (a file's digest is no folder to walk)
        raise Refusal(
            404,
            f"output '{name}' of task '{step}' is a file, so it has no entry '{sub}'",
            "leave out ?path= for a file",
        )
    if sub:
        kind, digest, size = _entry(ws, digest, sub.strip("/"))
        label = sub
        base.update(path=f"{out.get('path')}/{sub}", size=size, digest=digest)
    if not ws.store.has(digest):
        raise Refusal(404, f"the content of output '{name}' is no longer in the store", "run the task again")
    if kind != FILE:
        return dict(base, **folder(ws, digest))
    try:
        path = ws.store.regular_path(digest)
    except PipefileError as e:  # (a FIFO put there by hand: opening it waited for ever; moved aside)
        raise Refusal(409, e.message, e.hint) from None
    return dict(base, **preview_file(path, label, size))


def folder(ws, digest: str) -> dict:
    entries = []
    for p, kind, _d, size in ws.store.walk(digest):
        if len(entries) >= ENTRIES:
            return {"kind": "folder", "entries": entries, "truncated": True}
        what = {E_TREE: "folder", E_FILE: "file", E_EXEC: "file", E_LINK: "link"}.get(kind, "file")
        entries.append({"path": p, "kind": what, "size": size})
    return {"kind": "folder", "entries": entries, "truncated": False}


def preview_file(path: str, name: str, size: int) -> dict:
    ext = os.path.splitext(name.lower())[1]
    if ext in _IMAGES:
        if size > IMAGE_MAX:
            return {"kind": "image", "data_url": None, "note": f"the image is over {IMAGE_MAX // 2**20} MiB"}
        with open(path, "rb") as f:
            data = f.read(IMAGE_MAX + 1)
        return {
            "kind": "image",
            "mime": _IMAGES[ext],
            "data_url": f"data:{_IMAGES[ext]};base64,{base64.b64encode(data).decode()}",
        }
    if ext in (".csv", ".tsv"):
        return _csv(path, "\t" if ext == ".tsv" else ",", size)
    if ext in (".parquet", ".pq"):
        return _parquet(path)
    head = _head(path, TEXT_MAX)
    truncated = size > TEXT_MAX
    if ext == ".json" and not truncated:
        try:
            return {"kind": "json", "text": json.dumps(json.loads(head), indent=2, ensure_ascii=False)}
        except (ValueError, RecursionError):  # (JSON nested thousands deep: shown as text)
            pass
    if ext in _TEXT or ext == ".json" or _looks_like_text(head):
        shown = {"kind": "text", "text": head.decode("utf-8", "replace"), "truncated": truncated}
        return dict(shown, note=NOT_UTF8) if not _utf8(head, truncated) else shown
    return {"kind": "binary"}


def _head(path: str, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


# (a Latin-1 or UTF-16 file showed as text or a table full of U+FFFD, and nothing said why)
NOT_UTF8 = "not UTF-8: what is not is shown as \ufffd"


def _utf8(data: bytes, cut: bool) -> bool:
    """Whether `data` is UTF-8 (`cut`: it may end inside a character)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return cut and e.start >= len(data) - 3 and e.reason == "unexpected end of data"
    return True


def _looks_like_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= 8188  # cut inside a character at the end
    return True


def _csv(path: str, delimiter: str, size: int) -> dict:
    head = _head(path, TEXT_MAX)
    text = head.decode("utf-8", "replace")
    if len(head) == TEXT_MAX:  # the last line may be cut
        text = text[: text.rfind("\n") + 1]
        if not text:  # (no whole line in TEXT_MAX: its header alone is longer) shown as text, not an empty table
            text = head.decode("utf-8", "replace")
            note = f"its first line is over {TEXT_MAX // 1024} KiB: not read as a table"
            return {"kind": "text", "text": text, "truncated": size > TEXT_MAX, "note": note}
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as e:  # (a field past the csv module's 128 KiB limit): shown as text
        text = head.decode("utf-8", "replace")
        return {"kind": "text", "text": text, "truncated": size > TEXT_MAX, "note": f"not read as a table ({e})"}
    columns, body = (rows[0], rows[1:]) if rows else ([], [])
    table = {
        "kind": "table",
        "columns": columns,
        "rows": body[:ROWS],
        "truncated": len(body) > ROWS or len(head) == TEXT_MAX,
    }
    return dict(table, note=NOT_UTF8) if not _utf8(head, len(head) == TEXT_MAX) else table


def _cell(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _parquet(path: str) -> dict:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {"kind": "binary", "note": "install pyarrow (the `std` extra) to preview Parquet tables"}
    try:
        f = pq.ParquetFile(path)
        columns = list(f.schema_arrow.names)
        batch = next(f.iter_batches(batch_size=ROWS), None)
    except Exception as e:  # noqa: BLE001 - a file that is not Parquet after all: said, not a crash
        return {"kind": "binary", "note": f"not a readable Parquet file ({type(e).__name__})"}
    rows = [] if batch is None else [[_cell(v) for v in r.values()] for r in batch.to_pylist()]
    return {"kind": "table", "columns": columns, "rows": rows, "truncated": f.metadata.num_rows > ROWS}
