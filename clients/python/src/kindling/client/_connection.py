"""Where the service is and how a channel reaches it (both clients use this)."""

from __future__ import annotations

import errno
import os
import stat
import urllib.parse
from collections.abc import Sequence
from typing import Any

from kindling.client.errors import ServiceNotFound

# The package exports these; the channel helpers are for the two clients.
__all__ = ["DEFAULT_SOCKET", "MAX_RECEIVE_MESSAGE_LENGTH", "SOCKET_ENV", "default_socket"]

#: The unix socket the probe service listens on unless told otherwise.
DEFAULT_SOCKET = "/run/kindling.sock"
#: The environment variable that overrides :data:`DEFAULT_SOCKET`.
SOCKET_ENV = "KINDLING_SOCKET"
#: The largest response the client accepts, in bytes.
MAX_RECEIVE_MESSAGE_LENGTH = 16 * 1024 * 1024

# gRPC waits up to 120 s between attempts to reconnect a channel whose
# service went away, and fails calls at once meanwhile; on a local socket an
# attempt costs nothing, so a restarted service is found again within 1 s.
_RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def default_socket() -> str:
    """Return ``$KINDLING_SOCKET``, or :data:`DEFAULT_SOCKET` when it is unset or empty."""
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def check_socket(socket: str) -> None:
    """Raise :class:`ServiceNotFound` unless ``socket`` is a path to a unix socket."""
    try:
        mode = os.stat(socket).st_mode
    except OSError as error:
        raise ServiceNotFound(socket, error) from error
    except ValueError as error:  # an embedded NUL byte
        cause = OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        raise ServiceNotFound(socket, cause) from error
    if not stat.S_ISSOCK(mode):
        raise ServiceNotFound(socket, None)


def channel_target(socket: str) -> str:
    """The gRPC target of the socket at this path."""
    # Quoted so that characters such as "?", "#" or "%" in the path are not
    # read as parts of a URI; gRPC decodes the path again.
    return "unix://" + urllib.parse.quote(os.path.abspath(socket), safe="/")


class SocketClient:
    """What both clients do with their socket: find it, check it, show it."""

    def __init__(self, socket_path: str | os.PathLike[str] | None) -> None:
        socket = os.fspath(socket_path) if socket_path is not None else default_socket()
        check_socket(socket)
        self._socket = socket
        self._target = channel_target(socket)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._socket!r})"

    @property
    def socket(self) -> str:
        """The socket path, as given."""
        return self._socket


def channel_options(extra: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The client's channel options, then the caller's ``extra`` ones."""
    return [
        ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_LENGTH),
        *_RECONNECT_OPTIONS,
        *extra,
    ]
