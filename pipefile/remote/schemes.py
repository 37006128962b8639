"""The kinds of remote pipe reaches, by URL scheme: the fsspec implementation each needs
(and the extra that installs it), which are read-only, which write an object whole in
one PUT (object stores) rather than by temp file and rename (file systems), the timeouts
that make an unreachable one fail in seconds, and where each looks for credentials."""

from __future__ import annotations

# importlib.util, urllib.parse and difflib are imported where used (start-up: see urls.py).
from .. import names
from ..errors import seconds_from_env
from .spec import MissingExtra, RemoteConfigError, RemoteSpec
from .urls import raw_password

# scheme -> (python module it needs, the pip line that installs it, pipefile's extra)
SCHEMES = {
    "file": (None, None, None),
    "local": (None, None, None),
    "s3": ("s3fs", "pip install s3fs", "s3"),
    "s3a": ("s3fs", "pip install s3fs", "s3"),
    "sftp": ("paramiko", "pip install paramiko", "sftp"),
    "ssh": ("paramiko", "pip install paramiko", "sftp"),
    "gs": ("gcsfs", "pip install gcsfs", "gcs"),
    "gcs": ("gcsfs", "pip install gcsfs", "gcs"),
    "az": ("adlfs", "pip install adlfs", "azure"),
    "abfs": ("adlfs", "pip install adlfs", "azure"),
    "abfss": ("adlfs", "pip install adlfs", "azure"),
    "http": ("aiohttp", "pip install aiohttp", "http"),
    "https": ("aiohttp", "pip install aiohttp", "http"),
}
READ_ONLY_SCHEMES = frozenset({"http", "https"})
# Object stores: a PUT is atomic (the object appears whole or not at all) and there is no
# rename; everything else gets temp + rename.
ATOMIC_PUT_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def check_scheme(spec: RemoteSpec) -> None:
    """Unknown scheme, or its fsspec implementation not installed: an error with the fix."""
    import importlib.util
    import urllib.parse

    s = spec.scheme
    if s not in SCHEMES:
        import difflib

        close = difflib.get_close_matches(s, list(SCHEMES), n=1, cutoff=0.5)  # short words: a looser match
        raise RemoteConfigError(
            f"{spec.describe()}: unknown URL scheme '{s}://'",
            hint=(f"did you mean '{close[0]}'? " if close else "")
            + "use a path, s3://, sftp:// (or ssh://), gs://, az://, or http(s):// (read-only)",
        )
    if s in ("s3", "s3a") and "@" in urllib.parse.urlsplit(spec.url).netloc:
        # s3fs would take "KEY:SECRET@bucket" for a bucket name and echo it back in its error.
        raise RemoteConfigError(
            f"{spec.describe()}: an s3:// URL names a bucket, never credentials",
            hint="write s3://BUCKET/PREFIX and put the key in AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / ~/.aws/credentials)",
        )
    _refuse_raw_password(spec)
    module, pip_line, extra = SCHEMES[s]
    if module and importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"{spec.describe()} needs the '{module}' package for {s}:// URLs, and it is not installed",
            hint=f"install it: {pip_line}   (or pipefile's extra: pip install 'pipefile[{extra}]')",
        )


STALL_ENV = "PIPE_REMOTE_TIMEOUT"
STALL_SECONDS = 60.0


def stall_seconds() -> float:
    """How long a remote may send nothing, once connected, before it counts as unreachable
    ($PIPE_REMOTE_TIMEOUT, else 60 s): a server that accepts and then stalls (or an sftp
    server blocked on a FIFO) must not hang pipe."""
    return seconds_from_env(STALL_ENV, STALL_SECONDS, RemoteConfigError)


def _refuse_raw_password(spec: RemoteSpec) -> None:
    if raw_password(spec.url):  # "me:se/cret@host": the host would be "me" and its port "se"
        raise RemoteConfigError(
            f"{spec.describe()}: the password in its URL holds '/', '?' or '#', which end a URL's host",
            hint="percent-encode them in the URL (/ as %2F, ? as %3F, # as %23), or use a key: -o key_filename=PATH",
        )


_NEEDS_BUCKET = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_NEEDS_HOST = frozenset({"sftp", "ssh", "http", "https"})


