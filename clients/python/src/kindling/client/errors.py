"""The errors of the kindling client library.

Every error the library raises on purpose is a :class:`KindlingError`:

- :class:`ServiceNotFound` when there is no socket at the path;
- :class:`RequestFailed` when a call fails, with the subclasses
  :class:`InvalidRequest` (the service rejected the request),
  :class:`ServiceUnavailable` (the service cannot be reached or went away),
  :class:`DeadlineExceeded` (a call's timeout expired),
  :class:`StreamOverflowed` (a stream that asked to be disconnected when its
  queue filled up was), :class:`StreamNotFound` (the stream to resume
  is gone), :class:`ConfigChanged` (a compare-and-set Configure found
  another generation) and :class:`PermissionDenied` (the caller may not
  make this call).

The gRPC error a :class:`RequestFailed` translates is its ``__cause__``.
"""

# The errors are named after the situation they report, not with an "Error"
# suffix: `except ServiceUnavailable:` reads as what happened.
# ruff: noqa: N818

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

__all__ = [
    "ConfigChanged",
    "DeadlineExceeded",
    "InvalidRequest",
    "KindlingError",
    "PermissionDenied",
    "RequestFailed",
    "ServiceNotFound",
    "ServiceUnavailable",
    "StreamNotFound",
    "StreamOverflowed",
]


class KindlingError(Exception):
    """The base class of the errors of the kindling client library."""


class ServiceNotFound(KindlingError):
    """There is no usable socket at the path the client was given.

    ``cause`` is the error of checking the path (a ``FileNotFoundError`` when
    it does not exist), or None when the path exists but is not a unix socket.
    """

    def __init__(self, socket: str, cause: OSError | None) -> None:
        self.socket = socket
        self.cause = cause
        super().__init__(self._message())

    @property
    def missing(self) -> bool:
        """Whether the path does not exist."""
        return isinstance(self.cause, FileNotFoundError)

    def _message(self) -> str:
        prefix = f"no kindling probe service at {self.socket}: "
        if self.cause is None:
            return prefix + "the path exists but is not a unix socket"
        if self.missing:
            return (
                prefix + 'the socket does not exist; start the service with "kindling-probe serve"'
            )
        return prefix + "cannot check the socket: " + describe_os_error(self.cause)


def describe_os_error(error: OSError) -> str:
    """Describe ``error`` in the words of the C library, lowercased like Go's.

    For example "permission denied" or "not a directory", without the path.
    """
    text = error.strerror or (errno.errorcode.get(error.errno or 0) or str(error))
    return text[:1].lower() + text[1:]


class RequestFailed(KindlingError):
    """A call to the probe service failed.

    ``code`` is the gRPC status code and ``details`` the message that came
    with it. ``started`` is False when the call failed because the client
    could not connect to the service, and True when the call had reached the
    service (for a stream: the failure happened in the middle of it).
    """

    def __init__(
        self, code: grpc.StatusCode, details: str, *, socket: str, started: bool = False
    ) -> None:
        self.code = code
        self.details = details
        self.socket = socket
        self.started = started
        super().__init__(self._message())

    def _message(self) -> str:
        return (
            f"the kindling probe service at {self.socket} failed the request: "
            f"{self.code.name}: {self.details}"
        )


class InvalidRequest(RequestFailed):
    """The service rejected the request as invalid (INVALID_ARGUMENT).

    ``details`` is the service's explanation, for example an unknown event
    name. An invalid request changes nothing.
    """

    def _message(self) -> str:
        return f"the kindling probe service at {self.socket} rejected the request: {self.details}"


class ServiceUnavailable(RequestFailed):
    """The service could not be reached, or went away during the call.

    The code is UNAVAILABLE, or CANCELLED when the service (not the client)
    ended the call. ``started`` tells the two situations apart: False means
    the service was not reachable (for example a stale socket file left
    behind by a stopped service), True that it stopped during the call, for
    example in the middle of a stream.
    """

    def _message(self) -> str:
        if self.started:
            return f"the kindling probe service at {self.socket} stopped ({self.details})"
        return f"the kindling probe service is not reachable at {self.socket} ({self.details})"


class DeadlineExceeded(RequestFailed):
    """The timeout given to the call expired before it finished (DEADLINE_EXCEEDED)."""

    def _message(self) -> str:
        return (
            f"the kindling probe service at {self.socket} did not finish in time ({self.details})"
        )


class StreamOverflowed(RequestFailed):
    """The stream's queue in the service filled up because it was read too
    slowly, and the stream had asked to be disconnected then
    (``OVERFLOW_POLICY_DISCONNECT``; the code is RESOURCE_EXHAUSTED). A
    resumable stream can be resumed (:meth:`ProbeClient.resume`): it reports
    what it lost meanwhile."""

    def _message(self) -> str:
        return f"the kindling probe service at {self.socket} ended the stream: {self.details}"


class StreamNotFound(RequestFailed):
    """The stream to resume is gone (NOT_FOUND): its resume window passed,
    or the service restarted. Start a new stream."""

    def _message(self) -> str:
        return f"the kindling probe service at {self.socket} cannot resume: {self.details}"


class ConfigChanged(RequestFailed):
    """A Configure with ``expected_generation`` found the configuration at
    another generation (FAILED_PRECONDITION): someone changed it since it
    was read. Read it again with :meth:`ProbeClient.get_config`; nothing
    was changed."""

    def _message(self) -> str:
        return f"the kindling probe service at {self.socket} changed nothing: {self.details}"


class PermissionDenied(RequestFailed):
    """The service does not let this caller make the call (PERMISSION_DENIED):
    Configure is for root and the service's admin group (``kindling-probe
    serve --admin-group``), reading for the socket's group. ``details`` says
    who may; nothing was changed."""

    def _message(self) -> str:
        return f"the kindling probe service at {self.socket} refused the call: {self.details}"
