"""Protobuf wire-format primitives for the hot path.

Building a upb message per event costs several microseconds in Python; the
pipeline instead writes the few field types kindling events use directly and
caches the bytes that repeat (names, thread and fd sub-messages). Tests parse
the output with the generated classes and compare it with messages built the
ordinary way.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from google.protobuf.message import Message

from kindling.server.pipeline.encode import native

WIRE_VARINT = 0
WIRE_LEN = 2


class FieldNumbers:
    """The field numbers of a generated message class, by field name.

    Encoders take their numbers from the contract's descriptors, so a field
    renumbered in the .proto cannot silently corrupt what they write.
    """

    def __init__(self, message: type[Message]) -> None:
        self._message = message.DESCRIPTOR.full_name
        for field in message.DESCRIPTOR.fields:
            # Plain attributes: the encoders read them on hot paths.
            setattr(self, field.name, field.number)

    def __getattr__(self, name: str) -> int:
        # Only reached for names that are not fields of the message.
        raise AttributeError(f"{self._message} has no field {name!r}")


_U64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """Encode a non-negative integer (< 2**64) as a base-128 varint."""
    if value < 0x80:
        if value < 0:
            raise ValueError(f"varints encode non-negative integers, not {value}")
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


@cache
def tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def uint_field(field_number: int, value: int) -> bytes:
    """A uint32/uint64/enum field; empty for 0 (proto3 omits defaults)."""
    if not value:
        return b""
    return tag(field_number, WIRE_VARINT) + varint(value)


def int_field(field_number: int, value: int) -> bytes:
    """An int32/int64 field; negatives take ten bytes, as protobuf requires."""
    if not value:
        return b""
    return tag(field_number, WIRE_VARINT) + varint(value & _U64)


def len_field(field_number: int, payload: bytes) -> bytes:
    """A string, bytes or sub-message field; empty for an empty payload."""
    if not payload:
        return b""
    return tag(field_number, WIRE_LEN) + varint(len(payload)) + payload


def utf8(value: str | bytes) -> bytes:
    """Valid UTF-8 for a protobuf string field.

    Kernel and /proc strings are bytes that need not be UTF-8 (a process can
    name itself anything); invalid sequences become U+FFFD, since a string
    field with invalid UTF-8 makes every client reject the whole message.
    Strings read with errors="surrogateescape" carry such bytes as surrogates.
    """
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape")
    try:
        value.decode()
    except UnicodeDecodeError:
        return value.decode("utf-8", "replace").encode()
    return value


def str_field(field_number: int, value: str | bytes) -> bytes:
    return len_field(field_number, utf8(value))


def message_field(field_number: int, payload: bytes) -> bytes:
    """A sub-message field that is present even when all its fields are zero."""
    return tag(field_number, WIRE_LEN) + varint(len(payload)) + payload


# -- whole columns at once ---------------------------------------------------------

_MAX_VARINT = 10
# Values from these up need one more byte: 2**7, 2**14, ..., 2**63.
_THRESHOLDS = np.array([1 << (7 * k) for k in range(1, _MAX_VARINT)], dtype=np.uint64)
_SHIFTS = np.arange(0, 7 * _MAX_VARINT, 7, dtype=np.uint64)
_COLUMNS = np.arange(_MAX_VARINT, dtype=np.int64)


def varint_rows(
    values: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Encode a column of uint64 values as varints: a (n, 10) byte table and
    each row's varint size. Signed values must be passed as their
    two's-complement uint64, as protobuf encodes negative integers."""
    v = values.astype(np.uint64, copy=False)
    if native.varints is not None and v.ndim == 1 and v.strides[0] > 0:
        table = np.empty((len(v), _MAX_VARINT), dtype=np.uint8)
        sizes = np.empty(len(v), dtype=np.int64)
        native.varints(len(v), v.ctypes.data, v.strides[0], table.ctypes.data, sizes.ctypes.data)
        return table, sizes
    return varint_rows_numpy(v)


def varint_rows_numpy(
    values: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """varint_rows() with numpy only."""
    v = values.astype(np.uint64, copy=False)
    sizes = np.searchsorted(_THRESHOLDS, v, side="right").astype(np.int64) + 1
    groups = (v[:, np.newaxis] >> _SHIFTS) & np.uint64(0x7F)
    more = (sizes - 1)[:, np.newaxis] > _COLUMNS
    table: npt.NDArray[np.uint8] = groups.astype(np.uint8) | (more.astype(np.uint8) << np.uint8(7))
    return table, sizes


def varint_field_rows(
    values: npt.NDArray[np.uint64], field_number: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Encode a column of values as varint fields (tag + varint), one row per
    value: a (n, 11) byte table and each row's used length, 0 for zero values
    (proto3 omits them)."""
    number_tag = field_number << 3 | WIRE_VARINT
    if number_tag >= 0x80:
        raise ValueError("only field numbers below 16 have one-byte tags")
    varints, sizes = varint_rows(values)
    table = np.empty((len(varints), 1 + _MAX_VARINT), dtype=np.uint8)
    table[:, 0] = number_tag
    table[:, 1:] = varints
    lengths = np.where(values == 0, 0, sizes + 1)
    return table, lengths
