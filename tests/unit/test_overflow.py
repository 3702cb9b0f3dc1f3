"""Overflow policies and the bytes a stream, and all streams, may queue."""

from __future__ import annotations

import asyncio

from test_broker import batch, collect, everything, make_sub, queued_size

from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.options import Overflow, QueueLimits, StreamOptions
from kindling.server.pipeline.fanout.subscription import Subscription

QUEUE_FULL = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL


def queue_full(count: int, first_seq: int) -> probe_pb2.Loss:
    return probe_pb2.Loss(reason=QUEUE_FULL, count=count, first_seq=first_seq)


async def test_drop_oldest_keeps_the_newest_events() -> None:
    sub = make_sub(everything(), queue=4, max_batch=2, overflow=Overflow.DROP_OLDEST)
    sub.offer(batch([("read", 1)] * 4))  # seqs 1-4, two chunks
    sub.offer(batch([("write", 1)] * 2))  # 5-6: the chunk 1-2 makes room
    sub.offer(batch([("close", 1)] * 7))  # 7-13: the newest 4 stay
    responses = await collect(sub, 2)
    assert [e.seq for r in responses for e in r.events] == [10, 11, 12, 13]
    assert [e.name for r in responses for e in r.events] == ["close"] * 4
    assert list(responses[0].losses) == [queue_full(9, 1)]  # 1-6 evicted, 7-9 too old
    assert sub.stats.dropped == 9


async def test_drop_oldest_within_the_stream_bytes() -> None:
    one = queued_size()
    # Room for about three events' bytes, whatever their number.
    sub = make_sub(
        everything(), queue=100, queue_bytes=3 * one, max_batch=1, overflow=Overflow.DROP_OLDEST
    )
    for _ in range(5):
        sub.offer(batch([("read", 1)]))
    responses = await collect(sub, 3)
    assert [e.seq for r in responses for e in r.events] == [3, 4, 5]
    assert list(responses[0].losses) == [queue_full(2, 1)]


async def test_drop_newest_within_the_stream_bytes() -> None:
    one = queued_size()
    sub = make_sub(everything(), queue=100, queue_bytes=3 * one, max_batch=10)
    sub.offer(batch([("read", 1)] * 5))
    (response,) = await collect(sub, 1)
    assert [e.seq for e in response.events] == [1, 2, 3]
    assert list(response.losses) == [queue_full(2, 4)]


async def test_disconnect_interrupts_the_reader_and_reports_everything_lost() -> None:
    sub = make_sub(everything(), queue=4, overflow=Overflow.DISCONNECT)
    reader = sub.attach()
    sub.offer(batch([("read", 1)] * 3))
    assert not reader.interrupted.is_set()
    sub.offer(batch([("read", 1)] * 2))  # one does not fit: the stream ends
    await asyncio.wait_for(reader.interrupted.wait(), 1)
    assert reader.reason == "overflowed"
    # Not resumable: what was queued is reported lost, none of it is sent.
    sub.offer(batch([("read", 1)]))
    assert sub.stats.dropped == 6


async def test_a_resumable_disconnect_stream_keeps_what_fit() -> None:
    sub = make_sub(everything(), queue=4, overflow=Overflow.DISCONNECT, resume_window=30)
    reader = sub.attach()
    sub.offer(batch([("read", 1)] * 6))
    await asyncio.wait_for(reader.interrupted.wait(), 1)
    sub.offer(batch([("read", 1)]))  # while disconnected: lost too
    _, kept = await collect(sub, 2)  # the first carries the stream id
    assert [e.seq for e in kept.events] == [1, 2, 3, 4]
    assert list(kept.losses) == [queue_full(3, 5)]


async def test_memory_shared_by_streams_bounds_them_all() -> None:
    one = queued_size()
    budget = MemoryBudget(5 * one)
    limits = QueueLimits(events=100, bytes=1 << 20)
    loop = asyncio.get_running_loop()
    first, second = (
        Subscription(everything(), loop, StreamOptions(max_batch_events=100), limits, budget)
        for _ in range(2)
    )
    first.offer(batch([("read", 1)] * 4))
    second.offer(batch([("read", 1)] * 4))  # one fits in what is left
    assert budget.used == 5 * one
    (got,) = await collect(second, 1)
    assert [e.seq for e in got.events] == [1]
    assert list(got.losses) == [queue_full(3, 2)]
    # Sent: the memory is back for the others.
    assert budget.used == 4 * one
    (got,) = await collect(first, 1)
    assert budget.used == 0
