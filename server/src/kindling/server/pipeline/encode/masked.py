"""SubscribeResponse.events entries through a field mask (mask.py), written
from the events' shared bytes without decoding them.

The compiled helper (native/encode.c, kindling_mask) walks each event's
fields once and copies those the mask keeps. Without it numpy walks every
event in lock step, one pass per field position, and gathers the kept
fields with the entries' heads: the same bytes, slower (a unit test
compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kindling.server.pipeline.encode import native, wire
from kindling.server.pipeline.encode.assemble import Bytes, Ints, Segments
from kindling.server.pipeline.encode.mask import KEEP, WORDS, EventMask

# The most a head adds to an event: events tag, length, seq tag and seq.
_HEAD_BYTES = 22


class MalformedEventError(ValueError):
    """An event's bytes are not valid protobuf (never the encoder's)."""


def frame_masked(
    blob: bytes,
    starts: Ints,
    sizes: Ints,
    rows: Ints,
    first_seq: int,
    mask: EventMask,
    tags: tuple[int, int],
) -> tuple[bytes, Ints]:
    """Entry i is blob[starts[i] : starts[i] + sizes[i]] through mask row
    rows[i], with the events tag, its length and its seq (first_seq + i)
    in front (tags: the events tag and the seq tag, one byte each). Returns
    the entries back to back and where each starts, as frame_events does."""
    if native.mask is None:
        return frame_masked_numpy(blob, starts, sizes, rows, first_seq, mask, tags)
    count = len(starts)
    data = np.frombuffer(blob, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    if count and (int(starts.min()) < 0 or int((starts + sizes).max()) > len(data)):
        raise ValueError("an event lies outside the blob")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.empty(int(sizes.sum()) + _HEAD_BYTES * count, dtype=np.uint8)
    offsets = np.empty(count + 1, dtype=np.int64)
    total = native.mask(
        count,
        data.ctypes.data,
        starts.ctypes.data,
        sizes.ctypes.data,
        rows.ctypes.data,
        mask.rows.ctypes.data,
        first_seq,
        tags[0],
        tags[1],
        out.ctypes.data,
        offsets.ctypes.data,
    )
    if total < 0:
        raise MalformedEventError("an event is not valid protobuf")
    return out[:total].tobytes(), offsets


# -- numpy only ---------------------------------------------------------------------


def _varints(data: Bytes, at: Ints, end: Ints) -> tuple[npt.NDArray[np.uint64], Ints]:
    """The varint at each position (before its end): values and sizes."""
    values = np.zeros(len(at), dtype=np.uint64)
    sizes = np.zeros(len(at), dtype=np.int64)
    done = np.zeros(len(at), dtype=bool)
    for k in range(10):
        if done.all():
            break
        position = at + k
        reading = ~done & (position < end)
        if (reading != ~done).any():
            raise MalformedEventError("a varint runs past its message")
        byte = data[np.where(reading, position, 0)].astype(np.uint64)
        values |= np.where(reading, (byte & np.uint64(0x7F)) << np.uint64(7 * k), 0).astype(
            np.uint64
        )
        last = reading & (byte < 0x80)
        sizes[last] = k + 1
        done |= last
    if not done.all():
        raise MalformedEventError("a varint is longer than ten bytes")
    return values, sizes


@dataclass
class _Step:
    """The next field of each message still being walked."""

    owner: Ints  # which message
    start: Ints
    number: Ints
    wire_type: Ints
    tag_size: Ints
    body: Ints  # a length-delimited field's contents
    body_size: Ints
    size: Ints  # the whole field


def _walk(data: Bytes, begin: Ints, end: Ints) -> list[_Step]:
    """The fields of the messages data[begin[m] : end[m]], a step per field
    position: step s holds the s-th field of every message that has one."""
    steps = []
    owner = np.flatnonzero(begin < end)
    at, stop = begin[owner], end[owner]
    while len(owner):
        tag, tag_size = _varints(data, at, stop)
        number = (tag >> np.uint64(3)).astype(np.int64)
        wire_type = (tag & np.uint64(7)).astype(np.int64)
        if (number == 0).any() or not np.isin(wire_type, (0, 1, 2, 5)).all():
            raise MalformedEventError("a tag is not valid")
        after = at + tag_size
        body = after.copy()
        body_size = np.where(wire_type == 1, 8, 4)
        varint = wire_type == wire.WIRE_VARINT
        body_size[varint] = _varints(data, after[varint], stop[varint])[1]
        length = wire_type == wire.WIRE_LEN
        lengths, length_sizes = _varints(data, after[length], stop[length])
        body[length] += length_sizes
        if (lengths > (stop[length] - body[length]).astype(np.uint64)).any():
            raise MalformedEventError("a field runs past its message")
        body_size[length] = lengths.astype(np.int64)
        ends = body + body_size
        if (ends > stop).any():
            raise MalformedEventError("a field runs past its message")
        steps.append(_Step(owner, at, number, wire_type, tag_size, body, body_size, ends - at))
        more = ends < stop
        owner, at, stop = owner[more], ends[more], stop[more]
    return steps


class _Columns:
    """Segment columns of `rows` entries, each given for some rows only."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.columns: list[tuple[Bytes, Ints, Ints]] = []
        self.lengths = np.zeros(rows, dtype=np.int64)

    def add(self, data: Bytes, rows: Ints, starts: Ints, lengths: Ints) -> None:
        column_starts = np.zeros(self.rows, dtype=np.int64)
        column_lengths = np.zeros(self.rows, dtype=np.int64)
        column_starts[rows] = starts
        column_lengths[rows] = lengths
        self.columns.append((data, column_starts, column_lengths))
        self.lengths += column_lengths


