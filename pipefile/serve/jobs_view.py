"""Served jobs as the API shows them: a job's record (state history, steps, outputs),
the list a token may see, its events, its step logs, an output's content, and
canceling one. Plain data in and out; the HTTP layer streams and waits."""

from __future__ import annotations

import os
import tarfile
from typing import Iterator, Optional

from ..digest import E_EXEC, E_LINK, E_TREE, FILE, PathDigest
from ..errors import PipefileError, did_you_mean
from ..filenames import log_file
from ..jobdb.records import ACTIVE, TERMINAL
from ..jobdb.tokens import Token
from ..lazyclass import dataclass
from ..outcomes import JobState
from .access import visible_job
from .endpoints_view import find_deployment
from .guard import API
from .home import Home
from .refusals import Conflict, Forbidden, Gone, NotFound


def job_json(home: Home, job, reused: Optional[bool] = None) -> dict:
    """A served job as GET /v1/jobs/{id} answers it (`reused`: whether a submission was
    answered with it rather than a new job)."""
    steps = home.jobs.steps(job.id)
    history = [dict(e["data"], time=e["time"]) for e in home.serve.events(job.id) if e["kind"] == "state"]
    outputs = {}
    try:
        dep = home.serve.deployment(job.endpoint, job.deployment)
        by_step = {s.step: s for s in steps}
        for name, o in dep.manifest.get("outputs", {}).items():
            rec = by_step.get(o["step"])
            content = (rec.outputs if rec else {}).get(o["output"], {})
            if "digest" in content:
                outputs[name] = {
                    "kind": content["kind"],
                    "digest": content["digest"],
                    "size": content["size"],
                    "filename": os.path.basename(o["path"]),
                    "url": f"{API}/jobs/{job.id}/outputs/{name}",
                }
    except PipefileError:
        pass
    req = job.request or {}
    out = {
        "id": job.id,
        "uid": job.uid,
        "endpoint": job.endpoint,
        "deployment": job.deployment,
        "deployment_digest": job.deployment_digest,
        "state": job.state,
        "error": job.error,
        "created": job.queued,
        "started": job.started if job.state not in (JobState.QUEUED,) else None,
        "ended": job.ended,
        "token": job.token_id,
        "inputs": req.get("inputs", {}),
        "params": req.get("params", {}),
        "tags": req.get("tags", {}),
        "force_rerun": bool(req.get("force_rerun")),
        "history": history,
        "steps": [
            {
                "step": s.step,
                "outcome": s.outcome,
                "seconds": s.seconds,
                "exit_code": s.exit_code,
                "error": s.error,
                "key": s.key,
            }
            for s in steps
        ],
        "outputs": outputs,
        "url": f"{API}/jobs/{job.id}",
    }
    if reused is not None:
        out["reused"] = reused
    return out


def outputs_stored(home: Home, job) -> bool:
    """Whether the content of every output the job recorded is still in the store."""
    data = job_json(home, job)
    return all(home.store.complete(PathDigest(o["kind"], o["digest"], o["size"])) for o in data["outputs"].values())


def list_jobs(home: Home, tok: Token, endpoint: Optional[str], limit: int) -> dict:
    """Served jobs, newest first (an invoke token sees only its own)."""
    jobs = home.serve.served_jobs(endpoint, None if tok.can_read_all() else tok.id, limit)
    return {
        "jobs": [
            {
                "id": j.id,
                "uid": j.uid,
                "endpoint": j.endpoint,
                "deployment": j.deployment,
                "state": j.state,
                "created": j.queued,
                "ended": j.ended,
                "token": j.token_id,
                "url": f"{API}/jobs/{j.id}",
            }
            for j in jobs
        ]
    }


def events_since(home: Home, job_id: int, since: int) -> tuple:
    """(the job's events after `since`, its state). The state is read first: a job that has
    ended has written its last event already."""
    state = home.jobs.get(job_id).state
    return home.serve.events(job_id, since), state


def log_path(home: Home, job, step: str) -> str:
    """Where the log of one of the job's declared steps is (a name the deployment declares,
    never a path built from what the client sent)."""
    dep = find_deployment(home, job.endpoint, job.deployment)
    if step not in dep.manifest.get("steps", []):
        raise NotFound(f"job {job.id} has no step '{step}'", did_you_mean(step, dep.manifest.get("steps", []), "step"))
    return os.path.join(home.job_dir(job.id), log_file(step))


def read_log(path: str, offset: int, most: int) -> bytes:
    """Up to `most` bytes of the log from `offset` (nothing yet if it is not written)."""
    from ..filehash import NotARegularFile, open_regular

    try:
        with open_regular(path) as f:  # (a FIFO or a device there: no log, never read)
            f.seek(offset)
            return f.read(most)
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):
        return b""


