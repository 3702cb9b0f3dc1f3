"""The asyncio client (kindling.client.aio) against the fake service: the same
requests, errors and notices as the sync client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest
from client_fakes import FakeProbe, batch, event, reject, send_then_wait, wait_until_done

from kindling.client import (
    InvalidRequest,
    LossReason,
    LostEvents,
    Reconnect,
    RequestFailed,
    ServiceNotFound,
    ServiceUnavailable,
    StreamResumed,
)
from kindling.client.aio import AsyncProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2


async def test_subscribe_reads_responses_and_events(fake_probe: FakeProbe) -> None:
    lost = probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=4)
    fake_probe.subscribe = send_then_wait(
        batch(event(1, "a", 1)), batch(event(2, "b", 1), losses=(lost,))
    )
    async with AsyncProbeClient(fake_probe.socket) as client:
        async with client.subscribe(names=["a", "b"], pids=[1]) as subscription:
            items: list[object] = []
            async for item in subscription.events():
                items.append(item.seq if isinstance(item, event_pb2.Event) else item)
                if len(items) == 3:
                    break
        assert items == [1, LostEvents(LossReason.KERNEL_BUFFER_FULL, 4), 2]
        assert subscription.last_seq == 2 and subscription.received
    assert fake_probe.requests == [
        probe_pb2.SubscribeRequest(allow_list=[probe_pb2.EventFilter(names=["a", "b"], pids=[1])])
    ]


async def test_cancel_and_close_end_iteration(fake_probe: FakeProbe) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    async with AsyncProbeClient(fake_probe.socket) as client:
        subscription = client.subscribe()
        asyncio.get_running_loop().call_later(0.1, subscription.cancel)
        assert [len(r.events) async for r in subscription] == [1]

        subscription = client.subscribe()
        assert len((await anext(subscription)).events) == 1
        asyncio.get_running_loop().call_later(0.1, lambda: asyncio.ensure_future(client.close()))
        assert [r async for r in subscription] == []


async def test_errors_are_the_typed_ones(fake_probe: FakeProbe, stale_socket: str) -> None:
    fake_probe.subscribe = reject(grpc.StatusCode.INVALID_ARGUMENT, 'unknown event name "x"')
    async with AsyncProbeClient(fake_probe.socket) as client:
        with pytest.raises(InvalidRequest, match=r'rejected the request: unknown event name "x"$'):
            await anext(client.subscribe(names=["x"]))
        with pytest.raises(RequestFailed, match=r"UNIMPLEMENTED: GetInfo is not scripted$"):
            await client.get_info()
    async with AsyncProbeClient(stale_socket) as client:
        with pytest.raises(ServiceUnavailable) as caught:
            await client.get_config(timeout=5)
        assert not caught.value.started
    with pytest.raises(ServiceNotFound):
        AsyncProbeClient(stale_socket + ".missing")


async def test_unary_calls(fake_probe: FakeProbe) -> None:
    info = probe_pb2.GetInfoResponse(service_version="1.2.3")
    fake_probe.get_info = lambda request, context: info
    fake_probe.configure = lambda request, context: probe_pb2.ConfigureResponse(generation=2)
    async with AsyncProbeClient(fake_probe.socket) as client:
        assert await client.get_info() == info
        response = await client.configure(["read"], dry_run=True, expected_generation=1)
        assert response.generation == 2
        with pytest.raises(RequestFailed) as caught:
            await client.health()
        assert caught.value.code is grpc.StatusCode.UNIMPLEMENTED
    assert fake_probe.configure_requests == [
        probe_pb2.ConfigureRequest(enable_events=["read"], dry_run=True, expected_generation=1)
    ]


async def test_resume_and_reconnect(fake_probe: FakeProbe) -> None:
    def break_once(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if not request.HasField("resume"):
            yield probe_pb2.SubscribeResponse(stream_id="s1")
            yield batch(event(1, "read", 1))
            context.abort(grpc.StatusCode.UNAVAILABLE, "the connection broke")
        yield batch(event(2, "read", 1))
        wait_until_done(context)

    fake_probe.subscribe = break_once
    async with AsyncProbeClient(fake_probe.socket) as client:
        first = client.subscribe(probe_pb2.SubscribeRequest())
        with pytest.raises(ServiceUnavailable):
            async for _ in first:
                pass
        async with client.resume(first) as second:
            assert [e.seq for e in (await anext(second)).events] == [2]
        policy = Reconnect(initial_backoff=0.01)
        items: list[object] = []
        async with client.subscribe(reconnect=policy) as stream:
            async for item in stream.events():
                items.append(item)
                if len(items) == 3:
                    break
    assert [x.seq if isinstance(x, event_pb2.Event) else type(x) for x in items] == [
        1,
        StreamResumed,
        2,
    ]
    assert fake_probe.requests[-1].resume == probe_pb2.Resume(stream_id="s1", last_seq=1)


async def test_closing_the_client_ends_a_stream_waiting_to_reconnect(stale_socket: str) -> None:
    client = AsyncProbeClient(stale_socket)
    stream = client.subscribe(reconnect=Reconnect(initial_backoff=30, max_backoff=30))
    asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(client.close()))
    started = asyncio.get_running_loop().time()
    assert [item async for item in stream] == []
    assert asyncio.get_running_loop().time() - started < 10
