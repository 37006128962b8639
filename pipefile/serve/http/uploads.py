"""Routes: sending a file or an archived folder (streamed to disk, never held in memory),
and asking whether this token's upload of some content is still stored."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ...errors import PipefileError
from ...jobdb.tokens import Token
from .. import receiving
from ..guard import API
from ..refusals import TooLarge
from ..uploads import archive_kind
from .context import Context


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    auth = ctx.auth
    config = ctx.config
    # Unpacking and hashing an upload takes seconds: on threads of its own, so that many
    # uploads at once wait for each other, not for every request that reads a job (those
    # run on the event loop's default executor, CPUs + 4 threads).
    unpacking = ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 1) // 2), thread_name_prefix="upload")

    @r.post(
        f"{API}/uploads",
        tags=["uploads"],
        status_code=201,
        openapi_extra={
            "requestBody": {
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                "required": True,
            }
        },
    )
    async def upload(
        request: Request,
        kind: str = Query("", description="file, tar or zip (default: by Content-Type)"),
        tok: Token = Depends(auth),
    ) -> dict:
        """Store a file, or the folder a tar/zip archive holds; answers its digest."""
        receiving.need_uploader(tok)
        what = archive_kind(request.headers.get("content-type", ""), kind)
        scratch, (fd, tmp) = receiving.receive_into(ctx.home())
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_upload:
                        raise TooLarge(
                            f"the upload is over the limit of {config.max_upload} bytes",
                            "raise the server's --max-upload",
                        )
                    f.write(chunk)
            got = await asyncio.get_running_loop().run_in_executor(
                unpacking, lambda: receiving.keep(ctx.home(), tok, tmp, what, scratch, config.max_unpacked)
            )
        except (OSError, sqlite3.Error, PipefileError) as e:
            if not receiving.disk_full(e):
                raise
            raise receiving.no_space() from None  # (a 507 naming it, not a 500 with a traceback)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return {"digest": got.digest, "kind": got.kind, "size": got.size}

    @r.head(f"{API}/uploads/{{digest}}", tags=["uploads"])
    def has_upload(digest: str, tok: Token = Depends(auth)) -> Response:
        """200 if this token uploaded this content (and it is still stored), else 404: skip
        re-uploading. An admin token sees every upload; others only their own."""
        receiving.need_uploader(tok, asking=True)
        up = receiving.known_upload(ctx.home(), tok, digest)
        if up is None:
            return Response(status_code=404)
        return Response(status_code=200, headers={"X-Pipe-Kind": up[0], "X-Pipe-Size": str(up[1])})

    return r
