"""A subscription's filters as plain values: what the API makes of a
SubscribeRequest (api/requests.py), before they are checked and compiled.
The field names are EventFilter's, so errors can name them."""

from __future__ import annotations

from dataclasses import dataclass

from kindling.server.pipeline.encode.mask import FieldRule
from kindling.server.pipeline.plan import PayloadMode


@dataclass(frozen=True)
class ReturnValueSpec:
    """Conditions on Event.return_value, all of which must hold."""

    errors_only: bool = False
    values: tuple[int, ...] = ()
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class FilterSpec:
    """One filter: an event matches when it satisfies every field set."""

    names: tuple[str, ...] = ()
    pids: tuple[int, ...] = ()
    cgroup_ids: tuple[int, ...] = ()
    categories: tuple[int, ...] = ()
    sources: tuple[int, ...] = ()
    tids: tuple[int, ...] = ()
    uids: tuple[int, ...] = ()
    gids: tuple[int, ...] = ()
    comms: tuple[str, ...] = ()
    return_value: ReturnValueSpec | None = None
    min_latency_ns: int = 0
    has_payload: bool | None = None
    ppids: tuple[int, ...] = ()
    exes: tuple[str, ...] = ()
    container_ids: tuple[str, ...] = ()
    fd_types: tuple[int, ...] = ()
    protocols: tuple[int, ...] = ()
    local_ports: tuple[tuple[int, int], ...] = ()  # (first, last); last 0: first alone
    remote_ports: tuple[tuple[int, int], ...] = ()
    local_addresses: tuple[str, ...] = ()  # addresses or CIDR blocks
    remote_addresses: tuple[str, ...] = ()
    process_trees: tuple[int, ...] = ()  # these processes and their descendants


@dataclass(frozen=True)
class SelectionSpec:
    """A subscription's selection: allow filters OR'ed (none: everything),
    deny filters subtracted, the payloads it wants and the fields its
    events keep (checked rules, api/masks.py; none: every field)."""

    allow: tuple[FilterSpec, ...] = ()
    deny: tuple[FilterSpec, ...] = ()
    payload: PayloadMode = PayloadMode.NONE
    fields: tuple[FieldRule, ...] = ()
