"""Filter fields on an event's descriptor and connection: the fd type, the
L4 protocol, and the local and remote ends' ports and addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import numpy as np

from kindling.event.v1 import event_pb2
from kindling.server.catalog import Catalog
from kindling.server.errors import shown
from kindling.server.pipeline.encode.batch import EventColumns
from kindling.server.pipeline.fanout.filters.base import (
    Bits,
    FieldIndex,
    FilterError,
    TableIndex,
    check_count,
    free_bits,
    register,
)
from kindling.server.pipeline.fanout.filters.event_type import enum_values

# Distinct addresses remembered per index, before it starts afresh.
MAX_REMEMBERED = 4096
_NO_ADDRESS = bytes(16)


@register
class FdTypes:
    key = "fd_types"

    def check(self, value: Sequence[int], where: str, catalog: Catalog) -> frozenset[int] | None:
        return enum_values(value, where, event_pb2.FdType, "a descriptor type")

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return TableIndex("fd_types", values, max(event_pb2.FdType.values()) + 1)


@register
class Protocols:
    key = "protocols"

    def check(self, value: Sequence[int], where: str, catalog: Catalog) -> frozenset[int] | None:
        return enum_values(value, where, event_pb2.L4Protocol, "a protocol")

    def index(self, values: Sequence[frozenset[int] | None], catalog: Catalog) -> FieldIndex:
        return TableIndex("protocols", values, max(event_pb2.L4Protocol.values()) + 1)


class _RangeIndex:
    """Filters that each accept ports in some ranges: the ranges cut the
    port line into intervals, each with the filters covering it."""

    def __init__(self, column: str, values: Sequence[tuple[tuple[int, int], ...] | None]) -> None:
        self._column = column
        self._free = free_bits(values)
        cuts = sorted({p for ranges in values for a, b in ranges or () for p in (a, b + 1)})
        self._starts = np.array(cuts, dtype=np.int64)
        masks = np.zeros(len(cuts), dtype=np.uint64)
        for j, ranges in enumerate(values):
            for first, last in ranges or ():
                lo, hi = np.searchsorted(self._starts, [first, last + 1])
                masks[lo:hi] |= np.uint64(1 << j)
        self._masks = masks

    def bits(self, columns: EventColumns) -> Bits:
        ports = getattr(columns, self._column).astype(np.int64)
        at = np.searchsorted(self._starts, ports, side="right") - 1
        found = (at >= 0) & (ports > 0)
        masks = (
            self._masks[np.maximum(at, 0)] if len(self._masks) else np.zeros(len(ports), np.uint64)
        )
        bits: Bits = np.where(found, masks, np.uint64(0)) | self._free
        return bits


class _Ports:
    key = ""
    column = ""

    def check(self, value: Sequence[tuple[int, int]], where: str, catalog: Catalog) -> Any:
        check_count(value, where)
        ranges = []
        for i, (first, given_last) in enumerate(value):
            last = given_last or first
            if not 1 <= first <= 65535 or not 1 <= last <= 65535:
                raise FilterError(f"{where}[{i}]: ports run from 1 to 65535")
            if first > last:
                raise FilterError(f"{where}[{i}]: first {first} is above last {last}")
            ranges.append((first, last))
        return tuple(ranges) or None

    def index(self, values: Sequence[Any], catalog: Catalog) -> FieldIndex:
        return _RangeIndex(self.column, values)


@register
class LocalPorts(_Ports):
    key, column = "local_ports", "local_ports"


@register
class RemotePorts(_Ports):
    key, column = "remote_ports", "remote_ports"


def _network(text: str) -> tuple[int, int]:
    """An address or CIDR block as (prefix length, network) in the 128-bit
    space where IPv4 is mapped (::ffff:0:0/96)."""
    network = ipaddress.ip_network(text, strict=False)
    if isinstance(network, ipaddress.IPv4Network):
        return 96 + network.prefixlen, (0xFFFF << 32) | int(network.network_address)
    return network.prefixlen, int(network.network_address)


def _prefix(address: int, length: int) -> int:
    return address >> (128 - length) << (128 - length) if length else 0


class _AddressIndex:
    """Filters that each accept addresses in some blocks: per prefix length,
    the networks of that length with the filters naming them. Each distinct
    address of a batch is looked up once per length (and remembered)."""

    def __init__(self, column: str, values: Sequence[tuple[tuple[int, int], ...] | None]) -> None:
        self._column = column
        self._free = int(free_bits(values))
        self._by_length: dict[int, dict[int, int]] = {}
        for j, blocks in enumerate(values):
            for length, network in blocks or ():
                networks = self._by_length.setdefault(length, {})
                networks[network] = networks.get(network, 0) | 1 << j
        self._known: dict[bytes, int] = {}

    def _mask(self, raw: bytes) -> int:
        mask = self._known.get(raw)
        if mask is None:
            mask = self._free
            if raw != _NO_ADDRESS:
                address = int.from_bytes(raw, "big")
                for length, networks in self._by_length.items():
                    mask |= networks.get(_prefix(address, length), 0)
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[raw] = mask
        return mask

    def bits(self, columns: EventColumns) -> Bits:
        addresses = np.ascontiguousarray(getattr(columns, self._column))
        if not len(addresses):
            return np.zeros(0, dtype=np.uint64)
        keys = addresses.view("V16").ravel()
        distinct, inverse = np.unique(keys, return_inverse=True)
        masks = np.array([self._mask(bytes(k)) for k in distinct.tolist()], dtype=np.uint64)
        bits: Bits = masks[inverse.ravel()]
        return bits


class _Addresses:
    key = ""
    column = ""

    def check(self, value: Sequence[str], where: str, catalog: Catalog) -> Any:
        check_count(value, where)
        blocks = []
        for i, text in enumerate(value):
            try:
                blocks.append(_network(text))
            except ValueError:
                raise FilterError(
                    f"{where}[{i}]: {shown(text)} is not an IP address or CIDR block "
                    "(for example 10.0.0.1, 10.0.0.0/8 or fd00::/8)"
                ) from None
        return tuple(blocks) or None

    def index(self, values: Sequence[Any], catalog: Catalog) -> FieldIndex:
        return _AddressIndex(self.column, values)


@register
class LocalAddresses(_Addresses):
    key, column = "local_addresses", "local_addresses"


@register
class RemoteAddresses(_Addresses):
    key, column = "remote_addresses", "remote_addresses"
