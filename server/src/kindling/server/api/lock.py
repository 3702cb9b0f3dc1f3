"""One service per socket: an exclusive lock on a file beside the socket,
taken before the socket is touched or any program attached, and held for
the service's life. Two services started at the same instant on one path
cannot both pass it, as they could pass the "is someone listening?" check.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from kindling.server.errors import StartupError


def lock_path(socket_path: Path) -> Path:
    return socket_path.with_name(socket_path.name + ".lock")


class SocketLock:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.path = lock_path(socket_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                raise StartupError(
                    f"cannot create the socket in {self.path.parent} ({error.strerror}); "
                    "choose a writable directory with --socket"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StartupError(
                    f"another service is already listening on {self.socket_path}; stop it or "
                    "choose another path with --socket"
                ) from None
            # The holder before us may have removed the file after we opened
            # it: then our lock is on a file nobody else will open. Retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        """Remove the file, then let go (in this order: see acquire)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
