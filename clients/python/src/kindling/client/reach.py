"""Why the service's socket cannot be reached, told by the errno of a direct connect().

gRPC reports every failure to connect as UNAVAILABLE with a message of its
own; the commands connect once themselves first, so that they can say what
is wrong (and the Go command says the same, from the same errno values).
"""

from __future__ import annotations

import errno
import os
import socket
import stat

__all__ = ["unreachable"]

_START = '"kindling-probe serve"'
_POINT = "$KINDLING_SOCKET or --socket"


def unreachable(path: str) -> str | None:
    """One sentence saying why nothing serves on the unix socket ``path``, or None."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:  # an embedded NUL byte
        return _sentence(path, errno.EINVAL)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return (
                f"no kindling probe service at {path}: the socket does not exist; start the "
                f"service with {_START}, or point {_POINT} at its socket"
            )
        return _sentence(path, error.errno)
    if not stat.S_ISSOCK(mode):
        return f"no kindling probe service at {path}: the path exists but is not a unix socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(path)
        except TimeoutError:
            return None  # a busy service: let gRPC wait for it
        except OSError as error:
            return _sentence(path, error.errno)
    return None


def _sentence(path: str, code: int | None) -> str:
    if code == errno.ECONNREFUSED:
        return (
            f"no kindling probe service listens at {path} (a socket left behind by a service "
            f"that stopped); start it with {_START}, or point {_POINT} at a running one"
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"cannot connect to the kindling probe service at {path}: permission denied; run "
            "as a user allowed to use the socket (root or the socket's group)"
        )
    reason = os.strerror(code) if code else "unknown error"
    return (
        f"cannot connect to the kindling probe service at {path}: {reason[:1].lower()}{reason[1:]}"
    )
