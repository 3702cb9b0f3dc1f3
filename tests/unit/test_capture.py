"""Configure and subscriptions decide what the kernel captures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.drivers import MaskRecorder

from kindling.probe.v1 import probe_pb2
from kindling.server.catalog import CATALOG
from kindling.server.pipeline.broker import Broker, Subscription
from kindling.server.pipeline.capture import CaptureControl, ConfigError
from kindling.server.pipeline.events import EventBuilder
from kindling.server.pipeline.filters import compile_request
from kindling.server.pipeline.procfs import ProcFS

ALL = frozenset(s.id for s in CATALOG.specs)
STATE = frozenset(s.id for s in CATALOG.specs if s.state_changing)


@dataclass
class Parts:
    capture: CaptureControl
    driver: MaskRecorder
    builder: EventBuilder
    broker: Broker


@pytest.fixture
def parts(tmp_path: Path) -> Parts:
    driver = MaskRecorder()
    builder = EventBuilder(CATALOG, ProcFS(tmp_path))
    broker = Broker()
    capture = CaptureControl(CATALOG, driver, builder, broker)
    broker.on_change = capture.refresh
    capture.refresh()
    return Parts(capture, driver, builder, broker)


def test_without_subscribers_only_state_events_are_captured(parts: Parts) -> None:
    assert parts.driver.mask == STATE
    assert parts.builder.delivered == frozenset()


async def test_subscriptions_widen_the_mask_and_leaving_narrows_it(parts: Parts) -> None:
    driver, builder, broker = parts.driver, parts.builder, parts.broker
    req = probe_pb2.SubscribeRequest(allow_list=[probe_pb2.EventFilter(names=["read"])])
    sub = Subscription(
        compile_request(req, CATALOG),
        asyncio.get_running_loop(),
        max_queued_events=10,
        max_batch_events=10,
    )
    broker.add(sub)
    assert driver.mask == STATE | CATALOG.ids(["read"])
    assert builder.delivered == CATALOG.ids(["read"])
    broker.remove(sub)
    assert driver.mask == STATE


async def test_configure_disables_and_reenables(parts: Parts) -> None:
    capture, driver, builder, broker = parts.capture, parts.driver, parts.builder, parts.broker
    broker.add(
        Subscription(
            compile_request(probe_pb2.SubscribeRequest(), CATALOG),
            asyncio.get_running_loop(),
            max_queued_events=10,
            max_batch_events=10,
        )
    )
    assert driver.mask == ALL
    enabled = capture.configure(enable=[], disable=["read", "connect"])
    assert "read" not in enabled and "connect" not in enabled
    # connect feeds the fd table: still captured, no longer delivered.
    assert driver.mask == ALL - CATALOG.ids(["read"])
    assert builder.delivered == ALL - CATALOG.ids(["read", "connect"])
    assert capture.configure(enable=["read"], disable=[]) == [
        s.name for s in CATALOG.specs if s.name != "connect"
    ]


@pytest.mark.parametrize(
    ("enable", "disable", "message"),
    [
        (["nope"], [], r"enable_events\[0\]: unknown event name 'nope'"),
        ([], ["read", "nope"], r"disable_events\[1\]: unknown event name 'nope'"),
        (["read"], ["read"], "both name read"),
    ],
)
def test_invalid_configure_changes_nothing(
    parts: Parts, enable: list[str], disable: list[str], message: str
) -> None:
    capture, driver = parts.capture, parts.driver
    before = (capture.configured, driver.mask)
    with pytest.raises(ConfigError, match=message):
        capture.configure(enable=enable, disable=disable)
    assert (capture.configured, driver.mask) == before
