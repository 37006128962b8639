"""Remote configuration: which remotes a workspace knows, and which one is the default.

Two files, same format (REMOTES_VERSION 1), read together:

    .pipe-remotes.yaml   beside the Pipefile; meant to be committed, so that every clone
                         (a teammate's, CI's) knows the team's remotes
    .pipe/remotes.yaml   this workspace only (`pipe remote add --local`); its remotes
                         and default win over the committed file's

    version: 1
    default: team                 # optional
    remotes:
      team:
        url: s3://bucket/pipe-cache
        options: {endpoint_url: "http://127.0.0.1:9000"}   # fsspec storage options

Credentials never live in either file: they come from where each transport looks
(AWS_* variables and ~/.aws for s3, the ssh agent and ~/.ssh for sftp, ...). A URL
with a password is refused, and URLs are scrubbed before they are shown.
"""

from __future__ import annotations

import os
import re

# urllib.parse, difflib and importlib.util are imported where used: every `pipe run` reads the
# remotes config, and most have no remote, so the start-up does not pay for them.
from dataclasses import field
from typing import Optional

from .. import lazyre
from ..errors import PipefileError, SourceLoc, did_you_mean
from ..lazyclass import dataclass

REMOTES_VERSION = 1
SHARED_FILE = ".pipe-remotes.yaml"
LOCAL_FILE = os.path.join(".pipe", "remotes.yaml")

_NAME = lazyre.Pattern(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

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


class RemoteConfigError(PipefileError):
    pass


class MissingExtra(RemoteConfigError):
    """The remote's URL needs an fsspec implementation that is not installed."""


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str  # as configured: a path (relative to the workspace root) or scheme://...
    options: dict = field(default_factory=dict)
    source: str = ""  # the file it came from ("" for a URL given on the command line)

    @property
    def scheme(self) -> str:
        return scheme_of(self.url)

    @property
    def shown(self) -> str:
        return scrub_url(self.url)

    def describe(self) -> str:
        return f"remote '{self.name}' ({self.shown})" if self.name != self.shown else f"remote {self.shown}"


@dataclass
class RemoteConfig:
    remotes: dict  # name -> RemoteSpec, local file's winning
    default: Optional[str]


def scheme_of(url: str) -> str:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return m.group(1).lower() if m else "file"


def looks_like_url(text: str) -> bool:
    return "://" in text or text.startswith(("/", "./", "../", "~"))


def scrub_url(url: str) -> str:
    """The URL without a password or query string (tokens live there), for messages."""
    if "://" not in url:
        return url
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "?***" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) + query


def url_secrets(url: str) -> list:
    """Strings of a URL that must never be printed (a password, a query's values)."""
    out = []
    if "://" in url:
        import urllib.parse

        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            return [url]
        if parts.password:
            out.append(parts.password)  # as written (percent-encoded), decoded, and re-encoded
            out.append(urllib.parse.unquote(parts.password))
            out.append(urllib.parse.quote(urllib.parse.unquote(parts.password), safe=""))
        out += [v for _, v in urllib.parse.parse_qsl(parts.query) if len(v) >= 4]
    return out


def is_secret_option(key: str) -> bool:
    """A storage option that carries a credential (s3fs's key/secret, a password, a token)."""
    k = key.lower()
    if k.endswith(("filename", "_file", "_path")):
        return False
    return k in ("key", "secret") or any(
        w in k for w in ("password", "secret", "token", "passphrase", "access_key", "account_key", "sas")
    )


_MACHINE_KEYS = ("client_keys", "known_hosts", "ca_bundle", "ca_certs", "cert", "config", "ssh_config")


