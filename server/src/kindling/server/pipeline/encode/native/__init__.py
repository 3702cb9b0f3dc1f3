"""The compiled gather (gather.c), when `make setup` has built it.

`gather` is None without the library: assemble.py then uses numpy, which
gives the same bytes, slower (see gather.c for the figures).
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

log = logging.getLogger(__name__)

LIBRARY = Path(__file__).with_name("libkindling_native.so")
_P = ctypes.c_void_p
_I64 = ctypes.c_int64


def _load() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        library = ctypes.CDLL(str(LIBRARY))
    except OSError:
        return None
    function = library.kindling_gather
    function.argtypes = [_I64, _P, _I64, _P, _P, _P, _P, _P]
    function.restype = _I64
    return function


gather = _load()
