"""SubscribeResponse framing: every byte of a stream response but the events'
own, which the event encoder wrote once for all subscribers.

A response is the subscriber's events, each framed as an `events` entry with
its per-stream seq in front, its losses, the envelope fields every response
carries (node name, boot time, send time) and, for a resumable stream, its
id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf import timestamp_pb2

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.clock import boot_time_ns
from kindling.server.pipeline.encode import wire
from kindling.server.pipeline.encode.assemble import Segments
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.mask import EventMask
from kindling.server.pipeline.encode.masked import frame_masked
from kindling.server.pipeline.plan import PayloadMode

RESPONSE = wire.FieldNumbers(probe_pb2.SubscribeResponse)
_LOSS = wire.FieldNumbers(probe_pb2.Loss)
# Event.seq is written in front of the event's other fields, which keeps
# field order as long as seq has the lowest number (it does: 1).
_SEQ_TAG = wire.tag(wire.FieldNumbers(event_pb2.Event).seq, wire.WIRE_VARINT)
_EVENTS_TAG = wire.tag(RESPONSE.events, wire.WIRE_LEN)
assert len(_SEQ_TAG) == len(_EVENTS_TAG) == 1


@dataclass
class LossRecord:
    reason: int
    count: int
    first_seq: int = 0

    def encode(self) -> bytes:
        payload = (
            wire.uint_field(_LOSS.reason, self.reason)
            + wire.uint_field(_LOSS.count, self.count)
            + wire.uint_field(_LOSS.first_seq, self.first_seq)
        )
        return wire.message_field(RESPONSE.losses, payload)


def frame_response(
    events: bytes, losses: list[LossRecord], envelope: bytes, stream: bytes
) -> bytes:
    """A whole SubscribeResponse: framed events (frame_events), losses, the
    envelope, and the stream's id field (stream_id_field; empty bytes for a
    stream that is not resumable)."""
    return events + b"".join(loss.encode() for loss in losses) + envelope + stream


def stream_id_field(stream_id: str) -> bytes:
    return wire.str_field(RESPONSE.stream_id, stream_id) if stream_id else b""


def frame_events(
    batch: EventBatch,
    indexes: npt.NDArray[np.int64],
    first_seq: int,
    payload: PayloadMode = PayloadMode.ALL,
    fields: EventMask | None = None,
) -> tuple[bytes, npt.NDArray[np.int64]]:
    """SubscribeResponse.events entries for the chosen events, numbered from
    first_seq: for each, the events tag, the length, the seq field, then the
    event's shared bytes, without the payload fields unless `payload` keeps
    them, and with only the fields `fields` keeps when it is given. Built
    with one gather (or one pass of the mask), no per-event Python.
    Entry i is blob[offsets[i] : offsets[i + 1]]."""
    count = len(indexes)
    if not count:
        return b"", np.zeros(1, dtype=np.int64)
    starts = batch.offsets[indexes]
    sizes = batch.offsets[indexes + 1] - starts
    if batch.payload_sizes is not None and payload is not PayloadMode.ALL:
        cut = batch.payload_sizes[indexes]
        if payload is PayloadMode.SOCKETS and batch.payload_on_socket is not None:
            cut = np.where(batch.payload_on_socket[indexes], 0, cut)
        sizes = sizes - cut
    if fields is not None:
        rows = fields.rows_of(batch.event_ids[indexes])
        tags = (_EVENTS_TAG[0], _SEQ_TAG[0])
        return frame_masked(batch.blob, starts, sizes, rows, first_seq, fields, tags)
    seqs = np.arange(first_seq, first_seq + count, dtype=np.uint64)
    seq_table, seq_sizes = wire.varint_rows(seqs)
    entry_sizes = sizes + 1 + seq_sizes  # seq tag + seq varint + the event
    length_table, length_sizes = wire.varint_rows(entry_sizes.astype(np.uint64))
    ones = np.ones(count, dtype=np.int64)
    segments = Segments(count)
    segments.add_table(np.full((count, 1), _EVENTS_TAG[0], dtype=np.uint8), ones)
    segments.add_table(length_table, length_sizes)
    segments.add_table(np.full((count, 1), _SEQ_TAG[0], dtype=np.uint8), ones)
    segments.add_table(seq_table, seq_sizes)
    segments.add(np.frombuffer(batch.blob, dtype=np.uint8), starts, sizes)
    return segments.gather()


_TIMESTAMP = wire.FieldNumbers(timestamp_pb2.Timestamp)


class Envelope:
    """SubscribeResponse's common fields: node name and boot time, encoded
    once a second, and the time each response is sent."""

    def __init__(
        self,
        node_name: str,
        clock: Callable[[], float],
        boot_time: Callable[[], int] = boot_time_ns,
    ) -> None:
        self._node = wire.str_field(RESPONSE.node_name, node_name)
        self._clock = clock
        self._boot_time = boot_time
        self._until = 0.0
        self._bytes = b""

    def __call__(self) -> bytes:
        now = self._clock()
        if now >= self._until:
            boot = self._boot_time()
            stamp = wire.uint_field(_TIMESTAMP.seconds, boot // 1_000_000_000) + wire.uint_field(
                _TIMESTAMP.nanos, boot % 1_000_000_000
            )
            self._bytes = self._node + wire.message_field(RESPONSE.boot_time, stamp)
            self._until = now + 1.0
        sent = time.time_ns()
        sent_at = wire.uint_field(_TIMESTAMP.seconds, sent // 1_000_000_000) + wire.uint_field(
            _TIMESTAMP.nanos, sent % 1_000_000_000
        )
        return self._bytes + wire.message_field(RESPONSE.sent_at, sent_at)
