"""`pipe publish`, `pipe endpoints`, `pipe serve`, `pipe invoke`, `pipe token` (docs/endpoints.md).

An adapter, for now: these commands still live in pipefile/cli_serve.py, which adds them
to a group through `register(...)`. This takes them off a scratch group, so that the
command table in `app` sees plain commands here like in every other module. When
cli_serve.py moves here as plain commands, it replaces this file and nothing else changes."""

from __future__ import annotations

import click

from ..cli_serve import register
from .guard import guard
from .options import CONTEXT, file_option

_registered = click.Group()
register(_registered, guard, CONTEXT, file_option)
publish, endpoints, serve, invoke, token = (_registered.commands[n]
                                            for n in ("publish", "endpoints", "serve", "invoke", "token"))
