"""Reaching a Ray cluster's head before `ray.init` is asked to: ray.init, given an address
where no Ray head answers, or a head that refuses its authentication token, retries for
about 20 seconds (printing one line of Ray's own a second), then says only that it failed
to connect; given no address, it then starts a local instance instead, silently. Here each
is told in a second or two, naming what is wrong and the fix (exit 2)."""

from __future__ import annotations

import os
import socket
from typing import Optional

from ..errors import PipefileError

# An HTTP/2 client's first bytes: its preface and an empty SETTINGS frame.
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# A call every Ray head's GCS answers (the one a driver makes first), with an empty request.
_GCS_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"
TOKEN_HINT = (
    "set RAY_AUTH_MODE=token and give the cluster's token (`ray get-auth-token` on the head prints it) as "
    "RAY_AUTH_TOKEN, or in ~/.ray/auth_token (or a file RAY_AUTH_TOKEN_PATH names)"
)


def probe(address: str, seconds: float = 5.0, head: bool = False) -> None:
    """Raise OSError unless something listens at the address's host:port. `head`: and it
    answers as a Ray head's GCS (a gRPC server) does: ray.init, given the port of something
    else (the dashboard's, 8265), waits on it for minutes, saying nothing."""
    hostport = address.split("://", 1)[-1]
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        port_n = int(port)
    except ValueError:
        return
    with socket.create_connection((host.strip("[]"), port_n), timeout=seconds) as sock:
        if not head or "://" in address or _tls():
            return  # (a ray:// client address, or TLS: not plain gRPC, not checked)
        try:
            sock.sendall(_H2_HELLO)
            got = b""
            while len(got) < 9:  # the server's first frame's header: SETTINGS is type 4
                more = sock.recv(9 - len(got))
                if not more:
                    break
                got += more
        except OSError:
            got = b""
        if len(got) < 9 or got[3] != 4:
            raise OSError(_not_a_head(port_n))


def _not_a_head(port: int) -> str:
    return (
        f"something listens at port {port} but does not answer as a Ray head does (it is the port of "
        "something else: the dashboard's, a node's?)"
    )


def _tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "0") not in ("", "0")


def check_head(address: str, seconds: float = 5.0) -> None:
    """Ask the head at `address` (HOST:PORT, something gRPC listening: `probe` passed) what a
    driver asks it first, with the token Ray would send: raise OSError when it is no Ray
    head's GCS (another of Ray's ports), PipefileError when it refuses the token. Anything
    else (an answer, a slow head, an older Ray without tokens) is left to ray.init."""
    if _tls():
        return  # (a TLS channel needs Ray's certificates: left to ray.init)
    try:
        import grpc
    except ImportError:  # (Ray without its gRPC: nothing to ask with)
        return
    metadata = _token_metadata()
    channel = grpc.insecure_channel(address)
    try:
        call = channel.unary_unary(_GCS_CALL, request_serializer=None, response_deserializer=None)
        call(b"", timeout=seconds, metadata=metadata)
    except grpc.RpcError as e:
        code = e.code() if hasattr(e, "code") else None
        if code == grpc.StatusCode.UNIMPLEMENTED:
            raise OSError(_not_a_head(int(address.rpartition(":")[2]))) from None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise _refused(address, _token_source(bool(metadata))) from None
    finally:
        channel.close()


def _token_metadata() -> tuple:
    """The gRPC metadata Ray's driver would send: its token, where RAY_AUTH_MODE=token."""
    try:
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:  # an older Ray: no token authentication
        return ()
    from ray.exceptions import AuthenticationError

    try:
        return tuple(AuthenticationTokenLoader.instance().get_token_for_http_header().items())
    except AuthenticationError as e:  # RAY_AUTH_TOKEN_PATH unreadable, and the like
        raise auth_error(e) from None


def _token_source(sent: bool) -> str:
    """Where the token refused came from: "" when none was found, "not sent" when one is
    found but RAY_AUTH_MODE is not 'token' (Ray leaves it out). Asked only once refused: a
    token loaded regardless of the mode stays loaded, and the driver's own server then asks
    the workers for it (a cluster without tokens: every step's result refused, the run hung)."""
    if not sent:
        from ray._raylet import AuthenticationTokenLoader

        try:
            found = AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)
        except Exception:  # noqa: BLE001 - an unreadable file: as none
            found = False
        return "not sent" if found else ""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"the file RAY_AUTH_TOKEN_PATH names, {os.environ['RAY_AUTH_TOKEN_PATH']}"
    return "~/.ray/auth_token"


def _refused(address: str, source: str) -> PipefileError:
    where = f"the Ray cluster at {address} requires an authentication token (it runs with RAY_AUTH_MODE=token)"
    if source == "not sent":
        return PipefileError(
            f"{where}, and the token found here is not sent: RAY_AUTH_MODE is not 'token' here",
            hint="set RAY_AUTH_MODE=token (and check the token is the cluster's: `ray get-auth-token` on the head)",
        )
    if not source:
        return PipefileError(f"{where}, and none was given", hint=TOKEN_HINT)
    return PipefileError(
        f"{where}, and refused the one given (from {source}): it is not the cluster's", hint=TOKEN_HINT
    )


def auth_error(e: BaseException) -> PipefileError:
    """Ray's AuthenticationError (a token asked for here and none found, a token file that
    cannot be read) as a usage error: its first sentence, and the fix."""
    first = str(getattr(e, "message", "") or e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return PipefileError(
        f"cannot connect to Ray: {first}",
        hint=TOKEN_HINT + "; a cluster without token authentication needs none: unset RAY_AUTH_MODE",
    )


def auto_address() -> Optional[str]:
    """The HOST:PORT of the cluster running on this machine that ray.init(address="auto")
    would connect to, or None (none, or a Ray whose lookup differs: then ray.init alone)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address("auto")
    except Exception:  # noqa: BLE001 - none running (ConnectionError), or another Ray's internals
        return None
