"""Encode kindling events (without their per-stream seq) for the rows of a
record batch, a column at a time.

An event is a concatenation of segments in field order: the timestamp, a
prefix shared by all events of a type (name, source, category), cpu, return
value and latency, the thread and fd sub-messages (shared by all events of a
thread or an fd, built by the tables), string attributes (per event),
numeric attributes (a column per attribute) and, last, the payload fields.
Scalars and numeric attributes are varint tables; shared pieces live once in
a PiecePool; one gather makes the bytes of every kept event.

The payload comes last so that a stream that did not ask for it can be sent
each event without it: the event's bytes up to where its payload starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from kindling.event.v1 import event_pb2
from kindling.server.catalog import AttrType, Catalog, EventSpec, RecordField
from kindling.server.pipeline.encode import wire
from kindling.server.pipeline.encode.assemble import PiecePool, Segments
from kindling.server.pipeline.text import AF_INET, AF_INET6, ip_text, sun_path
from kindling.server.record import KernelRecord, Records, Tails, take
from kindling.server.symbols import Symbols

_EVENT = wire.FieldNumbers(event_pb2.Event)
_ATTRIBUTE = wire.FieldNumbers(event_pb2.Attribute)
# AttrType's values are the names of the Attribute.value oneof's cases.
_ONEOF_FIELD = {kind: getattr(_ATTRIBUTE, kind.value) for kind in AttrType}
_ATTRIBUTES_TAG = wire.tag(_EVENT.attributes, wire.WIRE_LEN)
_PAYLOAD_TAG = wire.tag(_EVENT.payload, wire.WIRE_LEN)
_STRING_LIST = wire.FieldNumbers(event_pb2.StringList)


class StringSource(NamedTuple):
    """What an event's string attributes are made of: its path and the
    record fields they can come from."""

    path: bytes | None
    data: bytes | None
    family: int
    saddr: bytes
    daddr: bytes
    flags: int
    args: tuple[int, int, int, int]

    @classmethod
    def of(
        cls, record: KernelRecord | np.void, path: bytes | None, data: bytes | None
    ) -> StringSource:
        r = record if isinstance(record, KernelRecord) else KernelRecord._make(record.item())
        args = (r.arg0, r.arg1, r.arg2, r.arg3)
        return cls(path, data, r.family, r.saddr, r.daddr, r.flags, args)


_ARG_INDEX = {f"arg{i}": i for i in range(4)}
_SADDR_WORDS = {RecordField.ARG4.value: 0, RecordField.ARG5.value: 1}


def _string_value(plan: _AttributePlan, source: StringSource) -> bytes | None:
    """An attribute's text, or None when it has none."""
    column = plan.column
    if plan.symbols is not None:
        return _symbol(plan, source.args[_ARG_INDEX[column]] >> plan.shift & 0xFFFFFFFF)
    if column == RecordField.PEER.value:
        if source.family in (AF_INET, AF_INET6):
            return ip_text(source.family, source.daddr).encode()
        return wire.utf8(sun_path(source.path))
    if column == RecordField.LOCAL.value:
        return ip_text(source.family, source.saddr).encode()
    if column == RecordField.REMOTE.value:
        return ip_text(source.family, source.daddr).encode()
    raw = source.data if column == RecordField.DATA.value else source.path
    if plan.kind is AttrType.STRING_LIST:
        # NUL-terminated strings; the last may be cut short, without its NUL.
        values = (raw[:-1] if raw.endswith(b"\0") else raw).split(b"\0") if raw else []
        # Every value counts, empty ones too (str_field would leave them out).
        return b"".join(wire.message_field(_STRING_LIST.values, wire.utf8(v)) for v in values)
    return wire.utf8(raw.split(b"\0", 1)[0] if raw else b"")


def _symbol(plan: _AttributePlan, value: int) -> bytes | None:
    assert plan.symbols is not None
    name = plan.symbols.get(value)
    return None if name is None else wire.utf8(name)


_NET_FD_TYPES = frozenset(
    {
        event_pb2.FD_TYPE_IPV4_SOCKET,
        event_pb2.FD_TYPE_IPV6_SOCKET,
        event_pb2.FD_TYPE_NETLINK_SOCKET,
        event_pb2.FD_TYPE_OTHER_SOCKET,
    }
)
_IPC_FD_TYPES = frozenset({event_pb2.FD_TYPE_UNIX_SOCKET, event_pb2.FD_TYPE_PIPE})


class RowPieces:
    """For each row of a batch: whether it is delivered, and the pool ids of
    its shared pieces (-1 where it has none)."""

    def __init__(self, rows: int) -> None:
        self.keep = np.zeros(rows, dtype=bool)
        self.prefix = np.full(rows, -1, dtype=np.int64)
        self.thread = np.full(rows, -1, dtype=np.int64)
        self.fd = np.full(rows, -1, dtype=np.int64)
        self.strings = np.full(rows, -1, dtype=np.int64)
        # Event.category, which for I/O follows the fd (filters read it).
        self.category = np.zeros(rows, dtype=np.uint8)


