"""What `pipe serve` and `pipe ui` both need of uvicorn to stay reachable: a bound on the
connections they hold, and closing those on which no request comes. Without them a client
opening connections and sending nothing (or a byte a minute) held each for ever, until the
server had no file left to accept with and answered no one until they went away."""

from __future__ import annotations

from typing import Any, Optional

from ..leases import FILES_KEPT, FILES_PER_TASK, files_open_now, open_file_limit

BACKLOG = 2048  # uvicorn's default: where there is no open-file limit
# Steps each job a server runs at once has room for at least, before connections get the rest.
LEAST_TASKS = 4
# Files one connection may hold: its socket, and the file its answer streams (a log, an output).
FILES_PER_CONNECTION = 2
# Files the request threads keep (anyio's 40, each with the job database and its journal open).
THREAD_FILES = 40 * 2


def connection_limits(max_connections: Optional[int] = None, runs: int = 0) -> tuple:
    """(connections held at once, connections accepted at once) within the open-file limit,
    once the request threads' files are counted and `runs` jobs that run in this process at
    once (pipe serve's workers) are each left room for LEAST_TASKS steps (leases.share_open_files
    then gives them what the connections leave: `files_held`).
    Held: `max_connections`, or three quarters of what the limit leaves, at FILES_PER_CONNECTION
    each (a client reading a log slowly holds the log open too), at least 16.
    Accepted at once: asyncio takes up to uvicorn's backlog from the queue in one go, each a
    file until the cap closes it, so with the default backlog (2048) clients queued past the
    cap took the last files: accept failed with "Too many open files", logged once per queued
    client. The backlog is kept to half of what the limit leaves past the cap."""
    soft = open_file_limit()
    if soft is None:
        return max_connections or 1 << 16, BACKLOG
    room = soft - files_open_now() - THREAD_FILES - runs * (FILES_KEPT + FILES_PER_TASK * LEAST_TASKS)
    cap = max_connections or max(16, room * 3 // 4 // FILES_PER_CONNECTION)
    return cap, max(8, min(BACKLOG, (room - cap * FILES_PER_CONNECTION) // 2))


def files_held(cap: int, backlog: int) -> int:
    """Files the server may hold besides its jobs' with `cap` connections and `backlog`."""
    return THREAD_FILES + cap * FILES_PER_CONNECTION + backlog


def held_in_check(head_timeout: float, cap: int):
    """uvicorn's HTTP protocol, with two limits it lacks: a connection on which no request
    began (its head, the request line and headers, all in) in the last `head_timeout` seconds
    and none runs is closed (looked at every `head_timeout`); and a connection past the `cap`
    one is closed as it opens."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class HeldInCheck(base):
        _watch = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > cap:
                transport.close()  # (uvicorn's connection_lost forgets it)
                return
            self._arm()

        def _arm(self) -> None:
            self._watch = self.loop.call_later(head_timeout, self._check, self.cycle)

        def _check(self, cycle) -> None:
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # (gone, or handed over: an upgrade to another protocol watches itself)
            if self.cycle is cycle and (cycle is None or cycle.response_complete):
                self.transport.close()  # nothing began since it was armed, and nothing runs
            else:
                self._arm()  # (a request running or begun: looked at again later)

        def connection_lost(self, exc) -> None:
            if self._watch is not None:
                self._watch.cancel()
            super().connection_lost(exc)

    return HeldInCheck
