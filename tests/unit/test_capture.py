"""Subscriptions, Configure and the context tables decide what the kernel
captures (the plan); the kernel tests check that the kernel does it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.drivers import FilterRecorder

from kindling.probe.v1 import probe_pb2
from kindling.server.api.requests import compile_request
from kindling.server.capture import (
    CaptureControl,
    ConfigError,
    KernelFiltersRequest,
    StaleGenerationError,
)
from kindling.server.catalog import CATALOG, Table
from kindling.server.drivers.base import KernelLimits
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.enrich.procfs import ProcFS
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.options import QueueLimits, StreamOptions
from kindling.server.pipeline.fanout.subscription import Subscription

ALL = frozenset(s.id for s in CATALOG.specs)
# What a subscriber naming no event makes the kernel capture: the probe's own
# events (generic syscall events only when named).
OWN = frozenset(s.id for s in CATALOG.specs if not s.generic)
THREAD_EVENTS = frozenset(s.id for s in CATALOG.specs if s.table is Table.THREADS)
FD_EVENTS = frozenset(s.id for s in CATALOG.specs if s.table is Table.FDS)


@dataclass
class Parts:
    capture: CaptureControl
    driver: FilterRecorder
    builder: EventBuilder
    broker: Broker


def make_parts(tmp_path: Path, limits: KernelLimits | None = None) -> Parts:
    driver = FilterRecorder()
    builder = EventBuilder(CATALOG, ProcFS(tmp_path))
    broker = Broker()
    capture = CaptureControl(CATALOG, driver, builder, broker, limits)
    broker.on_change = capture.refresh
    capture.refresh()
    return Parts(capture, driver, builder, broker)


@pytest.fixture
def parts(tmp_path: Path) -> Parts:
    return make_parts(tmp_path)


def subscribe(
    broker: Broker,
    allow: list[probe_pb2.EventFilter] | None = None,
    deny: list[probe_pb2.EventFilter] | None = None,
) -> Subscription:
    request = probe_pb2.SubscribeRequest(allow_list=allow or [], deny_list=deny or [])
    subscription = Subscription(
        compile_request(request, CATALOG),
        asyncio.get_running_loop(),
        StreamOptions(max_batch_events=10),
        QueueLimits(events=10, bytes=1 << 20),
    )
    broker.add(subscription)
    return subscription


def names(*events: str) -> frozenset[int]:
    return CATALOG.ids(events)


def test_without_subscribers_nothing_is_captured(parts: Parts) -> None:
    assert parts.driver.filter.capture == frozenset()
    assert parts.builder.delivered == frozenset()
    assert parts.capture.plan.tables.threads.empty
    assert parts.capture.plan.tables.fds.empty


async def test_one_process_writes_capture_its_fd_context_and_nothing_else(parts: Parts) -> None:
    sub = subscribe(parts.broker, [probe_pb2.EventFilter(names=["write"], pids=[5])])
    kernel = parts.driver.filter
    # write, plus what keeps its thread and fd context right, for pid 5 only.
    assert kernel.capture == names("write") | THREAD_EVENTS | FD_EVENTS
    assert kernel.delivered == names("write")
    assert kernel.pid_scoped == kernel.capture
    assert kernel.allow_pids == {5}
    assert not kernel.cgroup_scoped and not kernel.allow_cgroups
    tables = parts.capture.plan.tables
    assert tables.fds.covers(5, 1) and not tables.fds.covers(6, 1)
    # Leaving narrows it back to nothing.
    parts.broker.remove(sub)
    assert parts.driver.filter.capture == frozenset()


async def test_process_events_alone_need_no_fd_syscalls(parts: Parts) -> None:
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["process_exec"])])
    kernel = parts.driver.filter
    assert kernel.capture == THREAD_EVENTS
    assert kernel.delivered == names("process_exec")
    assert not kernel.pid_scoped
    hooks = CATALOG.hooks(kernel.capture, kernel.delivered)
    assert not [hook for hook in hooks if hook.startswith("syscalls:")]
    assert parts.capture.plan.tables.fds.empty


async def test_exit_codes_are_traced_only_while_process_exit_is_delivered(parts: Parts) -> None:
    sub = subscribe(parts.broker, [probe_pb2.EventFilter(names=["process_exec"])])
    kernel = parts.driver.filter
    assert "syscalls:sys_enter_exit_group" not in CATALOG.hooks(kernel.capture, kernel.delivered)
    parts.broker.remove(sub)
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["process_exit"])])
    kernel = parts.driver.filter
    assert "syscalls:sys_enter_exit_group" in CATALOG.hooks(kernel.capture, kernel.delivered)


async def test_scopes_merge_per_event(parts: Parts) -> None:
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["write"], pids=[5])])
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["read"], cgroup_ids=[77])])
    kernel = parts.driver.filter
    assert names("write") <= kernel.pid_scoped and not names("write") & kernel.cgroup_scoped
    assert names("read") <= kernel.cgroup_scoped and not names("read") & kernel.pid_scoped
    # Both need the fd table: its events are captured for pid 5 and cgroup 77.
    close = names("close")
    assert not close & kernel.pid_scoped and not close & kernel.cgroup_scoped
    assert kernel.allow_pids == {5} and kernel.allow_cgroups == {77}
    fds = parts.capture.plan.tables.fds
    assert fds.covers(5, 1) and fds.covers(9, 77) and not fds.covers(9, 1)


async def test_an_unrestricted_subscriber_unscopes_the_events_it_wants(parts: Parts) -> None:
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["write"], pids=[5])])
    subscribe(parts.broker)
    kernel = parts.driver.filter
    assert kernel.capture == OWN
    assert not kernel.pid_scoped


async def test_more_pids_than_the_kernel_holds_are_filtered_in_the_service(
    tmp_path: Path,
) -> None:
    parts = make_parts(tmp_path, KernelLimits(allow_pids=3))
    subscribe(parts.broker, [probe_pb2.EventFilter(names=["write"], pids=[1, 2, 3, 4])])
    kernel = parts.driver.filter
    assert names("write") <= kernel.capture
    assert not kernel.pid_scoped and not kernel.allow_pids


async def test_a_process_every_subscriber_denies_is_denied_in_the_kernel(parts: Parts) -> None:
    deny = [probe_pb2.EventFilter(pids=[9])]
    first = subscribe(parts.broker, deny=deny)
    assert parts.driver.filter.deny_pids == {9}
    subscribe(parts.broker, deny=[*deny, probe_pb2.EventFilter(pids=[10])])
    assert parts.driver.filter.deny_pids == {9}
    parts.broker.remove(first)
    assert parts.driver.filter.deny_pids == {9, 10}
    subscribe(parts.broker)
    assert parts.driver.filter.deny_pids == frozenset()


async def test_configure_disables_and_reenables(parts: Parts) -> None:
    capture, driver, builder = parts.capture, parts.driver, parts.builder
    subscribe(parts.broker)
    assert driver.filter.capture == OWN
    config = capture.configure(enable=[], disable=["read", "connect"])
    assert config.generation == 2
    enabled = capture.names(config.enabled)
    assert "read" not in enabled and "connect" not in enabled
    # connect feeds the fd table: still captured, no longer delivered.
    assert driver.filter.capture == OWN - names("read")
    assert builder.delivered == OWN - names("read", "connect")
    again = capture.configure(enable=["read"], disable=[])
    assert capture.names(again.enabled) == [s.name for s in CATALOG.specs if s.name != "connect"]
    assert again.generation == 3


async def test_a_dry_run_changes_nothing_and_a_stale_generation_is_refused(parts: Parts) -> None:
    capture = parts.capture
    subscribe(parts.broker)
    before = parts.driver.filter
    would = capture.configure([], ["read"], dry_run=True)
    assert not would.enabled & names("read") and would.generation == 1
    assert capture.configuration().generation == 1
    assert parts.driver.filter == before and names("read") <= capture.configured
    capture.configure([], ["read"], expected_generation=1)
    with pytest.raises(StaleGenerationError, match="at generation 2, not 1"):
        capture.configure(["read"], [], expected_generation=1)
    assert not names("read") & capture.configured


async def test_configure_sets_the_kernel_filters_for_everyone(parts: Parts) -> None:
    subscribe(parts.broker)
    parts.capture.configure(
        [], [], KernelFiltersRequest(deny_pids=[7, 8], deny_comms=["nginx"], drop_failed_io=True)
    )
    kernel = parts.driver.filter
    assert kernel.deny_pids == {7, 8}
    assert kernel.deny_comms == {b"nginx"}
    assert kernel.drop_failed == {s.id for s in CATALOG.specs if s.io}
    assert names("read", "writev", "recvfrom") <= kernel.drop_failed
    assert not parts.capture.plan.tables.threads.covers(7, 1)
    # Without kernel_filters, a request leaves them as they are.
    parts.capture.configure(["read"], [])
    assert parts.driver.filter.deny_pids == {7, 8}


@pytest.mark.parametrize(
    ("enable", "disable", "filters", "message"),
    [
        (["nope"], [], None, r"enable_events\[0\]: unknown event name 'nope'"),
        ([], ["read", "nope"], None, r"disable_events\[1\]: unknown event name 'nope'"),
        (["read"], ["read"], None, "both name read"),
        (["read", "read"], [], None, r"enable_events\[1\]: read is named twice"),
        (["x" * 10000], [], None, r"enable_events\[0\]: unknown event name 'x{30,40}\.\.\.'"),
        ([], [], ([0], [], False), r"kernel_filters.deny_pids\[0\]: 0 is not a process id"),
        ([], [], ([3, 3], [], False), r"kernel_filters.deny_pids\[1\]: 3 is named twice"),
        ([], [], ([], [""], False), r"kernel_filters.deny_comms\[0\]: a thread name cannot"),
        ([], [], ([], ["a" * 16], False), r"deny_comms\[0\]: 'a+' is longer than the 15 bytes"),
        ([], [], ([], ["sh", "sh"], False), r"kernel_filters.deny_comms\[1\]: 'sh' is named"),
        ([], [], (list(range(1, 5000)), [], False), r"kernel_filters.deny_pids: at most 4096"),
    ],
)
def test_invalid_configure_changes_nothing(
    parts: Parts,
    enable: list[str],
    disable: list[str],
    filters: tuple[list[int], list[str], bool] | None,
    message: str,
) -> None:
    capture, driver = parts.capture, parts.driver
    before = (capture.configured, capture.service_filters, driver.filter, driver.applied)
    request = KernelFiltersRequest(*filters) if filters else None
    with pytest.raises(ConfigError, match=message):
        capture.configure(enable=enable, disable=disable, kernel_filters=request)
    assert (capture.configured, capture.service_filters, driver.filter, driver.applied) == before
