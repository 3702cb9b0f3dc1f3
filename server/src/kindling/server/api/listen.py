"""The service's unix socket: refuse a path another service holds, clear a
stale one, and publish the socket with its final mode in one rename, so no
client ever sees it with looser permissions (as Tetragon does)."""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import socket
import stat
import tempfile
from pathlib import Path

from kindling.server.errors import StartupError

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
# sizeof(sockaddr_un.sun_path) - 1 for the terminating NUL.
MAX_SOCKET_PATH = 107


def check_socket_path(path: Path) -> None:
    """Fail if no socket can be made at the path."""
    length = len(os.fsencode(path))
    if length > MAX_SOCKET_PATH:
        raise StartupError(
            f"the socket path {path} is {length} bytes long and unix sockets allow at most "
            f"{MAX_SOCKET_PATH}; choose a shorter path with --socket"
        )
    if not path.parent.is_dir():
        raise StartupError(
            f"the directory for the socket {path} does not exist; create it or choose "
            "another path with --socket"
        )
    mode = path.parent.stat().st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        log.warning(
            "the socket's directory %s is writable by every user, who could replace the "
            "socket; choose a directory only root can write with --socket",
            path.parent,
        )


def prepare_socket_path(path: Path) -> None:
    """Fail if the path is taken by a live service or by something that is not
    a socket; remove a stale socket left by a service that died."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise StartupError(
            f"{path} exists and is not a socket; remove it or choose another path with --socket"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError as error:
        if error.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise StartupError(
                f"cannot check whether {path} is in use ({error.strerror}); remove it or "
                "choose another path with --socket"
            ) from None
        log.info("removing stale socket %s left by a service that is gone", path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    finally:
        probe.close()
    raise StartupError(
        f"another service is already listening on {path}; stop it or choose another path "
        "with --socket"
    )


class PrivateBindPath:
    """A temporary path in a private (0700) directory next to the final socket.

    The gRPC server binds there; publish() sets the mode and renames the
    socket into place.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        try:
            self._dir = Path(tempfile.mkdtemp(prefix=".k", dir=final.parent))
        except OSError as error:
            raise StartupError(
                f"cannot create the socket in {final.parent} ({error.strerror}); choose a "
                "writable directory with --socket"
            ) from None
        self.path = self._dir / "s"
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            self.cleanup_dir()
            raise StartupError(
                f"the socket path {final} leaves no room for the temporary name the service "
                f"binds first ({self.path}); choose a shorter path with --socket"
            )
        self._inode: int | None = None

    def publish(self, mode: int = SOCKET_MODE, group: int | None = None) -> None:
        try:
            if group is not None:
                try:
                    os.chown(self.path, -1, group)
                except PermissionError:
                    self.cleanup_dir()
                    raise StartupError(
                        f"cannot give the socket to group {group} (--socket-group): that "
                        "needs the CAP_CHOWN capability, or a group the service's user is in"
                    ) from None
            os.chmod(self.path, mode)
            os.rename(self.path, self.final)
            self._inode = self.final.stat().st_ino
        except OSError as error:
            raise StartupError(
                f"cannot put the socket in place at {self.final} ({error.strerror}); choose "
                "another path with --socket"
            ) from None
        finally:
            self.cleanup_dir()

    def cleanup_dir(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    def remove_published(self) -> None:
        """Remove the socket at shutdown, unless someone replaced it since."""
        try:
            if self._inode is not None and self.final.stat().st_ino == self._inode:
                self.final.unlink()
        except FileNotFoundError:
            pass


def group_id(name: str, option: str) -> int:
    """The id of a group given by name (or number) with `option`."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise StartupError(
            f"{option}: there is no group named {name[:64]!r}; create it or name another"
        ) from None