def check_location(spec: RemoteSpec) -> None:
    """A URL that names no place is refused before anything is sent: `file://` alone would
    write into the folder pipe runs in, `sftp://` without a host failed deep in paramiko."""
    url = spec.url
    if not url.isascii() and not names.is_utf8(url):  # (kept in .pipe-remotes.yaml, UTF-8 text)
        raise RemoteConfigError(
            f"the URL of {spec.describe()} is not UTF-8 text (a folder name in it that is not UTF-8?)",
            hint="rename that folder to UTF-8 (convmv -f latin1 -t utf8 -r --notest FOLDER) and give its new path",
        )
    if "://" not in url:
        return
    import urllib.parse

    _refuse_raw_password(spec)  # (before urllib takes its password for a port)
    s = spec.scheme
    try:  # (the URL is never echoed: it may hold a password)
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:  # (its text may quote the netloc, password and all)
        raise RemoteConfigError(
            f"the URL of {spec.describe()} cannot be read as a URL (an unclosed '[', a port that is not a number?)",
            hint=f"write it as {s}://{_EXAMPLE.get(s, 'HOST/PATH')}",
        ) from None
    if s in ("file", "local"):
        missing = "path" if not (parts.netloc or parts.path) else None
        _refuse_an_odd_file_url(spec, url, parts.path)
        if parts.netloc and parts.netloc.lower() != "localhost":
            # `file://host/path` was read as the relative folder host/path, under the folder
            # pipe ran in: a push wrote there.
            raise RemoteConfigError(
                f"the URL of {spec.describe()} names the host '{parts.netloc}': a {s}:// URL names a "
                "path on this machine, after three slashes",
                hint=f"a {s}:// URL does not expand '~': give the path alone, {parts.netloc}{parts.path}"
                if parts.netloc.startswith("~")  # (file:///~/cache, the hint was, is the folder /~/cache)
                else f"write it as {s}:///{parts.netloc}{parts.path} (a folder here), or the path alone; "
                "another machine's folder is reached by sftp://HOST/PATH",
            )
    elif s in _NEEDS_BUCKET:
        missing = "bucket or container" if not parts.netloc else None
    elif s in _NEEDS_HOST:
        missing = "host" if not parts.hostname else None
        _refuse_a_dropped_part(spec, url)
    else:
        missing = None
    if missing:
        raise RemoteConfigError(
            f"the URL of {spec.describe()} names no {missing}",
            hint=f"write it as {s}://{_EXAMPLE.get(s, 'HOST/PATH')}",
        )


def _refuse_a_dropped_part(spec: RemoteSpec, url: str) -> None:
    """An sftp URL's '?' or '#', an http URL's '#': no part of the path, and never sent. sftp
    failed at the first push (exit 1: fsspec handed `url_fragment` to paramiko), and an http
    remote asked its root for every record (all "absent": an empty remote, exit 0). An http
    URL's query is sent with each request (connection.py)."""
    s = spec.scheme
    odd = "#" if "#" in url else "?" if "?" in url and s in ("sftp", "ssh") else None
    if odd is None:
        return
    if s in ("sftp", "ssh"):
        hint = "an sftp:// URL's path is taken as written: a folder whose name holds '?' or '#' cannot be one"
    else:
        hint = "remove the fragment (a '#' in the path is written %23)"
    raise RemoteConfigError(
        f"the URL of {spec.describe()} holds a '{odd}', which ends the URL's path: what follows is never sent",
        hint=hint,
    )


def _refuse_an_odd_file_url(spec: RemoteSpec, url: str, path: str) -> None:
    """A file URL whose path is not the folder it seems to name: a raw '?' or '#' starts a query
    or a fragment, which urllib drops (`file:///data/run#2` pushed into /data/run); an escape of a
    NUL was an exit 70, and one of bytes that are not UTF-8 became U+FFFD, another folder."""
    import urllib.parse

    s = spec.scheme
    if "?" in url or "#" in url:
        raise RemoteConfigError(
            f"the URL of {spec.describe()} holds a '{'?' if '?' in url else '#'}', which ends a {s}:// URL's path "
            "(what follows would be dropped, and another folder used)",
            hint="percent-encode them in the URL (? as %3F, # as %23), or give the path alone",
        )
    raw = urllib.parse.unquote_to_bytes(path)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if "\0" in decoded or raw and not decoded:
        raise RemoteConfigError(
            f"the URL of {spec.describe()} escapes "
            + ("a NUL (%00), which no path holds" if b"\0" in raw else "bytes that are not UTF-8 text"),
            hint="write the folder's name as UTF-8, percent-encoded as Path.as_uri() does, or give the path alone",
        )


_EXAMPLE = {
    "file": "/absolute/path",
    "local": "/absolute/path",
    "s3": "bucket/prefix",
    "s3a": "bucket/prefix",
    "gs": "bucket/prefix",
    "gcs": "bucket/prefix",
    "az": "container/prefix",
    "abfs": "container/prefix",
    "abfss": "container/prefix",
    "sftp": "user@host/path",
    "ssh": "user@host/path",
    "http": "host/path",
    "https": "host/path",
}


def default_options(scheme: str) -> dict:
    """Short timeouts and few retries: an unreachable remote must fail in seconds, not minutes;
    one that stops sending fails after stall_seconds()."""
    if scheme in ("s3", "s3a"):
        return {
            "config_kwargs": {
                "connect_timeout": 5,
                "read_timeout": stall_seconds(),
                "retries": {"max_attempts": 2, "mode": "standard"},
            }
        }
    if scheme in ("sftp", "ssh"):
        return {"timeout": 10, "banner_timeout": 10, "auth_timeout": 15}
    if scheme in ("http", "https"):
        import aiohttp  # (installed: check_scheme said so; fsspec's http imports it anyway)

        # aiohttp's own default waits 5 minutes for a whole request, and 30 s to connect.
        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(sock_connect=5, sock_read=stall_seconds())}}
    return {}


def auth_hint(scheme: str) -> str:
    if scheme in ("s3", "s3a"):
        return (
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / ~/.aws/credentials) to a key "
            "that may read and write the bucket"
        )
    if scheme in ("sftp", "ssh"):
        return (
            "load your key into ssh-agent, put it in ~/.ssh, or name it: pipe remote add NAME URL -o "
            "key_filename=PATH; check the user in the URL"
        )
    if scheme in ("gs", "gcs"):
        return "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"
    if scheme in ("az", "abfs", "abfss"):
        return "set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY"
    return "check the credentials this transport reads"
