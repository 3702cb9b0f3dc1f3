"""The composition root reports a failing pipeline as loss instead of hiding it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.drivers import FilterRecorder
from support.records import Rec, to_batch

from kindling.probe.v1 import probe_pb2
from kindling.server.app import ProbeApp
from kindling.server.catalog import CATALOG
from kindling.server.config import ServeConfig
from kindling.server.pipeline.fanout.filters import SelectionSpec, compile_selection
from kindling.server.pipeline.fanout.options import QueueLimits, StreamOptions
from kindling.server.pipeline.fanout.subscription import Subscription


async def test_a_pipeline_failure_is_reported_to_subscribers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ProbeApp(ServeConfig(socket=tmp_path / "k.sock"), FilterRecorder())
    subscription = Subscription(
        compile_selection(SelectionSpec(), CATALOG),
        asyncio.get_running_loop(),
        StreamOptions(max_batch_events=10),
        QueueLimits(events=10, bytes=1 << 20),
    )
    app.broker.add(subscription)

    def broken(*_: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(app.builder, "build", broken)
    app._on_batch(to_batch([Rec("read", ts=1), Rec("read", ts=2)], kernel_lost=5))
    raw = await asyncio.wait_for(anext(subscription.responses(lambda: b"")), timeout=5)
    response = probe_pb2.SubscribeResponse.FromString(raw)
    assert list(response.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=5),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_ERROR, count=2),
    ]
