"""Protobuf wire-format primitives for the hot path.

Building a upb message per event costs several microseconds in Python; the
pipeline instead writes the few field types kindling events use directly and
caches the bytes that repeat (names, thread and fd sub-messages). Tests parse
the output with the generated classes and compare it with messages built the
ordinary way.
"""

from __future__ import annotations

from functools import cache

WIRE_VARINT = 0
WIRE_LEN = 2

_U64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """Encode a non-negative integer (< 2**64) as a base-128 varint."""
    if value < 0x80:
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


def bool_field(field_number: int, value: bool) -> bytes:
    return tag(field_number, WIRE_VARINT) + b"\x01" if value else b""


def len_field(field_number: int, payload: bytes) -> bytes:
    """A string, bytes or sub-message field; empty for an empty payload."""
    if not payload:
        return b""
    return tag(field_number, WIRE_LEN) + varint(len(payload)) + payload


def str_field(field_number: int, value: str) -> bytes:
    return len_field(field_number, value.encode())


def message_field(field_number: int, payload: bytes) -> bytes:
    """A sub-message field that is present even when all its fields are zero."""
    return tag(field_number, WIRE_LEN) + varint(len(payload)) + payload


def oneof_int_field(field_number: int, value: int) -> bytes:
    """An integer oneof case: always written, since a oneof records presence."""
    return tag(field_number, WIRE_VARINT) + varint(value & _U64)
