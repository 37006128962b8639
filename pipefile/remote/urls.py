"""A remote's URL as text: its scheme, whether a command-line word is one, and which of its
parts (and of its storage options) are credentials that are never shown or committed.

urllib.parse is imported where used: every `pipe run` reads the remotes files, and most
have no remote, so the start-up does not pay for it.
"""

from __future__ import annotations

import os
import re


def scheme_of(url: str) -> str:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return m.group(1).lower() if m else "file"


def file_url_path(url: str) -> str:
    """The path a `file://` (or `local://`) URL names: its percent-escapes decoded, as a file
    URL writes a space (`file:///mnt/My%20Drive`, what a browser or Path.as_uri() gives).
    (schemes.check_location has refused one naming another host.)"""
    import urllib.parse

    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)


def looks_like_url(text: str) -> bool:
    return "://" in text or text.startswith(("/", "./", "../", "~"))


def raw_password(url: str) -> str:
    """A password written raw with '/', '?' or '#' in it (`sftp://me:se/cret@host/path`):
    urllib ends the host at that character and finds no password, so it must be found by
    the '@' after it, and the "port" urllib sees then is no number. (`host:22/a@b` is a
    port and a path with '@' in it.)"""
    if "://" not in url:
        return ""
    rest = url.split("://", 1)[1]
    end = min([rest.find(c) for c in "/?#" if c in rest] or [len(rest)])
    if "@" in rest[:end] or "@" not in rest[end:] or ":" not in rest[:end]:
        return ""  # no userinfo, or one that urllib parses itself
    port = rest[:end].rsplit(":", 1)[1]
    if port.isascii() and port.isdigit():
        return ""  # a host and its port
    return rest.rsplit("@", 1)[0].split(":", 1)[1]


def scrub_url(url: str) -> str:
    """The URL without a password or query string (tokens live there), for messages."""
    if "://" not in url:
        return url
    raw = raw_password(url)
    if raw:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://{rest.split(':', 1)[0]}:***@{rest.rsplit('@', 1)[1]}"
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
    if not netloc:  # (urlunsplit writes `local:///x` as `local:/x`, read back as a relative path)
        return f"{parts.scheme}://{parts.path}{query}"
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
        raw = raw_password(url)
        if raw:
            out += [raw, urllib.parse.unquote(raw)]
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


def sftp_credentials(url: str) -> tuple:
    """(the URL without its user and password, {username, password} decoded). fsspec's sftp
    hands them to ssh as written, still percent-encoded: `me%40corp` or a password with `%2F`
    (as the docs tell one to write '@' and '/') could never log in."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, colon, password = userinfo.partition(":")
    found = {"username": urllib.parse.unquote(user)} if user else {}
    if colon:
        found["password"] = urllib.parse.unquote(password)
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), found


def known_secrets(url: str, options: dict) -> list:
    """Every text pipe knows to be a secret of a remote's (its URL's, its options', the cloud
    secret variables'): scrubbed from whatever a transport says."""
    vals = url_secrets(url)
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        v = os.environ.get(var)
        if v and len(v) >= 4:
            vals.append(v)
    for k, v in options.items():
        if is_secret_option(k) and isinstance(v, str) and len(v) >= 4:
            vals.append(v)
    return vals