@dataclass(frozen=True)
class _AttributePlan:
    """How to encode one attribute, worked out once per catalogue entry."""

    column: str  # a KernelRecord field, or a computed one (catalog.COMPUTED_FIELDS)
    kind: AttrType
    key_and_tag: bytes  # Attribute.key field + the value's oneof tag
    present_flag: int
    shift: int = 0
    bit: int = 0
    symbols: Symbols | None = None


def _plans(spec: EventSpec) -> list[_AttributePlan]:
    plans = []
    for attr in spec.attributes:
        wire_type = wire.WIRE_LEN if attr.type.textual else wire.WIRE_VARINT
        plans.append(
            _AttributePlan(
                column=attr.field.value,
                kind=attr.type,
                key_and_tag=(
                    wire.str_field(_ATTRIBUTE.key, attr.key)
                    + wire.tag(_ONEOF_FIELD[attr.type], wire_type)
                ),
                present_flag=attr.present_flag,
                shift=attr.shift,
                bit=attr.bit,
                symbols=attr.symbols,
            )
        )
    return plans


def _numeric_values(records: Records, plan: _AttributePlan) -> npt.NDArray[np.uint64]:
    """An attribute's column as protobuf encodes it: two's-complement uint64."""
    raw: npt.NDArray[np.uint64]
    if plan.column in _SADDR_WORDS:  # a generic syscall's arguments 5 and 6
        words = np.ascontiguousarray(records["saddr"]).view("<u8").reshape(-1, 2)
        raw = words[:, _SADDR_WORDS[plan.column]]
    else:
        raw = records[plan.column].astype(np.uint64, copy=False)
    if plan.shift:
        raw = raw >> np.uint64(plan.shift)
    if plan.bit:
        raw = raw & np.uint64(plan.bit)
    if plan.kind is AttrType.INT32:
        return raw.astype(np.uint32).view(np.int32).astype(np.int64).view(np.uint64)
    if plan.kind is AttrType.UINT32:
        return raw & np.uint64(0xFFFFFFFF)
    if plan.kind is AttrType.BOOL:
        nonzero: npt.NDArray[np.bool_] = raw != 0
        return nonzero.astype(np.uint64)
    return raw


