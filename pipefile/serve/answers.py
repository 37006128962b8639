"""Reading what a server answers, without trusting it: a body is read as it arrives and
refused past a cap (counted after decompression: gzip or deflate, one layer, inflated a
piece at a time), an error's body is cut short, and JSON is refused when it nests deeper
than any answer of `pipe serve` does, never parsed into a crash."""

from __future__ import annotations

import time
from typing import Optional

from ..errors import PipefileError

MAX_ANSWER = 16 << 20  # a JSON answer (a job with its steps, a page of events) is far smaller
MAX_ERROR_BODY = 64 << 10  # of an error's body only the start is shown
MAX_NESTING = 64  # JSON of pipe serve is a few levels deep; deeper is refused, never a crash
SLOWEST_RATE = 16 << 10  # bytes a second an answer may come at, past its first seconds
DECODED_PIECE = 1 << 16  # a compressed body is inflated this much at a time, never all at once


class Answer:
    """An answer read whole (and capped): status, headers and body bytes."""

    def __init__(self, status_code: int, headers, body: bytes):
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def read_answer(r, what: str, limit: int, seconds: Optional[float] = None) -> Answer:
    """The streamed response `r` read into an Answer: an error's body cut at MAX_ERROR_BODY,
    any other body refused past `limit` bytes (a server does not get to fill the memory),
    and once it has taken `seconds` plus one for every SLOWEST_RATE bytes come (nor to hold
    the command for ever, a byte at a time; a large log over a slow link still comes)."""
    error = r.status_code >= 300
    if error:
        limit = min(limit, MAX_ERROR_BODY)
    start = time.monotonic()
    body = bytearray()
    for piece in body_chunks(r, what):
        took = time.monotonic() - start
        if seconds is not None and took > seconds + len(body) / SLOWEST_RATE:
            raise PipefileError(
                f"{what}: the server's answer came too slowly ({len(body)} bytes in {took:.0f}s; an answer "
                f"may take {seconds:g}s and one more for every {SLOWEST_RATE >> 10} KiB); refused",
                hint="the server is not answering as `pipe serve` does (it sends an answer at once); "
                "run the command again",
            )
        body += piece
        if len(body) > limit:
            if error:
                del body[limit:]
                break
            raise PipefileError(
                f"{what}: the server's answer is over {limit} bytes; refused",
                hint="the server is not answering as `pipe serve` does",
            )
    return Answer(r.status_code, r.headers, bytes(body))


def body_chunks(r, what: str):
    """The body of the streamed response `r`, decoded, in pieces of at most DECODED_PIECE
    bytes: a compressed body (gzip or deflate, one layer) is inflated piece by piece, so a
    small body that inflates to gigabytes is stopped by whoever counts the pieces, not read
    into memory first. Other encodings (br, zstd, several layers) are refused."""
    import zlib

    codings = [c.strip().lower() for c in r.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        yield from r.iter_raw()
        return
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise PipefileError(
            f"{what}: the server's answer is encoded as {brief_repr(', '.join(codings))}, which "
            f"pipe invoke does not read",
            hint="it asks for gzip or deflate (Accept-Encoding)",
        )
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16 if codings[0] != "deflate" else zlib.MAX_WBITS | 32)
    raw_deflate = None  # deflate is meant zlib-wrapped; some servers send it bare
    for raw in r.iter_raw():
        if inflate.eof:
            break  # what follows the compressed stream is not read (nor kept)
        data = raw
        while data and not inflate.eof:
            try:
                piece = inflate.decompress(data, DECODED_PIECE)
            except zlib.error as e:
                if codings[0] == "deflate" and raw_deflate is None and not inflate.unused_data:
                    raw_deflate, inflate = True, zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise PipefileError(
                    f"{what}: the server's answer is not valid {codings[0]} data ({e})",
                    hint="the server is not answering as `pipe serve` does",
                ) from None
            raw_deflate = raw_deflate or False
            data = inflate.unconsumed_tail
            if piece:
                yield piece


def parse_json(body: bytes):
    """The JSON of an answer; ValueError for anything that is not JSON, nests deeper than
    MAX_NESTING levels or is too deep for the parser itself (never a RecursionError)."""
    import json

    try:
        got = json.loads(body)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    # Deep nesting (which parses up to Python's recursion limit) is refused here, walked
    # without recursion, so that printing or walking it later cannot crash either.
    todo = [(got, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"it is nested deeper than {MAX_NESTING} levels")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
    return got


def brief_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
