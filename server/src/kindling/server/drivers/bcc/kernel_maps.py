"""The kernel filter as the programs' maps: what the driver writes when the
plan changes, and the order it writes it in.

The order keeps the kernel conservative while it changes: set entries are
added before the events that need them are scoped, and events gain their
control before their programs are attached. Programs no longer needed are
detached in the background (see attachments.py): their events lose their
control at once, so they capture nothing on their way out. Set entries
no longer needed go last.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterable
from typing import Any

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import NOTHING, KernelFilter
from kindling.server.drivers.bcc.attachments import Attachments
from kindling.server.drivers.bcc.loader import BccLoader, EventControl


class KernelMaps:
    """The kernel filter last written into one loader's maps."""

    def __init__(
        self,
        catalog: Catalog,
        loader: BccLoader,
        attachments: Attachments,
        *,
        exclude_pid: int,
        unavailable: frozenset[int],
    ) -> None:
        self._catalog = catalog
        self._loader = loader
        self._attachments = attachments
        self._exclude_pid = exclude_pid
        self._usable = frozenset(catalog.by_id) - unavailable
        self._written = NOTHING
        # Per event, bumped each time its programs are attached (kindling.h).
        self._epochs: dict[int, int] = {}

    def write(self, new: KernelFilter) -> None:
        """Turn the kernel filter into map updates and attachments."""
        loader, attachments, old = self._loader, self._attachments, self._written
        capture = new.capture & self._usable

        pid_allow, pid_deny = loader.table("kindling_pid_allow"), loader.table("kindling_pid_deny")
        cgroup_allow = loader.table("kindling_cgroup_allow")
        _write_bitmap(pid_allow, old.allow_pids, old.allow_pids | new.allow_pids)
        _write_bitmap(pid_deny, old.deny_pids, old.deny_pids | new.deny_pids)
        _write_bitmap(cgroup_allow, old.allow_cgroups, old.allow_cgroups | new.allow_cgroups)
        _add(loader.table("kindling_comm_deny"), new.deny_comms - old.deny_comms)
        self._write_config(new)

        control = loader.table("kindling_event_control")
        for spec in self._catalog.specs:
            bits = _control_bits(spec.id, capture, new)
            was = _control_bits(spec.id, old.capture & self._usable, old)
            if bits == was or not bits:
                continue
            if not was:
                self._epochs[spec.id] = self._epochs.get(spec.id, 0) + 1
            self._write_control(control, spec.id, bits)

        wanted = self._catalog.hooks(capture, new.delivered, new.payload)
        wanted = [h for h in wanted if h in loader.hooks]
        for hook in reversed(loader.attached):
            if hook not in wanted:
                attachments.detach(hook)
        for hook in wanted:
            attachments.attach(hook)

        for spec in self._catalog.specs:
            if spec.id not in capture and spec.id in old.capture:
                self._write_control(control, spec.id, 0)

        _write_bitmap(pid_allow, old.allow_pids | new.allow_pids, new.allow_pids)
        _write_bitmap(pid_deny, old.deny_pids | new.deny_pids, new.deny_pids)
        _write_bitmap(cgroup_allow, old.allow_cgroups | new.allow_cgroups, new.allow_cgroups)
        _remove(loader.table("kindling_comm_deny"), old.deny_comms - new.deny_comms)
        self._written = new

    def _write_control(self, control: Any, event_id: int, bits: int) -> None:
        leaf = control.Leaf()
        leaf.bits = bits
        leaf.epoch = self._epochs.get(event_id, 0)
        control[ctypes.c_int(event_id)] = leaf

    def _write_config(self, new: KernelFilter) -> None:
        config = self._loader.table("kindling_config")
        leaf = config.Leaf()
        leaf.self_pid = self._exclude_pid
        leaf.deny_pids = 1 if new.deny_pids else 0
        leaf.deny_comms = 1 if new.deny_comms else 0
        leaf.snaplen = new.snaplen
        config[ctypes.c_int(0)] = leaf


def _control_bits(event_id: int, capture: frozenset[int], f: KernelFilter) -> int:
    if event_id not in capture:
        return 0
    bits = EventControl.CAPTURE
    if event_id in f.pid_scoped:
        bits |= EventControl.PID_SCOPED
    if event_id in f.cgroup_scoped:
        bits |= EventControl.CGROUP_SCOPED
    if event_id in f.drop_failed:
        bits |= EventControl.DROP_FAILED
    if event_id in f.delivered:
        bits |= EventControl.DELIVERED
    if event_id in f.payload:
        bits |= EventControl.PAYLOAD
    if event_id in f.payload_any_fd:
        bits |= EventControl.PAYLOAD | EventControl.PAYLOAD_ANY_FD
    return int(bits)


def _bitmap_words(ids: Iterable[int]) -> dict[int, int]:
    words: dict[int, int] = {}
    for value in ids:
        words[value >> 6] = words.get(value >> 6, 0) | 1 << (value & 63)
    return words


def _write_bitmap(table: Any, was: frozenset[int], now: frozenset[int]) -> None:
    """Turn a bitmap of ids (kindling.h) holding `was` into one holding `now`,
    writing only the words that change."""
    if was == now:
        return
    old, new = _bitmap_words(was), _bitmap_words(now)
    for word in {pid >> 6 for pid in was ^ now}:
        if old.get(word, 0) != new.get(word, 0):
            table[ctypes.c_int(word)] = ctypes.c_uint64(new.get(word, 0))


def _key(table: Any, value: int | bytes) -> Any:
    if isinstance(value, bytes):
        key = table.Key()
        key.comm = value[:15]  # the kernel's names are at most 15 bytes and a NUL
        return key
    return table.Key(value)


def _add(table: Any, keys: Iterable[int | bytes]) -> None:
    one = table.Leaf(1)
    for key in keys:
        table[_key(table, key)] = one


def _remove(table: Any, keys: Iterable[int | bytes]) -> None:
    for key in keys:
        with contextlib.suppress(KeyError):
            del table[_key(table, key)]
