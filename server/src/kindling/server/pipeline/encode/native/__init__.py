"""The compiled helpers of the event encoder (encode.c), when `make setup`
has built them.

`gather`, `varints` and `mask` are None without the library: the encoder
then uses numpy, which writes the same bytes, slower (encode.c has the
figures).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

LIBRARY = Path(__file__).with_name("libkindling_native.so")
_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_U64 = ctypes.c_uint64
_U8 = ctypes.c_uint8


def _load() -> tuple[Any, Any, Any]:
    try:
        library = ctypes.CDLL(str(LIBRARY))
    except OSError:
        return None, None, None
    gather = library.kindling_gather
    gather.argtypes = [_I64, _P, _I64, _P, _P, _P, _P, _P]
    gather.restype = _I64
    varints = library.kindling_varints
    varints.argtypes = [_I64, _P, _I64, _P, _P]
    varints.restype = None
    mask = library.kindling_mask
    mask.argtypes = [_I64, _P, _P, _P, _P, _P, _U64, _U8, _U8, _P, _P]
    mask.restype = _I64
    return gather, varints, mask


gather, varints, mask = _load()
