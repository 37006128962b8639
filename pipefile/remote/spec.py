"""A remote as declared: its name, URL, storage options and the file that declared it
(`RemoteSpec`, frozen), the remotes a workspace knows (`RemoteConfig`), and the error a
remote's configuration raises. What each kind of URL needs is in `schemes`; the files
that declare remotes are read in `config`."""

from __future__ import annotations

from dataclasses import field
from typing import Optional

from ..errors import PipefileError
from ..lazyclass import dataclass
from ..printable import printable
from .urls import scheme_of, scrub_url


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
        # (both from a committed file: printed, never a terminal escape or a forged line)
        name, shown = printable(self.name), printable(self.shown)
        return f"remote '{name}' ({shown})" if name != shown else f"remote {shown}"


@dataclass
class RemoteConfig:
    remotes: dict  # name -> RemoteSpec, local file's winning
    default: Optional[str]
    default_file: str = ""  # the file whose `default:` it is (its errors name it)