class EventEncoder:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._prefix: dict[tuple[int, int], bytes] = {}
        self._strings: dict[int, list[_AttributePlan]] = {}
        self._numbers: dict[int, list[_AttributePlan]] = {}
        size = catalog.max_id + 1
        # Per event id: whether some string attribute is always present, and
        # the flags that make the others present.
        self._strings_always = np.zeros(size, dtype=bool)
        self._strings_flags = np.zeros(size, dtype=np.uint16)
        self._payload = np.zeros(size, dtype=bool)
        for spec in catalog.specs:
            self._payload[spec.id] = spec.payload
            for plan in _plans(spec):
                kind = self._strings if plan.kind.textual else self._numbers
                kind.setdefault(spec.id, []).append(plan)
                if plan.kind.textual:
                    if plan.present_flag:
                        self._strings_flags[spec.id] |= plan.present_flag
                    else:
                        self._strings_always[spec.id] = True

    @staticmethod
    def category(spec: EventSpec, fd_type: int) -> int:
        """The event's category: some follow their fd's type (NET for
        sockets, IPC for pipes and unix sockets)."""
        if spec.category_from_fd:
            if fd_type in _NET_FD_TYPES:
                return event_pb2.CATEGORY_NET
            if fd_type in _IPC_FD_TYPES:
                return event_pb2.CATEGORY_IPC
        return spec.category

    def prefix(self, spec: EventSpec, fd_type: int) -> bytes:
        """The name, source and category fields."""
        category = self.category(spec, fd_type)
        prefix = self._prefix.get((spec.id, category))
        if prefix is None:
            prefix = self._prefix[(spec.id, category)] = (
                wire.str_field(_EVENT.name, spec.name)
                + wire.uint_field(_EVENT.source, spec.source)
                + wire.uint_field(_EVENT.category, category)
            )
        return prefix

    def has_strings(self, event_id: int) -> bool:
        return event_id in self._strings

    def needs_strings(
        self, event_ids: npt.NDArray[np.intp], flags: npt.NDArray[np.uint16]
    ) -> npt.NDArray[np.bool_]:
        """Which rows have string attributes to encode."""
        needed: npt.NDArray[np.bool_] = self._strings_always[event_ids] | (
            (flags & self._strings_flags[event_ids]) != 0
        )
        return needed

    def strings(self, event_id: int, source: StringSource) -> bytes:
        """An event's string attributes (its path or peer address, as text)."""
        out = []
        for plan in self._strings.get(event_id, ()):
            if plan.present_flag and not source.flags & plan.present_flag:
                continue
            text = _string_value(plan, source)
            if text is None:
                continue
            payload = plan.key_and_tag + wire.varint(len(text)) + text
            out.append(_ATTRIBUTES_TAG + wire.varint(len(payload)) + payload)
        return b"".join(out)

    def encode(
        self, records: Records, data: Tails, pieces: RowPieces, pool: PiecePool
    ) -> tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64], Records, npt.NDArray[np.int64]]:
        """The kept rows' events back to back, where each starts (event i is
        blob[offsets[i] : offsets[i + 1]]), which rows they are (their
        indexes and the records themselves) and how many payload bytes end
        each one. `data` holds each row's data bytes."""
        kept = np.flatnonzero(pieces.keep)
        rows = take(records, kept)
        segments = Segments(len(kept))
        shared = pool.buffer()
        segments.add_table(*wire.varint_field_rows(rows["ts"], _EVENT.timestamp_ns))
        segments.add_pieces(shared, pieces.prefix[kept])
        segments.add_table(*wire.varint_field_rows(rows["cpu"].astype(np.uint64), _EVENT.cpu))
        returns = rows["ret"].view(np.uint64)
        segments.add_table(*wire.varint_field_rows(returns, _EVENT.return_value))
        segments.add_table(*wire.varint_field_rows(rows["latency_ns"], _EVENT.latency_ns))
        segments.add_pieces(shared, pieces.thread[kept])
        segments.add_pieces(shared, pieces.fd[kept])
        segments.add_pieces(shared, pieces.strings[kept])
        self._numeric_attributes(rows, segments)
        payload_sizes = self._payloads(rows, data[kept], segments)
        blob, offsets = segments.gather()
        return blob, offsets, kept, rows, payload_sizes

    def _payloads(self, rows: Records, data: Tails, segments: Segments) -> npt.NDArray[np.int64]:
        """Add the payload and payload_length fields of the rows that carry a
        payload; returns how many bytes of each row they take."""
        n = len(rows)
        sizes = np.zeros(n, dtype=np.int64)
        carried = self._payload[rows["event_id"]] & (rows["data_len"] > 0)
        if not carried.any():
            return sizes  # no segments: each costs the gather a step per row
        present = np.flatnonzero(carried)
        blobs = data[present].tolist()
        lengths = np.zeros(n, dtype=np.int64)
        lengths[present] = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        head, head_sizes = wire.varint_rows(lengths.astype(np.uint64))
        head = np.concatenate((np.full((n, 1), _PAYLOAD_TAG[0], dtype=np.uint8), head), axis=1)
        head_sizes = np.where(carried, head_sizes + 1, 0)
        starts = np.zeros(n, dtype=np.int64)
        if len(present) > 1:
            starts[present[1:]] = np.cumsum(lengths[present])[:-1]
        total = np.where(carried, rows["arg3"], np.uint64(0)).astype(np.uint64)
        tail, tail_sizes = wire.varint_field_rows(total, _EVENT.payload_length)
        segments.add_table(head, head_sizes)
        segments.add(np.frombuffer(b"".join(blobs), dtype=np.uint8), starts, lengths)
        segments.add_table(tail, tail_sizes)
        sizes += head_sizes + lengths + tail_sizes
        return sizes

    def _numeric_attributes(self, records: Records, segments: Segments) -> None:
        """Add each row's numeric Attribute fields as segment columns.

        Each event type's attributes are encoded for its own rows only (one
        numpy pass per attribute); since a row has one type, the types share
        columns: column k holds every row's k-th numeric attribute."""
        n = len(records)
        event_ids = records["event_id"]
        flags = records["flags"]
        columns: list[
            tuple[list[npt.NDArray[np.uint8]], npt.NDArray[np.int64], npt.NDArray[np.int64]]
        ] = []
        for event_id in np.unique(event_ids).tolist():
            plans = self._numbers.get(event_id)
            if not plans:
                continue
            rows = np.flatnonzero(event_ids == event_id)
            sub = take(records, rows)
            for k, plan in enumerate(plans):
                if k == len(columns):
                    columns.append(([], np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)))
                tables, starts, lengths = columns[k]
                varints, sizes = wire.varint_rows(_numeric_values(sub, plan))
                key = np.frombuffer(plan.key_and_tag, dtype=np.uint8)
                table = np.empty((len(rows), 2 + len(key) + varints.shape[1]), dtype=np.uint8)
                table[:, 0] = _ATTRIBUTES_TAG[0]
                table[:, 1] = len(key) + sizes  # always < 128: a one-byte length
                table[:, 2 : 2 + len(key)] = key
                table[:, 2 + len(key) :] = varints
                used = 2 + len(key) + sizes
                if plan.present_flag:
                    used = np.where((flags[rows] & plan.present_flag) != 0, used, 0)
                base = sum(len(t) for t in tables)
                starts[rows] = base + np.arange(len(rows), dtype=np.int64) * table.shape[1]
                lengths[rows] = used
                tables.append(table.reshape(-1))
        for tables, starts, lengths in columns:
            segments.add(np.concatenate(tables), starts, lengths)
