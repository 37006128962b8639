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
with a password is refused, and URLs are scrubbed before they are shown (`urls`).

This module reads and checks (every error located in the file) the two files (`files` writes them), and
resolves which remote a command uses; a remote itself is `spec.RemoteSpec`, and what each
kind of URL needs is `schemes`. Nothing here imports yaml or urllib.parse until a file
exists or a URL is given: every `pipe run` reads the remotes, and most have none.
"""

from __future__ import annotations

import os
from typing import Optional

from .. import lazyre, shellquote
from ..errors import PipefileError, SourceLoc, did_you_mean
from ..printable import printable
from .files import LOCAL_FILE, SHARED_FILE, editing, write
from .schemes import SCHEMES, check_location, check_scheme
from .spec import MissingExtra, RemoteConfig, RemoteConfigError, RemoteSpec
from .urls import (
    file_url_path,
    is_secret_option,
    looks_like_url,
    machine_local_options,
    scheme_of,
    scrub_url,
    url_secrets,
)

# What the commands read from this module as `remotes_mod.NAME`, though another module owns it.
__all__ = [
    "MissingExtra",
    "RemoteConfig",
    "RemoteConfigError",
    "RemoteSpec",
    "add",
    "check_scheme",
    "default_overruled",
    "is_secret_option",
    "load",
    "machine_local_options",
    "parse_options",
    "remove",
    "resolve",
    "scrub_url",
]

REMOTES_VERSION = 1

_NAME = lazyre.Pattern(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NAME_RULE = "use letters, digits, '_', '-' and '.', starting with a letter"


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


_TOP_KEYS = ("version", "default", "remotes")
_REMOTE_KEYS = ("url", "options")


def _unknown_hint(key, known: tuple) -> str:
    near = did_you_mean(str(key), known)
    return f"{near + ' ' if near and near.startswith('did') else ''}the keys are {', '.join(known)}: fix or remove it"


def _read(path: str, unchecked: Optional[str] = None) -> dict:
    """The file's content, every remote's entry checked but `unchecked`'s ("*": none): a remote
    whose entry is broken can still be removed, or replaced with `pipe remote add --force`, as
    the errors about it say."""
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
    for key in data:
        if key not in _TOP_KEYS:  # (a typo, `remote:`, read as no remotes at all)
            raise bad(f"unknown key '{str(key)[:80]}'", str(key), hint=_unknown_hint(key, _TOP_KEYS))
    default = data.get("default")
    if default is not None and not isinstance(default, (str, int)):
        raise bad("'default' must be the name of a remote", "default")
    remotes = data.get("remotes") or {}
    if not isinstance(remotes, dict):
        raise bad("'remotes' must be a mapping of name -> {url: ...}", "remotes")
    for name, r in remotes.items():
        if unchecked == "*" or str(name) == unchecked:
            continue
        if not _NAME.match(str(name)):
            # (a hand-edited name `pipe remote add` refuses: "-x" reads as an option on every
            # command line that names it, a terminal escape rewrites what `remote list` shows)
            raise bad(
                f"'{printable(str(name))[:80]}' is not a valid remote name",
                "remotes",
                name,
                hint=f"rename it in the file ({_NAME_RULE}), or "
                + (
                    f"remove it: pipe remote remove -- {shellquote.write_path(str(name), shellquote.UNQUOTED)}"
                    if str(name).isprintable()
                    else "delete its entry"
                ),
            )
        if not isinstance(r, dict) or not isinstance(r.get("url"), str) or not r["url"].strip():
            raise bad(
                f"remote '{name}' needs a 'url' (a string)",
                "remotes",
                name,
                hint=f"fix the file, or replace the remote: pipe remote add {name} URL --force",
            )
        for key in r:
            if key not in _REMOTE_KEYS:  # (a typo, `option:`, dropped the options without a word)
                raise bad(
                    f"remote '{name}' has an unknown key '{str(key)[:80]}'",
                    "remotes",
                    name,
                    str(key),
                    hint=_unknown_hint(key, _REMOTE_KEYS),
                )
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
    default_file = ""
    for path in _paths(root):
        data = _read(path)
        for name, r in (data.get("remotes") or {}).items():
            remotes[str(name)] = RemoteSpec(
                str(name), r["url"], dict(r.get("options") or {}), os.path.relpath(path, root)
            )
        if data.get("default"):
            default, default_file = str(data["default"]), path
    return RemoteConfig(remotes, default, default_file)


def add(
    root: str, name: str, url: str, options: dict, make_default: bool, local: bool, replace: bool = False
) -> RemoteSpec:
    if not _NAME.match(name):
        raise RemoteConfigError(f"'{name}' is not a valid remote name", hint=_NAME_RULE)
    shared, local_path = _paths(root)
    path = local_path if local else shared
    spec = RemoteSpec(name, url, options, os.path.relpath(path, root))
    if not url.strip():
        raise RemoteConfigError(
            f"the URL of remote '{name}' is empty",
            hint="give where the remote is: a path, s3://bucket/prefix, sftp://user@host/path, ...",
        )
    if scheme_of(url) not in SCHEMES:
        check_scheme(spec)  # raises with a did-you-mean
    check_location(spec)
    _refuse_a_file(root, spec)
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
    with editing(root):  # (read, changed and written by one command at a time)
        data = _read(path, unchecked=name if replace else None)
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
        out: dict = {"version": REMOTES_VERSION}
        default = data.get("default")
        if make_default:
            default = name
        if default:
            out["default"] = default
        out["remotes"] = remotes
        write(path, out)
    return spec


def _refuse_a_file(root: str, spec: RemoteSpec) -> None:
    """A path remote that is (or runs through) a plain file: its first push or pull would fail,
    so it is refused when added. A folder not made yet is fine (the first push makes it)."""
    if spec.scheme not in ("file", "local"):
        return
    url = spec.url
    path = os.path.normpath(file_url_path(url) if "://" in url else os.path.join(root, os.path.expanduser(url)))
    there = path
    while not os.path.lexists(there) and os.path.dirname(there) != there:
        there = os.path.dirname(there)
    if os.path.isdir(there) or not os.path.exists(there):
        return  # (a link to nothing yet, a disk not mounted: taken, as before)
    what = "a file" if os.path.isfile(there) else "not a folder"
    on_way = "" if there == path else f", so {path} cannot be a folder"
    raise RemoteConfigError(
        f"remote '{spec.name}': {there} is {what}{on_way}: a remote on this machine is a folder",
        hint="give a folder's path (a new one, made by the first push, or one pipe pushed to), "
        f"e.g. pipe remote add {spec.name} /path/to/folder",
    )


def remove(root: str, name: str) -> list:
    """Remove `name` from both files; returns the files it was removed from."""
    removed = []
    known: list = []
    with editing(root):
        for path in _paths(root):
            data = _read(path, unchecked="*")
            remotes = dict(data.get("remotes") or {})
            known += [str(n) for n in remotes]
            if name not in remotes:
                continue
            del remotes[name]
            out: dict = {"version": REMOTES_VERSION}
            if data.get("default") and data.get("default") != name:
                out["default"] = data["default"]
            out["remotes"] = remotes
            write(path, out)
            removed.append(os.path.relpath(path, root))
    if not removed:
        raise RemoteConfigError(
            f"no remote '{name}'",
            hint=did_you_mean(name, known, "remote")
            or ("`pipe remote list` lists them" if known else "no remote is configured"),
        )
    return removed


def default_overruled(root: str, name: str) -> Optional[RemoteConfigError]:
    """Where `name`, just made the committed file's default, is not the default in this workspace
    (this workspace's file sets another, and wins): said, located, rather than "the default"."""
    cfg = load(root)
    if cfg.default in (None, name):
        return None
    return RemoteConfigError(
        f"this workspace's default remote stays '{printable(cfg.default)}', set here: it wins over "
        f"the committed file's '{name}'",
        _default_loc(cfg.default_file),
        hint=f"to use '{name}' here, delete that line (or pass --remote {name})",
    )


def _default_loc(path: str) -> Optional[SourceLoc]:
    """Where `default:` is written in `path` (None if it cannot be read again)."""
    from ..load import yamlsafe

    try:
        text = yamlsafe.decode(yamlsafe.read_file(path), _display(path))
    except (OSError, PipefileError):
        return None
    return _where(text, _display(path), ("default",))


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
                _default_loc(cfg.default_file),
                hint=f"write a defined remote's name there, or add that one (pipe remote add {cfg.default} URL); "
                + (did_you_mean(cfg.default, list(cfg.remotes), "remote") or "no remote is defined"),
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
    check_location(spec)
    if spec.scheme == "file" and "://" not in spec.url:
        path = os.path.expanduser(spec.url)
        spec = RemoteSpec(spec.name, os.path.normpath(os.path.join(root, path)), spec.options, spec.source)
    elif spec.scheme in ("file", "local"):
        spec = RemoteSpec(spec.name, os.path.normpath(file_url_path(spec.url)), spec.options, spec.source)
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
        if not k.strip().isidentifier():  # (was written to the file as is: '' or 'a b', never usable)
            raise RemoteConfigError(
                f"option '{item}': '{k.strip()}' is not an option name",
                hint="storage options are fsspec's keyword arguments (letters, digits and '_'), "
                "e.g. -o endpoint_url=http://host:9000",
            )
        try:
            out[k.strip()] = yamlsafe.load(v, f"option {k.strip()}") if v else ""
        except yaml.YAMLError:
            out[k.strip()] = v
        except PipefileError as e:
            raise RemoteConfigError(f"option '{item}': {e.message}", hint=e.hint) from None
    return out
