"""Symbolic names for the numbers events carry: errno values, signals and flags.

The values come from the C library through ``errno``, ``signal``, ``os`` and
``socket``; the Go client (``clients/go/kindling/symbols.go``) takes the same
names from golang.org/x/sys/unix, and the shared vectors in
``clients/testdata`` hold both to the same text.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from collections.abc import Callable, Sequence

__all__ = ["errno_name", "signal_name", "symbolic_attribute"]

# x/sys/unix spells these errno values differently from Python's errno.
_ERRNO_SPELLING = {"EDEADLOCK": "EDEADLK"}


def errno_name(value: int) -> str:
    """The errno name of ``value`` (``ENOENT`` for 2), or "" if it has none."""
    name = errno.errorcode.get(value, "")
    return _ERRNO_SPELLING.get(name, name)


def signal_name(value: int) -> str:
    """The name of a standard signal (``SIGKILL`` for 9), or "" for others."""
    if not 1 <= value <= 31:  # real-time signals have no fixed names
        return ""
    try:
        return signal.Signals(value).name
    except ValueError:
        return ""


def _table(module: object, names: str) -> list[tuple[str, int]]:
    # Names this platform lacks (or defines as 0) are left out.
    return [(name, getattr(module, name)) for name in names.split() if getattr(module, name, 0)]


# Composite flags (O_SYNC holds O_DSYNC's bit, O_TMPFILE O_DIRECTORY's) come first.
_OPEN_FLAGS = _table(
    os,
    "O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK O_SYNC O_DSYNC O_ASYNC O_DIRECT "
    "O_TMPFILE O_DIRECTORY O_NOFOLLOW O_NOATIME O_CLOEXEC O_PATH",
)
_ACCESS_MODES = {os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}
_SOCKET_FLAGS = _table(socket, "SOCK_NONBLOCK SOCK_CLOEXEC")
_SOCKET_TYPES = dict(
    (v, n) for n, v in _table(socket, "SOCK_STREAM SOCK_DGRAM SOCK_RAW SOCK_SEQPACKET")
)
_DOMAINS = dict((v, n) for n, v in _table(socket, "AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET"))
_MSG_FLAGS = _table(
    socket,
    "MSG_OOB MSG_PEEK MSG_DONTROUTE MSG_TRUNC MSG_DONTWAIT MSG_EOR MSG_WAITALL MSG_CONFIRM "
    "MSG_ERRQUEUE MSG_NOSIGNAL MSG_MORE MSG_FASTOPEN MSG_CMSG_CLOEXEC",
)
_SHUTDOWN = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}


def _bits(value: int, table: Sequence[tuple[str, int]], first: Sequence[str] = ()) -> str:
    parts = list(first)
    for name, bits in table:
        if value & bits == bits:
            parts.append(name)
            value &= ~bits
    if value:
        parts.append(hex(value))
    return "|".join(parts) or "0"


def _open_flags(value: int) -> str:
    mode = value & os.O_ACCMODE
    if mode not in _ACCESS_MODES:
        return _bits(value, _OPEN_FLAGS)
    return _bits(value & ~os.O_ACCMODE, _OPEN_FLAGS, [_ACCESS_MODES[mode]])


def _socket_type(value: int) -> str:
    kind = value & 0xF
    if kind not in _SOCKET_TYPES:
        return _bits(value, _SOCKET_FLAGS)
    return _bits(value & ~0xF, _SOCKET_FLAGS, [_SOCKET_TYPES[kind]])


def _mode(value: int) -> str:
    return f"0{value:o}" if value else "0"


def _named(names: dict[int, str]) -> Callable[[int], str]:
    return lambda value: names.get(value, "")


_OPEN = ("open", "openat", "openat2")
_MESSAGES = ("sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg")
_RENDERERS: dict[tuple[str, str], Callable[[int], str]] = {
    **{(event, "flags"): _open_flags for event in _OPEN},
    **{(event, "flags"): lambda v: _bits(v, _OPEN_FLAGS) for event in ("pipe2", "dup3")},
    ("accept4", "flags"): lambda v: _bits(v, _SOCKET_FLAGS),
    **{(event, "domain"): _named(_DOMAINS) for event in ("socket", "socketpair")},
    **{(event, "type"): _socket_type for event in ("socket", "socketpair")},
    **{(event, "flags"): lambda v: _bits(v, _MSG_FLAGS) for event in _MESSAGES},
    ("shutdown", "how"): _named(_SHUTDOWN),
    **{(event, "mode"): _mode for event in (*_OPEN, "creat", "mkdir", "mkdirat")},
    **{(event, "signal"): signal_name for event in ("kill", "tgkill", "process_exit")},
}


def symbolic_attribute(event: str, key: str, value: int) -> str:
    """The symbolic form of an integer attribute of an event, or "" if it has none.

    For example ``O_RDONLY|O_CLOEXEC`` for the ``flags`` of ``openat``,
    ``SOCK_STREAM|SOCK_CLOEXEC`` for the ``type`` of ``socket`` and
    ``SIGKILL`` for the ``signal`` of ``kill``; bits without a name follow
    in hex.
    """
    render = _RENDERERS.get((event, key))
    if render is None or value < 0:
        return ""
    return render(value)
