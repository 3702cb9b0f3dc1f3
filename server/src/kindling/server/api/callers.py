"""Who is calling: the credentials the kernel recorded for the other end of
the caller's connection (SO_PEERCRED, SO_PEERGROUPS), found through the
peer name the preloaded library (native/peername.c) gives each connection.

Credentials are those of the process when it connected, which a process
cannot forge; its command name is read when it is logged.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from kindling.server.api import native

PEER_PREFIX = "unix-abstract:kindling-peer:"
_UCRED = struct.Struct("3i")  # pid, uid, gid
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
# Enough for the groups of nearly every process; the kernel says ERANGE
# otherwise and the lookup asks again with room for NGROUPS_MAX.
_GROUPS_ROOM = 4 * 256
_NGROUPS_MAX = 65536


@dataclass(frozen=True)
class Caller:
    pid: int
    uid: int
    gid: int
    # The primary group and the supplementary ones.
    groups: frozenset[int]

    def comm(self) -> str:
        try:
            return Path(f"/proc/{self.pid}/comm").read_text().strip() or "?"
        except OSError:
            return "?"  # gone already

    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)

    def describe(self) -> str:
        """For logs: uid 1000 (alice) pid 4242 (python3)."""
        return f"uid {self.uid} ({self.user()}) pid {self.pid} ({self.comm()})"


def _groups(sock: socket.socket) -> tuple[int, ...]:
    for room in (_GROUPS_ROOM, 4 * _NGROUPS_MAX):
        try:
            data = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, room)
        except OSError as error:
            if error.errno == 34:  # ERANGE: more groups than room
                continue
            return ()
        return struct.unpack(f"{len(data) // 4}I", data)
    return ()


class CallerLookup:
    """Turns a call's context.peer() into the Caller, or None.

    `available` is False, with a reason, when callers cannot be told apart
    in this process (no library, or this gRPC shows other peer names); the
    server checks it at start with a call of its own (`confirm`).
    """

    def __init__(self, tag: str | None) -> None:
        self._prefix = f"{PEER_PREFIX}{tag}:" if tag else None
        self.available = tag is not None
        self.reason = "" if tag else self._missing()
        self._own_call_seen = False

    @classmethod
    def for_this_process(cls) -> CallerLookup:
        return cls(native.tag())

    @staticmethod
    def _missing() -> str:
        if not native.LIBRARY.is_file():
            return f"{native.LIBRARY.name} is not built (`make setup` builds it)"
        return (
            f"{native.LIBRARY.name} is not preloaded (start the service with kindling-probe serve)"
        )

    def identify(self, peer: str) -> Caller | None:
        if self._prefix is None or not peer.startswith(self._prefix):
            return None
        fd_text, _, inode_text = peer[len(self._prefix) :].partition(":")
        if not (fd_text.isdigit() and inode_text.isdigit()):
            return None
        caller = self._read(int(fd_text), int(inode_text))
        if caller is not None and caller.pid == os.getpid():
            self._own_call_seen = True
        return caller

    @staticmethod
    def _read(fd: int, inode: int) -> Caller | None:
        # A duplicate, checked after duplicating: fd may have been closed and
        # reused for another connection since the name was made.
        try:
            copy = os.dup(fd)
        except OSError:
            return None
        info = os.fstat(copy)
        if not stat.S_ISSOCK(info.st_mode) or info.st_ino != inode:
            os.close(copy)
            return None
        with contextlib.closing(socket.socket(fileno=copy)) as sock:
            try:
                pid, uid, gid = _UCRED.unpack(
                    sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
                )
            except OSError:
                return None
            groups = frozenset((gid, *_groups(sock)))
        return Caller(pid=pid, uid=uid, gid=gid, groups=groups)

    def confirm(self) -> None:
        """After a call of this process's own to the socket: whether it was
        recognised decides `available`."""
        if self.available and not self._own_call_seen:
            self.available = False
            self.reason = "this gRPC version does not pass on the peer names the library makes"
