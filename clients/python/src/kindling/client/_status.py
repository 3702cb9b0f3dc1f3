"""gRPC failures as the library's typed errors (both clients use this)."""

from __future__ import annotations

import grpc

from kindling.client.errors import (
    ConfigChanged,
    DeadlineExceeded,
    InvalidRequest,
    PermissionDenied,
    RequestFailed,
    ServiceUnavailable,
    StreamNotFound,
    StreamOverflowed,
)

__all__ = ["status", "translate"]

_ERRORS: dict[grpc.StatusCode, type[RequestFailed]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
    grpc.StatusCode.CANCELLED: ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: StreamOverflowed,
    grpc.StatusCode.NOT_FOUND: StreamNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: ConfigChanged,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}

# How grpc-core words an RPC that failed because the channel could not
# connect: the socket refuses connections, or the peer is not a gRPC server.
_CONNECT_FAILED = "failed to connect to all addresses"


def status(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The status code and message of a failed call."""
    # The errors grpc raises for calls (sync and asyncio) implement
    # code() and details(); a bare RpcError (raised by an interceptor, say)
    # may not.
    code = getattr(error, "code", None)
    details = getattr(error, "details", None)
    found = code() if callable(code) else grpc.StatusCode.UNKNOWN
    message = details() if callable(details) else str(error)
    return found, message or ""


def translate(error: grpc.RpcError, socket: str, *, received: bool = False) -> RequestFailed:
    """The :class:`RequestFailed` (or subclass) that describes ``error``.

    ``received`` says whether the call had received a response.
    """
    code, details = status(error)
    # The call had reached the service unless the channel never connected.
    started = received or _CONNECT_FAILED not in details
    return _ERRORS.get(code, RequestFailed)(code, details, socket=socket, started=started)