def machine_local_options(options: dict) -> list:
    """The storage options that name a path on this machine (an ssh key file, a CA bundle,
    a config file): true here, wrong on a teammate's machine or CI's, so not for the
    committed file."""
    out = []
    for key, value in options.items():
        k = key.lower()
        pathlike = isinstance(value, str) and value.startswith(("/", "~", "./", "../"))
        if k.endswith(("filename", "_file", "_path", "_dir")) or k in _MACHINE_KEYS or pathlike:
            out.append(key)
    return out


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
    module, pip_line, extra = SCHEMES[s]
    if module and importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"{spec.describe()} needs the '{module}' package for {s}:// URLs, and it is not installed",
            hint=f"install it: {pip_line}   (or pipefile's extra: pip install 'pipefile[{extra}]')",
        )


# --- reading and writing the files ---------------------------------------------------------
def _display(path: str) -> str:
    """The file as messages name it: relative to the workspace, as the user sees it."""
    return LOCAL_FILE if path.endswith(os.sep + LOCAL_FILE) else os.path.basename(path)


def _where(text: str, display: str, keys: tuple) -> SourceLoc:
    """Where the value under `keys` (mapping keys from the top) is written; as deep as found."""
    from ..load import yamlsafe

    loc = SourceLoc(display)
    try:
        node = yamlsafe.compose(text, display)
    except Exception:  # noqa: BLE001 - it loaded once already; a location is a nicety
        return loc
    for key in keys:
        if not isinstance(getattr(node, "value", None), list) or not node.value or not isinstance(node.value[0], tuple):
            break
        hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None)
        if hit is None:
            break
        loc = SourceLoc(display, hit[0].start_mark.line + 1, hit[0].start_mark.column + 1)
        node = hit[1]
    return loc


_PLAIN = (str, int, float, bool, type(None))


def _odd_value(value, depth: int = 0) -> Optional[str]:
    """What is wrong with an option's value for fsspec and for --json (None: plain data)."""
    if isinstance(value, _PLAIN):
        return None
    if depth > 20:
        return "is nested too deep"
    if isinstance(value, list):
        return next((w for w in (_odd_value(v, depth + 1) for v in value) if w), None)
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"has a key {k!r} that is not text"
            w = _odd_value(v, depth + 1)
            if w:
                return w
        return None
    return f"holds a {type(value).__name__} ({str(value)[:40]})"


def _read(path: str) -> dict:
    from ..load import yamlsafe

    display = _display(path)
    try:
        text = yamlsafe.decode(yamlsafe.read_file(path), display)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise RemoteConfigError(f"{path}: cannot be read: {e}", hint="fix or delete the file") from None
    except PipefileError as e:  # not a regular file, too big, not UTF-8
        raise RemoteConfigError(e.message, e.loc, e.hint) from None
    import yaml  # here: a workspace without remotes never loads it

    try:
        data = yamlsafe.load(text, display, forbid_nul=True) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is None:
            raise RemoteConfigError(f"{path}: cannot be read: {e}", hint="fix or delete the file") from None
        what = " ".join(filter(None, (getattr(e, "context", None), getattr(e, "problem", None))))
        raise RemoteConfigError(
            f"invalid YAML: {what}", SourceLoc(display, mark.line + 1, mark.column + 1), hint="fix or delete the file"
        ) from None
    except PipefileError as e:  # aliases expanding too far, too deep, a NUL
        raise RemoteConfigError(e.message, e.loc, e.hint or "fix or delete the file") from None

    def bad(
        message: str, *keys, hint: str = "fix the file, or remove the remote and add it again with `pipe remote add`"
    ):
        return RemoteConfigError(message, _where(text, display, keys), hint)

    # Every shape that the code using it could trip over is refused here, located (a committed
    # file comes with the checkout: an exit 70 deep in a command would be no help).
    if not isinstance(data, dict):
        raise bad("expected a mapping with 'remotes:'")
    v = data.get("version", REMOTES_VERSION)
    if type(v) is not int or v != REMOTES_VERSION:
        raise bad(
            f"version {str(v)[:40]} is not one this pipe reads ({REMOTES_VERSION})",
            "version",
            hint="upgrade pipe, or rewrite the file with `pipe remote add`",
        )
    default = data.get("default")
    if default is not None and not isinstance(default, (str, int)):
        raise bad("'default' must be the name of a remote", "default")
    remotes = data.get("remotes") or {}
    if not isinstance(remotes, dict):
        raise bad("'remotes' must be a mapping of name -> {url: ...}", "remotes")
    for name, r in remotes.items():
        if not isinstance(r, dict) or not isinstance(r.get("url"), str) or not r["url"]:
            raise bad(f"remote '{name}' needs a 'url' (a string)", "remotes", name)
        options = r.get("options", {}) or {}
        if not isinstance(options, dict):
            raise bad(f"the options of remote '{name}' must be a mapping", "remotes", name, "options")
        for k, value in options.items():
            if not isinstance(k, str):
                raise bad(
                    f"option {k!r} of remote '{name}' is not a name (option names are text)"[:200],
                    "remotes",
                    name,
                    "options",
                    k,
                    hint="write the option's name as text (fsspec's "
                    "storage options are keyword arguments), or remove it",
                )
            odd = _odd_value(value)
            if odd:
                raise bad(
                    f"option '{k}' of remote '{name}' {odd}: options are plain text, numbers, booleans, "
                    f"lists and mappings",
                    "remotes",
                    name,
                    "options",
                    k,
                    hint='quote the value if it is text ("2024-01-01"), or remove the option',
                )
    return data


