"""Field masks: which fields of kindling.event.v1.Event a stream's events
keep (SubscribeRequest.fields), compiled into tables the framing reads.

A mask works on field numbers, on the bytes the event encoder wrote for
every subscriber (masked.py applies it). A rule keeps or drops whole Event
fields, or fields of one of Event's message fields (thread, fd): one level,
which is as deep as the collectors' needs go and what one copy pass can do.

The compiled form is one row per distinct rule, 64 uint64 words, word f for
Event field f: 0 drops the field, KEEP keeps it whole, anything else is a
message field kept with the fields whose bits are set (bit k: field k).
Word 0 says whether the row keeps everything, which is then one copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kindling.event.v1 import event_pb2
from kindling.server.errors import shown

# A row's words: one per field number below 64. Fields numbered 64 and up
# (no Event, Thread or Fd field is) are kept whatever the mask says.
WORDS = 64
KEEP = np.uint64((1 << 64) - 1)
# A message field kept with all of its fields but some: bit 0 clear.
_ALL_NESTED = (1 << 64) - 2

_EVENT: Descriptor = event_pb2.Event.DESCRIPTOR
ALWAYS_KEPT = frozenset(_EVENT.fields_by_name[n].number for n in ("seq", "timestamp_ns", "name"))


def _nested(field: FieldDescriptor) -> Descriptor | None:
    """The message a path can go into: a singular message field's."""
    if field.type != FieldDescriptor.TYPE_MESSAGE or field.is_repeated:
        return None
    return field.message_type


# The rows have a word per Event field and a bit per Thread or Fd field.
for _field in _EVENT.fields:
    assert _field.number < WORDS, _field.name
    assert all(f.number < WORDS for f in getattr(_nested(_field), "fields", ())), _field.name

# (Event field number, number of a field inside it or 0 for the whole field).
FieldPath = tuple[int, int]


def resolve(path: str) -> FieldPath:
    """A mask path's field numbers; ValueError says why a path is not one."""
    top, dot, rest = path.partition(".")
    field = _EVENT.fields_by_name.get(top)
    if field is None:
        raise ValueError(f"{shown(path)} is not a field of {_EVENT.full_name}")
    if not dot:
        return field.number, 0
    where = f"{_EVENT.full_name}.{field.name}"
    if field.is_repeated:
        raise ValueError(f"{shown(path)}: {where} is a repeated field; a path names it whole")
    message = _nested(field)
    if message is None:
        raise ValueError(f"{shown(path)}: {where} is not a message, it has no fields")
    nested_name, deeper, _ = rest.partition(".")
    nested = message.fields_by_name.get(nested_name)
    if nested is None:
        raise ValueError(f"{shown(path)} is not a field of {where}")
    if deeper:
        raise ValueError(f"{shown(path)}: paths go at most one level into an Event field")
    return field.number, nested.number


@dataclass(frozen=True)
class FieldRule:
    """One checked FieldSelection: the events it applies to (empty: every
    event no other rule names) and the paths it includes or excludes."""

    events: frozenset[int]
    include: bool
    paths: frozenset[FieldPath]


Row = npt.NDArray[np.uint64]


def _row(rule: FieldRule) -> Row:
    row = np.zeros(WORDS, dtype=np.uint64)
    if rule.include:
        for number in ALWAYS_KEPT:
            row[number] = KEEP
        for number, nested in sorted(rule.paths):  # wholes (nested 0) first
            if row[number] != KEEP:
                row[number] = KEEP if not nested else row[number] | np.uint64(1 << nested)
    else:
        for field in _EVENT.fields:
            row[field.number] = KEEP
        for number, nested in sorted(rule.paths):
            if not nested:
                row[number] = 0
            elif row[number]:
                base = _ALL_NESTED if row[number] == KEEP else int(row[number])
                row[number] = np.uint64(base & ~(1 << nested))
    row[0] = all(row[f.number] == KEEP for f in _EVENT.fields)
    return row


class EventMask:
    """A stream's compiled rules: for each event id, which row of `rows`
    applies (ids beyond the table take row 0, the rule for every event)."""

    def __init__(self, rows: Row, by_id: npt.NDArray[np.int64]) -> None:
        self.rows = np.ascontiguousarray(rows, dtype=np.uint64)
        self.by_id = by_id

    def rows_of(self, event_ids: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
        ids = event_ids.astype(np.int64)
        inside = ids < len(self.by_id)
        rows: npt.NDArray[np.int64] = np.where(inside, self.by_id[np.where(inside, ids, 0)], 0)
        return rows


def compile_mask(rules: Sequence[FieldRule], id_count: int) -> EventMask | None:
    """The rules' mask for event ids below id_count, or None when it keeps
    every field of every event (the stream is then framed as without one).
    The rules must be checked: one at most for every event, each event
    named by one at most."""
    everything = FieldRule(frozenset(), include=False, paths=frozenset())
    default = next((r for r in rules if not r.events), everything)
    named = [r for r in rules if r.events]
    rows = np.stack([_row(default), *(_row(r) for r in named)])
    if rows[:, 0].all():
        return None
    by_id = np.zeros(id_count, dtype=np.int64)
    for j, rule in enumerate(named, start=1):
        by_id[sorted(rule.events)] = j
    return EventMask(rows, by_id)
