"""`pipe invoke`: the client side of the REST API (httpx).

Uploads data inputs (skipping what the server already has: the digest is computed
here first and asked for with HEAD), submits the job, optionally waits for it and
downloads its outputs. A folder goes up as a tar archive and comes back as one;
what comes back is unpacked with the same member checks the server applies.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from typing import Callable, Optional

from ..digest import IGNORED_NAMES, IGNORED_SUFFIXES, Hasher, StatCache, hash_file
from ..errors import PipefileError, StepFailed
from ..loader import convert_param_text

DEFAULT_URL = "http://127.0.0.1:8080"


class Client:
    def __init__(self, url: str, token: Optional[str], timeout: float = 60.0):
        import httpx

        if not token:
            raise PipefileError("no token to call the server with",
                                hint="give --token TOKEN or set PIPE_TOKEN (pipe token create makes one)")
        self.base = url.rstrip("/")
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _check(self, r, what: str):
        if r.status_code < 400:
            return r
        try:
            err = r.json().get("error", {})
            message, hint = err.get("message") or str(r.json()), err.get("hint")
        except ValueError:
            message, hint = r.text[:500], None
        raise PipefileError(f"{what}: the server answered {r.status_code}: {message}", hint=hint)

    def request(self, method: str, path: str, what: str, **kw):
        import httpx

        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise PipefileError(f"{what}: cannot reach {self.base} ({e})",
                                hint="is `pipe serve` running there? give its address with --url") from None
        return self._check(r, what)

    # --- the steps of an invocation ---------------------------------------------------------
    def endpoint(self, name: str) -> dict:
        return self.request("GET", f"/v1/endpoints/{name}", f"endpoint '{name}'").json()

    def upload(self, path: str) -> dict:
        """{"upload": digest} for a file or folder, sent only if the server lacks it."""
        if os.path.isdir(path):
            digest = Hasher(os.path.dirname(os.path.abspath(path)), StatCache()).tree(
                os.path.basename(os.path.abspath(path))).digest
        elif os.path.isfile(path):
            digest = hash_file(path)
        else:
            raise PipefileError(f"there is no file or folder at '{path}'", hint="give the path of the data to send")
        r = self.http.head(f"/v1/uploads/{digest}")
        if r.status_code == 200:
            return {"upload": digest}
        if os.path.isdir(path):
            with tempfile.TemporaryFile() as f:
                _tar_folder(path, f)
                f.seek(0)
                got = self.request("POST", "/v1/uploads", f"uploading {path}", content=f,
                                   headers={"Content-Type": "application/x-tar"}).json()
        else:
            with open(path, "rb") as f:
                got = self.request("POST", "/v1/uploads", f"uploading {path}", content=f,
                                   headers={"Content-Type": "application/octet-stream"}).json()
        return {"upload": got["digest"]}

    def submit(self, endpoint: str, deployment: Optional[int], inputs: dict, force_rerun: bool,
               idempotency_key: Optional[str] = None) -> dict:
        path = f"/v1/endpoints/{endpoint}" + (f"/deployments/{deployment}" if deployment else "") + "/jobs"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", path, f"invoking '{endpoint}'", headers=headers,
                            json={"inputs": inputs, "force_rerun": force_rerun}).json()

    def wait(self, job_id: int, on_event: Callable[[dict], None], timeout: Optional[float] = None) -> dict:
        after = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = self.request("GET", f"/v1/jobs/{job_id}/events", f"job {job_id}",
                               params={"wait": 30, "after": after}).json()
            for e in got["events"]:
                after = e["seq"]
                on_event(e)
            if got["done"]:
                return self.request("GET", f"/v1/jobs/{job_id}", f"job {job_id}").json()
            if deadline is not None and time.monotonic() > deadline:
                raise PipefileError(f"job {job_id} did not end within {timeout:g}s; it goes on on the server",
                                    hint=f"check later: GET /v1/jobs/{job_id}")

    def download(self, job: dict, out_dir: str) -> list:
        """Every output of a completed job into out_dir; returns the paths written."""
        written = []
        os.makedirs(out_dir, exist_ok=True)
        for name, o in job.get("outputs", {}).items():
            # The output's name, with the extension its file has in the pipeline (pred.csv).
            ext = os.path.splitext(o.get("filename", ""))[1] if o["kind"] == "file" else ""
            dest = os.path.join(out_dir, name + (ext if _safe_ext(ext) else ""))
            if os.path.lexists(dest):
                raise PipefileError(f"'{dest}' already exists; nothing more was written",
                                    hint="choose another --out folder, or move it away first")
            with self.http.stream("GET", o["url"]) as r:
                if r.status_code >= 400:
                    r.read()
                    self._check(r, f"downloading output '{name}'")
                if o["kind"] == "file":
                    with open(dest + ".part", "wb") as f:
                        for chunk in r.iter_bytes():
                            f.write(chunk)
                    os.replace(dest + ".part", dest)
                else:
                    buf = tempfile.TemporaryFile()
                    for chunk in r.iter_bytes():
                        buf.write(chunk)
                    buf.seek(0)
                    _untar_safely(buf, dest)
            written.append(dest)
        return written


def _safe_ext(ext: str) -> bool:
    return bool(ext) and len(ext) <= 16 and all(c.isalnum() or c == "." for c in ext) and ext.count(".") == 1


def _tar_folder(path: str, f) -> None:
    """The folder as a tar archive of its files and folders (links followed), skipping
    what pipe never hashes, so the server computes the digest computed here."""
    with tarfile.open(fileobj=f, mode="w") as tf:
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_NAMES and not d.endswith(IGNORED_SUFFIXES))
            rel_dir = os.path.relpath(dirpath, path)
            if rel_dir != ".":
                tf.add(dirpath, arcname=rel_dir.replace(os.sep, "/"), recursive=False)
            for name in sorted(filenames):
                if name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                if not os.path.isfile(full):
                    continue  # a dangling link, a fifo: not data
                arc = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                info = tf.gettarinfo(full, arcname=arc)
                if info.issym() or info.islnk():
                    info = tf.gettarinfo(os.path.realpath(full), arcname=arc)
                with open(full, "rb") as src:
                    tf.addfile(info, src)


def _untar_safely(f, dest: str) -> None:
    """Unpack a downloaded folder with the checks applied to uploads (no links, no escape)."""
    from .uploads import _member_path

    tmp = dest + ".part"
    os.makedirs(tmp)
    with tarfile.open(fileobj=f, mode="r|*") as tf:
        for m in tf:
            rel = _member_path(m.name)
            target = os.path.join(tmp, rel) if rel else tmp
            if m.isdir():
                os.makedirs(target, exist_ok=True)
            elif m.isreg():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                src = tf.extractfile(m)
                with open(target, "xb") as out:
                    out.write(src.read() if src else b"")
                if m.mode & 0o111:
                    os.chmod(target, 0o755)
            else:
                raise PipefileError(f"the server sent an archive member '{m.name}' that is not a file or folder")
    os.replace(tmp, dest)


def parse_inputs(client: Client, schema: dict, params, data) -> dict:
    """-p NAME=VALUE (converted by the endpoint's input types) and -i NAME=PATH |
    artifact:NAME:V | job:ID/OUTPUT into a request's inputs."""
    from ..errors import did_you_mean

    inputs: dict = {}
    for pair, what in [(p, "-p") for p in params] + [(d, "-i") for d in data]:
        if "=" not in pair:
            raise PipefileError(f"{what} {pair}: expected NAME=VALUE")
        name, text = pair.split("=", 1)
        decl = schema.get(name)
        if decl is None:
            raise PipefileError(f"{what} {pair}: the endpoint has no input '{name}'",
                                hint=did_you_mean(name, schema, "input") or "it takes no inputs")
        if decl["kind"] == "param":
            if what == "-i":
                raise PipefileError(f"-i {pair}: '{name}' is a param", hint=f"give it with -p {name}=VALUE")
            value = convert_param_text(text, decl["type"])
            if value is None:
                raise PipefileError(f"-p {pair}: '{name}' is a {decl['type']}, and {text!r} is not one")
            inputs[name] = value
        else:
            if what == "-p":
                raise PipefileError(f"-p {pair}: '{name}' is data", hint=f"give it with -i {name}=PATH")
            if text.startswith("artifact:"):
                inputs[name] = {"artifact": text[len("artifact:"):]}
            elif text.startswith("job:"):
                inputs[name] = {"job_output": text[len("job:"):]}
            else:
                inputs[name] = client.upload(text)
    return inputs


def job_failed(job: dict) -> Optional[StepFailed]:
    if job["state"] == "completed":
        return None
    return StepFailed(f"job {job['id']} ended {job['state']}" + (f": {job['error']}" if job.get("error") else ""),
                      hint=f"logs: GET /v1/jobs/{job['id']}/logs/STEP")