def _paths(root: str) -> tuple:
    return os.path.join(root, SHARED_FILE), os.path.join(root, LOCAL_FILE)


def load(root: str) -> RemoteConfig:
    """Both files merged; the cost when neither exists is two failed opens."""
    remotes: dict = {}
    default = None
    for path in _paths(root):
        data = _read(path)
        for name, r in (data.get("remotes") or {}).items():
            remotes[str(name)] = RemoteSpec(
                str(name), r["url"], dict(r.get("options") or {}), os.path.relpath(path, root)
            )
        if data.get("default"):
            default = str(data["default"])
    return RemoteConfig(remotes, default)


def _write(path: str, data: dict) -> None:
    import tempfile  # here, not at the top: a no-op run writes nothing (start-up)

    import yaml

    header = (
        "# pipe remotes: edit with `pipe remote add/remove`. "
        + ("Commit this file; " if os.path.basename(path) == SHARED_FILE else "This workspace only; ")
        + "never put credentials here.\n"
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-remotes-")
    with os.fdopen(fd, "w") as f:
        f.write(header)
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def add(
    root: str, name: str, url: str, options: dict, make_default: bool, local: bool, replace: bool = False
) -> RemoteSpec:
    if not _NAME.match(name):
        raise RemoteConfigError(
            f"'{name}' is not a valid remote name", hint="use letters, digits, '_', '-' and '.', starting with a letter"
        )
    shared, local_path = _paths(root)
    path = local_path if local else shared
    spec = RemoteSpec(name, url, options, os.path.relpath(path, root))
    if scheme_of(url) not in SCHEMES:
        check_scheme(spec)  # raises with a did-you-mean
    if url_secrets(url) and not local:
        raise RemoteConfigError(
            f"the URL of remote '{name}' carries a password or token ({spec.shown})",
            hint="credentials never go into the committed .pipe-remotes.yaml: use an ssh key "
            "or agent, AWS_* variables or ~/.aws, or add it with --local",
        )
    secret = [k for k in options if is_secret_option(k)]
    if secret and not local:
        raise RemoteConfigError(
            f"option '{secret[0]}' of remote '{name}' is a credential",
            hint="credentials never go into the committed .pipe-remotes.yaml: use the "
            "environment (AWS_*, ...), ~/.aws, ssh keys, or add it with --local",
        )
    data = _read(path)
    remotes = dict(data.get("remotes") or {})
    if name in remotes and not replace:
        raise RemoteConfigError(
            f"remote '{name}' already exists in {spec.source} ({scrub_url(remotes[name]['url'])})",
            hint=f"remove it first (pipe remote remove {name}) or pass --force to replace it",
        )
    entry: dict = {"url": url}
    if options:
        entry["options"] = options
    remotes[name] = entry
    out = {"version": REMOTES_VERSION}
    default = data.get("default")
    if make_default:
        default = name
    if default:
        out["default"] = default
    out["remotes"] = remotes
    _write(path, out)
    return spec


def remove(root: str, name: str) -> list:
    """Remove `name` from both files; returns the files it was removed from."""
    removed = []
    for path in _paths(root):
        data = _read(path)
        remotes = dict(data.get("remotes") or {})
        if name not in remotes:
            continue
        del remotes[name]
        out = {"version": REMOTES_VERSION}
        if data.get("default") and data.get("default") != name:
            out["default"] = data["default"]
        out["remotes"] = remotes
        _write(path, out)
        removed.append(os.path.relpath(path, root))
    if not removed:
        known = list(load(root).remotes)
        raise RemoteConfigError(
            f"no remote '{name}'",
            hint=did_you_mean(name, known, "remote")
            or ("`pipe remote list` lists them" if known else "no remote is configured"),
        )
    return removed


def resolve(root: str, wanted: Optional[str]) -> Optional[RemoteSpec]:
    """The remote to use: `wanted` (a name, or a URL or path used as is), else the default,
    else None. A relative path is relative to the workspace root."""
    cfg = load(root)
    if wanted is None or wanted == "":
        if cfg.default is None:
            if wanted == "":  # `--remote` given without a name
                raise RemoteConfigError(
                    "--remote without a name, and no default remote is set",
                    hint="name one (--remote NAME), or set one: pipe remote add NAME URL --default",
                )
            return None
        if cfg.default not in cfg.remotes:
            raise RemoteConfigError(
                f"the default remote '{cfg.default}' is not defined",
                hint=did_you_mean(cfg.default, list(cfg.remotes), "remote") or "pipe remote add NAME URL --default",
            )
        spec = cfg.remotes[cfg.default]
    elif wanted in cfg.remotes:
        spec = cfg.remotes[wanted]
    elif looks_like_url(wanted):
        spec = RemoteSpec(scrub_url(wanted), wanted, {}, "")
    else:
        raise RemoteConfigError(
            f"no remote '{wanted}'",
            hint=did_you_mean(wanted, list(cfg.remotes), "remote")
            or "add it: pipe remote add NAME URL (or give a URL)",
        )
    check_scheme(spec)
    if spec.scheme == "file" and "://" not in spec.url:
        path = os.path.expanduser(spec.url)
        spec = RemoteSpec(spec.name, os.path.normpath(os.path.join(root, path)), spec.options, spec.source)
    return spec


def parse_options(items) -> dict:
    """KEY=VALUE pairs; values read as YAML scalars (2222 is a number, true a boolean)."""
    import yaml

    from ..load import yamlsafe

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise RemoteConfigError(f"option '{item}' is not KEY=VALUE", hint="e.g. -o endpoint_url=http://host:9000")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yamlsafe.load(v, f"option {k.strip()}") if v else ""
        except yaml.YAMLError:
            out[k.strip()] = v
        except PipefileError as e:
            raise RemoteConfigError(f"option '{item}': {e.message}", hint=e.hint) from None
    return out


def default_options(scheme: str) -> dict:
    """Short timeouts and few retries: an unreachable remote must fail in seconds, not minutes."""
    if scheme in ("s3", "s3a"):
        return {
            "config_kwargs": {
                "connect_timeout": 5,
                "read_timeout": 60,
                "retries": {"max_attempts": 2, "mode": "standard"},
            }
        }
    if scheme in ("sftp", "ssh"):
        return {"timeout": 10, "banner_timeout": 10, "auth_timeout": 15}
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
