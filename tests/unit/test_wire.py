"""The hand-written wire encoder against protobuf's own encoder."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kindling.event.v1 import event_pb2
from kindling.server.pipeline.encode import wire
from kindling.server.pipeline.encode.assemble import Segments

U64 = st.integers(min_value=0, max_value=2**64 - 1)
I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
I32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@given(U64)
def test_varint_matches_protobuf(value: int) -> None:
    encoded = wire.uint_field(5, value)  # Event.category is a varint field
    expected = event_pb2.Event(latency_ns=value).SerializeToString()
    assert wire.uint_field(8, value) == expected
    assert len(encoded) == len(expected)


@given(I64)
def test_signed_int64_matches_protobuf(value: int) -> None:
    assert wire.int_field(7, value) == event_pb2.Event(return_value=value).SerializeToString()


@given(st.text(max_size=300))
def test_strings_and_messages(text: str) -> None:
    endpoint = event_pb2.Endpoint(address=text, port=80)
    encoded = wire.str_field(1, text) + wire.uint_field(2, 80)
    assert encoded == endpoint.SerializeToString()
    fd = event_pb2.Fd(source=endpoint)
    assert wire.message_field(6, encoded) == fd.SerializeToString()


def test_defaults_are_omitted() -> None:
    assert wire.uint_field(1, 0) == b""
    assert wire.int_field(1, 0) == b""
    assert wire.str_field(1, "") == b""
    # An empty sub-message still marks the field as present.
    assert event_pb2.Event.FromString(wire.message_field(9, b"")).HasField("thread")


@given(st.lists(st.tuples(U64, I64, U64), max_size=50))
def test_column_encoding_matches_field_by_field(rows: list[tuple[int, int, int]]) -> None:
    cpu = np.array([r[0] for r in rows], dtype=np.uint64)
    ret = np.array([r[1] for r in rows], dtype=np.int64).view(np.uint64)
    latency = np.array([r[2] for r in rows], dtype=np.uint64)
    segments = Segments(len(rows))
    for column, number in ((cpu, 6), (ret, 7), (latency, 8)):
        segments.add_table(*wire.varint_field_rows(column, number))
    blob, offsets = segments.gather()
    for i, (c, r, lat) in enumerate(rows):
        expected = wire.uint_field(6, c) + wire.int_field(7, r) + wire.uint_field(8, lat)
        assert blob[offsets[i] : offsets[i + 1]] == expected


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50))
def test_compiled_and_numpy_varints_agree(values: list[int]) -> None:
    column = np.array(values, dtype=np.uint64)
    compiled = wire.varint_rows(column)
    numpy_only = wire.varint_rows_numpy(column)
    assert compiled[1].tolist() == numpy_only[1].tolist()
    for row, size in enumerate(compiled[1].tolist()):
        assert compiled[0][row, :size].tobytes() == numpy_only[0][row, :size].tobytes()
        assert compiled[0][row, :size].tobytes() == wire.varint(values[row])


def test_varints_of_a_strided_column() -> None:
    """A record field is a strided view: the compiled helper reads it in place."""
    from kindling.server.record import RECORD_DTYPE

    records = np.zeros(3, dtype=RECORD_DTYPE)
    records["ts"] = [1, 300, 2**40]
    table, sizes = wire.varint_rows(records["ts"])
    assert [table[i, : sizes[i]].tobytes() for i in range(3)] == [
        wire.varint(1),
        wire.varint(300),
        wire.varint(2**40),
    ]
