"""The peer-name library (peername.c): preloaded into `kindling-probe serve`
so that request handlers can tell which connection, and so which caller, a
call came from.

The dynamic linker takes a preload only at exec, so `serve` executes itself
once more with the library in LD_PRELOAD (`preload_self`); the service then
drops the variable (`forget_preload`) so that nothing it starts inherits it.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

LIBRARY = Path(__file__).with_name("libkindling_peername.so")
# Set for the exec, so that a preload the linker ignores is tried only once.
_TRIED = "KINDLING_PEERNAME_PRELOADED"


def loaded() -> bool:
    """Whether the library is mapped into this process."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return str(LIBRARY.resolve()) in maps


def preload_self() -> None:
    """Execute this command again with the library preloaded, when it is
    built and not loaded yet; return when there is nothing to do."""
    if not LIBRARY.is_file() or loaded() or os.environ.get(_TRIED):
        return
    env = dict(os.environ)
    env[_TRIED] = "1"
    env["LD_PRELOAD"] = " ".join(filter(None, (str(LIBRARY.resolve()), env.get("LD_PRELOAD"))))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def forget_preload() -> None:
    """Leave LD_PRELOAD as it was before preload_self."""
    os.environ.pop(_TRIED, None)
    ours = str(LIBRARY.resolve())
    rest = [p for p in os.environ.get("LD_PRELOAD", "").split() if p != ours]
    if rest:
        os.environ["LD_PRELOAD"] = " ".join(rest)
    else:
        os.environ.pop("LD_PRELOAD", None)


def tag() -> str | None:
    """The tag this start's peer names carry; None without the library."""
    if not loaded():
        return None
    library = ctypes.CDLL(str(LIBRARY.resolve()))  # the copy already mapped
    library.kindling_peer_tag.restype = ctypes.c_char_p
    value: bytes | None = library.kindling_peer_tag()
    return value.decode() if value else None