def log_chunks(path: str, most: int) -> tuple:
    """(size, chunks) of the log as it is now, at most `most` bytes, read 1 MiB at a time as
    they are sent: a reader of a large log holds one chunk in memory, not the log (nothing,
    for a log not written yet or one that is not a regular file)."""
    from ..filehash import NotARegularFile, open_regular

    try:
        f = open_regular(path)
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):
        return 0, iter(())
    try:
        size = min(os.fstat(f.fileno()).st_size, most)
    except OSError:
        f.close()
        raise

    def chunks() -> Iterator[bytes]:
        with f:
            left = size
            while left > 0:
                b = f.read(min(left, 1 << 20))
                if not b:
                    return
                left -= len(b)
                yield b

    return size, chunks()


@dataclass
class OutputContent:
    """An output to send: a file (`size` bytes) or a folder (a tar stream of unknown length)."""

    is_file: bool
    digest: str
    size: int
    filename: str  # safe to put in a header
    chunks: Iterator[bytes]


def output_content(home: Home, tok: Token, job_id: int, name: str) -> OutputContent:
    job = visible_job(home, job_id, tok)
    outputs = job_json(home, job)["outputs"]
    if name not in outputs:
        dep = find_deployment(home, job.endpoint, job.deployment)
        declared = dep.manifest.get("outputs", {})
        if name in declared:
            raise Conflict(
                f"job {job_id} has no content for output '{name}' (it is {job.state})", "wait for the job to complete"
            )
        raise NotFound(f"job {job_id} has no output '{name}'", did_you_mean(name, declared, "output"))
    o = outputs[name]
    store = home.store
    content = PathDigest(o["kind"], o["digest"], o["size"])
    if not store.complete(content):
        raise Gone(f"the content of output '{name}' is no longer in the store", "invoke again")
    try:  # (checked before the answer begins: one found while it is sent could only cut it short)
        for d in [content.digest] if content.kind == FILE else _file_objects(store, content.digest):
            store.regular_path(d)  # (a FIFO put there by hand: moved aside, never waited on)
    except PipefileError as e:
        raise Gone(f"the content of output '{name}' is damaged: {e.message}", "invoke again") from None
    base = os.path.basename(find_deployment(home, job.endpoint, job.deployment).manifest["outputs"][name]["path"])
    if o["kind"] == FILE:
        return OutputContent(True, o["digest"], o["size"], _safe_name(base), _file_chunks(store.path(o["digest"])))
    return OutputContent(False, o["digest"], o["size"], f"{_safe_name(base)}.tar", _tar_stream(store, o["digest"]))


def _file_objects(store, digest: str) -> list:
    """The objects of the files in stored folder `digest`."""
    return [d for _rel, kind, d, _size in store.walk(digest) if kind not in (E_TREE, E_LINK)]


def cancel(home: Home, pool, tok: Token, job_id: int) -> dict:
    """Cancel a queued or running job (`pool`: the WorkerPool running this server's jobs,
    or None)."""
    job = visible_job(home, job_id, tok)
    if not (tok.admin or (job.token_id == tok.id and tok.can_invoke(job.endpoint))):
        raise Forbidden("canceling a job needs an admin token or the invoke token that started it")
    s = home.serve
    if job.state in TERMINAL:
        raise Conflict(f"job {job_id} has already ended ({job.state})")
    if not s.set_state(job_id, "canceled", "canceled by request", only_from=(JobState.QUEUED,)):
        if not (pool is not None and pool.cancel(job_id, "canceled", "canceled by request")):
            # Active in the database, but no worker here has it: a stale record.
            s.set_state(job_id, "canceled", "canceled by request", only_from=ACTIVE)
    return job_json(home, home.jobs.get(job_id))


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "output"


def _file_chunks(path: str) -> Iterator[bytes]:
    from ..filehash import open_regular  # (a FIFO in the store: an error that ends the stream, never a wait)

    with open_regular(path) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return
            yield b


def _tar_stream(store, digest: str) -> Iterator[bytes]:
    """The folder as a PAX tar stream, each file's data read 1 MiB at a time as it is sent:
    a large file in a folder output is never held in memory (tarfile's own stream writer
    copies a member whole before the caller can take it)."""
    from ..filehash import open_regular

    for rel, kind, d, size in store.walk(digest):
        info = tarfile.TarInfo(rel)
        info.mtime = 0
        if kind == E_TREE:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            continue
        if kind == E_LINK:
            continue  # a link that pointed nowhere: nothing to send
        info.size, info.mode = size, 0o755 if kind == E_EXEC else 0o644
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        left = size
        with open_regular(store.path(d)) as f:
            while left > 0:
                b = f.read(min(left, 1 << 20))
                if not b:
                    raise OSError(f"stored content {d[:12]} is shorter than its record")  # ends the stream
                left -= len(b)
                yield b
        if size % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # the end-of-archive marker
