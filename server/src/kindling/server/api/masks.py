"""SubscribeRequest.fields -> checked field rules, which the pipeline
compiles into a mask over event field numbers (pipeline/encode/mask.py).

Everything a mask can get wrong is refused here, before the stream starts,
with the field it is in: unknown event names, an event named by two
selections, two selections for every event, a selection with neither
include nor exclude, paths that name no field (mask.resolve), an always-sent
field excluded, and more selections, names or paths than the limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from kindling.probe.v1 import probe_pb2
from kindling.server.catalog import Catalog
from kindling.server.errors import shown
from kindling.server.pipeline.encode.mask import ALWAYS_KEPT, FieldPath, FieldRule, resolve
from kindling.server.pipeline.fanout.filters import MAX_VALUES, FilterError

# At most this many FieldSelections per request, and paths per mask (an
# Event has 13 fields and its thread and fd 17 more).
MAX_SELECTIONS = 64
MAX_PATHS = 64


def _events(
    names: Sequence[str], where: str, catalog: Catalog, named: dict[int, int], selection: int
) -> frozenset[int]:
    if len(names) > MAX_VALUES:
        raise FilterError(f"{where}: at most {MAX_VALUES} names")
    ids = set()
    for k, name in enumerate(names):
        spec = catalog.by_name.get(name)
        if spec is None:
            raise FilterError(
                f"{where}[{k}]: unknown event name {shown(name)}; {catalog.known_events()}"
            )
        first = named.setdefault(spec.id, selection)
        if first != selection:
            raise FilterError(
                f"{where}[{k}]: {name} is named by fields[{first}] too; "
                "name each event in one selection"
            )
        ids.add(spec.id)
    return frozenset(ids)


def _paths(given: Sequence[str], where: str, include: bool) -> frozenset[FieldPath]:
    if len(given) > MAX_PATHS:
        raise FilterError(f"{where}: at most {MAX_PATHS} paths")
    paths = set()
    for j, path in enumerate(given):
        try:
            field = resolve(path)
        except ValueError as error:
            raise FilterError(f"{where}[{j}]: {error}") from None
        if not include and field[0] in ALWAYS_KEPT:
            raise FilterError(
                f"{where}[{j}]: {shown(path)} cannot be excluded: seq, timestamp_ns and name "
                "are always sent"
            )
        paths.add(field)
    return frozenset(paths)


def field_rules(request: probe_pb2.SubscribeRequest, catalog: Catalog) -> tuple[FieldRule, ...]:
    """The request's FieldSelections, checked (FilterError if invalid)."""
    if len(request.fields) > MAX_SELECTIONS:
        raise FilterError(f"fields: at most {MAX_SELECTIONS} selections")
    rules = []
    named: dict[int, int] = {}  # event id -> the selection naming it
    every: int | None = None  # the selection for every other event
    for i, selection in enumerate(request.fields):
        where = f"fields[{i}]"
        events = _events(selection.events, f"{where}.events", catalog, named, i)
        if not events:
            if every is not None:
                raise FilterError(
                    f"{where}.events: fields[{every}] already applies to every event; "
                    "name the events this selection is for"
                )
            every = i
        kind = selection.WhichOneof("mask")
        if kind is None:
            raise FilterError(f"{where}: set include or exclude")
        include = kind == "include"
        mask = selection.include if include else selection.exclude
        paths = _paths(mask.paths, f"{where}.{kind}.paths", include)
        rules.append(FieldRule(events, include, paths))
    return tuple(rules)