def _kept_message_fields(
    data: Bytes, step: _Step, partial: npt.NDArray[np.bool_], words: npt.NDArray[np.uint64]
) -> _Columns:
    """Message fields kept in part: their tag, new length and kept fields,
    one row per such field."""
    body = step.body[partial]
    nested = _walk(data, body, body + step.body_size[partial])
    inner = _Columns(len(body))
    for field in nested:
        number = field.number.astype(np.uint64)
        bits = words[field.owner]
        beyond = field.number >= WORDS
        kept = beyond | ((bits >> np.where(beyond, 0, number) & np.uint64(1)) != 0)
        inner.add(data, field.owner[kept], field.start[kept], field.size[kept])
    length_table, length_sizes = wire.varint_rows(inner.lengths.astype(np.uint64))
    every = np.arange(len(body), dtype=np.int64)
    head = _Columns(len(body))
    head.add(data, every, step.start[partial], step.tag_size[partial])
    head.add(length_table.reshape(-1), every, every * length_table.shape[1], length_sizes)
    head.columns += inner.columns
    head.lengths += inner.lengths
    return head


def frame_masked_numpy(
    blob: bytes,
    starts: Ints,
    sizes: Ints,
    rows: Ints,
    first_seq: int,
    mask: EventMask,
    tags: tuple[int, int],
) -> tuple[bytes, Ints]:
    """frame_masked() with numpy only."""
    count = len(starts)
    if not count:
        return b"", np.zeros(1, dtype=np.int64)
    data = np.frombuffer(blob, dtype=np.uint8)
    ends = starts + sizes
    table = mask.rows[rows]
    whole = table[:, 0] != 0
    body = _Columns(count)
    every = np.arange(count, dtype=np.int64)
    body.add(data, every, starts, np.where(whole, sizes, 0))
    for step in _walk(data, np.where(whole, ends, starts), ends):
        beyond = step.number >= WORDS
        words = np.where(beyond, KEEP, table[step.owner, np.where(beyond, 0, step.number)])
        kept = (words == KEEP) | ((words != 0) & (step.wire_type != wire.WIRE_LEN))
        body.add(data, step.owner[kept], step.start[kept], step.size[kept])
        partial = (words != 0) & ~kept
        if partial.any():
            message = _kept_message_fields(data, step, partial, words[partial])
            owners = step.owner[partial]
            for source, column_starts, column_lengths in message.columns:
                body.add(source, owners, column_starts, column_lengths)
    seqs = np.arange(first_seq, first_seq + count, dtype=np.uint64)
    seq_table, seq_sizes = wire.varint_rows(seqs)
    entry_sizes = 1 + seq_sizes + body.lengths
    length_table, length_sizes = wire.varint_rows(entry_sizes.astype(np.uint64))
    ones = np.ones(count, dtype=np.int64)
    segments = Segments(count)
    segments.add_table(np.full((count, 1), tags[0], dtype=np.uint8), ones)
    segments.add_table(length_table, length_sizes)
    segments.add_table(np.full((count, 1), tags[1], dtype=np.uint8), ones)
    segments.add_table(seq_table, seq_sizes)
    for source, column_starts, column_lengths in body.columns:
        segments.add(source, column_starts, column_lengths)
    return segments.gather()
