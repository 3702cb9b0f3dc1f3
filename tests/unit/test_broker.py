"""Fan-out: filters, per-stream sequence numbers, bounded queues and loss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import pytest
from google.protobuf import duration_pb2

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server.api.requests import batching, compile_request
from kindling.server.catalog import CATALOG
from kindling.server.pipeline.encode.batch import EventBatch, EventColumns
from kindling.server.pipeline.encode.framing import Envelope, frame_events
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.filters import (
    FilterError,
    Selection,
    SelectionSpec,
    compile_selection,
)
from kindling.server.pipeline.fanout.options import Overflow, QueueLimits, StreamOptions
from kindling.server.pipeline.fanout.subscription import EVENT_OVERHEAD, Subscription
from kindling.server.pipeline.plan import Demand

ENVELOPE = b"\xc2\x3e\x04node"  # node_name = "node" (field 1000)


def batch(events: Sequence[tuple[str, int]], kernel_lost: int = 0) -> EventBatch:
    encoded = [
        event_pb2.Event(
            name=name, timestamp_ns=i + 1, thread=event_pb2.Thread(pid=pid)
        ).SerializeToString()
        for i, (name, pid) in enumerate(events)
    ]
    columns = EventColumns.of(
        len(events),
        event_ids=[CATALOG.by_name[n].id for n, _ in events],
        pids=[p for _, p in events],
        cgroup_ids=[1] * len(events),
    )
    return EventBatch.from_events(encoded, columns, kernel_lost=kernel_lost)


def queued_size() -> int:
    """What one event of batch() costs queued (all such events cost the same
    while their sequence numbers take one byte)."""
    blob, _ = frame_events(batch([("read", 1)]), np.arange(1, dtype=np.int64), 1)
    return len(blob) + EVENT_OVERHEAD


def everything() -> Selection:
    return compile_selection(SelectionSpec(), CATALOG)


def request(
    allow: Sequence[tuple[Sequence[str], Sequence[int]]] = (),
    deny: Sequence[tuple[Sequence[str], Sequence[int]]] = (),
) -> probe_pb2.SubscribeRequest:
    return probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=n, pids=p) for n, p in allow],
        deny_list=[probe_pb2.EventFilter(names=n, pids=p) for n, p in deny],
    )


async def collect(sub: Subscription, responses: int) -> list[probe_pb2.SubscribeResponse]:
    """The next `responses` responses (fewer if the stream ends first)."""
    out: list[probe_pb2.SubscribeResponse] = []

    async def read() -> None:
        async for raw in sub.responses(lambda: ENVELOPE):
            out.append(probe_pb2.SubscribeResponse.FromString(raw))
            if len(out) == responses:
                break

    await asyncio.wait_for(read(), timeout=5)
    return out


def make_sub(
    selection: Selection,
    *,
    queue: int = 1000,
    queue_bytes: int = 1 << 20,
    max_batch: int = 100,
    delay: float = 0.0,
    overflow: Overflow = Overflow.DROP_NEWEST,
    resume_window: float = 0.0,
    resume_bytes: int = 1 << 20,
) -> Subscription:
    return Subscription(
        selection,
        asyncio.get_running_loop(),
        StreamOptions(max_batch, delay, overflow, resume_window),
        QueueLimits(queue, queue_bytes, resume_bytes),
    )


async def test_sequence_numbers_and_batching() -> None:
    sub = make_sub(everything(), max_batch=2)
    sub.offer(batch([("read", 1), ("write", 1), ("read", 2)]))
    sub.offer(batch([("close", 3)]))
    responses = await collect(sub, 3)
    seqs = [[e.seq for e in r.events] for r in responses]
    assert seqs == [[1, 2], [3], [4]]
    assert [e.name for r in responses for e in r.events] == ["read", "write", "read", "close"]
    assert all(r.node_name == "node" and not r.losses for r in responses)


async def test_filters_select_per_subscriber() -> None:
    by_name = make_sub(compile_request(request(allow=[(["read"], [])]), CATALOG))
    by_pid_but_not_close = make_sub(
        compile_request(request(allow=[([], [7])], deny=[(["close"], [])]), CATALOG)
    )
    broker = Broker()
    broker.add(by_name)
    broker.add(by_pid_but_not_close)
    broker.publish(batch([("read", 1), ("write", 7), ("close", 7), ("read", 7)]))
    (first,) = await collect(by_name, 1)
    (second,) = await collect(by_pid_but_not_close, 1)
    assert [(e.name, e.thread.pid, e.seq) for e in first.events] == [("read", 1, 1), ("read", 7, 2)]
    assert [(e.name, e.seq) for e in second.events] == [("write", 1), ("read", 2)]


async def test_a_slow_subscriber_loses_the_newest_events_and_is_told() -> None:
    sub = make_sub(everything(), queue=4)
    sub.offer(batch([("read", 1)] * 3))
    sub.offer(batch([("read", 1)] * 2))  # room for one: the newest is dropped
    sub.offer(batch([("read", 1)] * 2))  # still full: dropped, same range
    first, second = await collect(sub, 2)
    assert [e.seq for e in first.events] == [1, 2, 3]
    assert [e.seq for e in second.events] == [4]
    assert list(first.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=3, first_seq=5)
    ]
    # Room again: numbering continues after the gap.
    sub.offer(batch([("write", 1)]))
    (after,) = await collect(sub, 1)
    assert [e.seq for e in after.events] == [8]
    assert sub.stats.dropped == 3
    assert sub.stats.delivered == 5


async def test_at_shutdown_a_stalled_stream_gets_its_losses_in_one_last_response() -> None:
    sub = make_sub(everything(), queue=4, max_batch=2)
    sub.offer(batch([("read", 1)] * 6))  # 4 queued (two chunks), 2 dropped
    sub.close()
    responses = await collect(sub, 10)
    # Nothing queued is sent after close: one response with every loss.
    assert len(responses) == 1 and not responses[0].events
    assert list(responses[0].losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=2, first_seq=5),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_STOPPED, count=4, first_seq=1),
    ]
    assert sub.stats.delivered + sub.stats.dropped == 6


async def test_a_stream_stopped_between_two_chunks_reports_the_rest() -> None:
    sub = make_sub(everything(), queue=10, max_batch=2)
    sub.offer(batch([("read", 1)] * 6))  # three chunks
    stream = sub.responses(lambda: ENVELOPE)
    first = probe_pb2.SubscribeResponse.FromString(await anext(stream))
    sub.close()  # while the consumer holds the two other chunks
    rest = [probe_pb2.SubscribeResponse.FromString(r) async for r in stream]
    assert [e.seq for e in first.events] == [1, 2]
    assert [list(r.losses) for r in rest] == [
        [probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_STOPPED, count=4, first_seq=3)]
    ]


async def test_a_batch_larger_than_the_queue_delivers_what_fits() -> None:
    sub = make_sub(everything(), queue=64, max_batch=50)
    sub.offer(batch([("read", 1)] * 100))
    first, second = await collect(sub, 2)
    assert [e.seq for e in first.events] == list(range(1, 51))
    assert [e.seq for e in second.events] == list(range(51, 65))
    assert list(first.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=36, first_seq=65)
    ]


async def test_losses_while_stalled_stay_a_few_records() -> None:
    sub = make_sub(everything(), queue=2)
    for _ in range(1000):
        sub.offer(batch([("read", 1)] * 2, kernel_lost=3))
    (response,) = await collect(sub, 1)
    assert [e.seq for e in response.events] == [1, 2]
    assert list(response.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=3000),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=1998, first_seq=3),
    ]


async def test_kernel_losses_reach_every_subscriber_even_without_events() -> None:
    only_connect = make_sub(compile_request(request(allow=[(["connect"], [])]), CATALOG))
    only_connect.offer(batch([("read", 1)], kernel_lost=17))
    (response,) = await collect(only_connect, 1)
    assert not response.events
    assert list(response.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=17)
    ]


async def test_close_ends_the_stream() -> None:
    sub = make_sub(everything())
    sub.offer(batch([("read", 1)]))
    sub.close()
    responses = [r async for r in sub.responses(lambda: ENVELOPE)]
    assert len(responses) == 1


async def test_offers_from_another_thread_wake_the_consumer() -> None:
    sub = make_sub(everything())
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sub.offer, batch([("read", 5)]))
    (response,) = await asyncio.wait_for(collect(sub, 1), timeout=5)
    assert response.events[0].thread.pid == 5


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (request(allow=[(["read", "bogus"], [])]), "allow_list[0].names[1]: unknown event name"),
        (request(deny=[([], [0])]), "deny_list[0].pids[0]: 0 is not a process id"),
    ],
)
def test_invalid_filters_name_the_field(req: probe_pb2.SubscribeRequest, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compile_request(req, CATALOG)


def test_demands_for_kernel_pushdown() -> None:
    all_ids = frozenset(s.id for s in CATALOG.specs)
    # Naming no event asks for the probe's own (generic syscalls are named).
    own = frozenset(s.id for s in CATALOG.specs if not s.generic)
    ids = CATALOG.ids
    assert compile_request(request(), CATALOG).demands(all_ids) == [Demand(own)]
    only = compile_request(request(allow=[(["read"], []), (["write"], [5])]), CATALOG)
    assert only.demands(all_ids) == [
        Demand(ids(["read"])),
        Demand(ids(["write"]), pids=frozenset({5})),
    ]
    deny_read = compile_request(request(deny=[(["read"], [])]), CATALOG)
    assert deny_read.demands(all_ids) == [Demand(own - ids(["read"]))]
    # A deny filter limited to some pids cannot remove the event from the kernel.
    deny_some = compile_request(request(deny=[(["read"], [4])]), CATALOG)
    assert deny_some.demands(all_ids) == [Demand(own)]
    assert deny_some.denied_pids() == frozenset()
    # A deny filter of pids alone denies those processes for every event.
    deny_pid = compile_request(request(deny=[([], [4])]), CATALOG)
    assert deny_pid.denied_pids() == {4}


def test_cgroup_filters_select_threads_of_a_cgroup() -> None:
    req = probe_pb2.SubscribeRequest(allow_list=[probe_pb2.EventFilter(cgroup_ids=[77])])
    selection = compile_request(req, CATALOG)
    columns = EventColumns.of(2, event_ids=[1, 1], pids=[5, 5], cgroup_ids=[77, 78])
    batch = EventBatch.from_events([b"a", b"b"], columns)
    assert selection.mask(batch).tolist() == [True, False]
    bad = probe_pb2.SubscribeRequest(allow_list=[probe_pb2.EventFilter(cgroup_ids=[0])])
    with pytest.raises(FilterError, match=r"allow_list\[0\].cgroup_ids\[0\]: 0 is not a cgroup"):
        compile_request(bad, CATALOG)


async def test_without_a_delay_each_offer_is_sent_as_it_comes() -> None:
    sub = make_sub(everything())
    stream = sub.responses(lambda: ENVELOPE)
    sub.offer(batch([("read", 1)] * 2))
    first = probe_pb2.SubscribeResponse.FromString(await anext(stream))
    sub.offer(batch([("read", 1)] * 3))
    second = probe_pb2.SubscribeResponse.FromString(await anext(stream))
    assert [len(first.events), len(second.events)] == [2, 3]


async def test_a_delay_gathers_offers_into_one_response() -> None:
    sub = make_sub(everything(), delay=0.3)
    stream = sub.responses(lambda: ENVELOPE)
    began = asyncio.get_running_loop().time()
    for _ in range(3):
        sub.offer(batch([("read", 1)] * 2))
        await asyncio.sleep(0.02)
    response = probe_pb2.SubscribeResponse.FromString(await anext(stream))
    waited = asyncio.get_running_loop().time() - began
    assert [e.seq for e in response.events] == [1, 2, 3, 4, 5, 6]
    assert 0.25 < waited < 2.0


async def test_a_full_response_does_not_wait_for_the_delay() -> None:
    sub = make_sub(everything(), delay=5.0, max_batch=4)
    stream = sub.responses(lambda: ENVELOPE)
    sub.offer(batch([("read", 1)] * 3))
    sub.offer(batch([("read", 1)] * 3))
    first = probe_pb2.SubscribeResponse.FromString(
        await asyncio.wait_for(anext(stream), timeout=1.0)
    )
    second = probe_pb2.SubscribeResponse.FromString(
        await asyncio.wait_for(anext(stream), timeout=1.0)
    )
    # Joined up to the stream's max events, never across it.
    assert [len(first.events), len(second.events)] == [3, 3]


def test_batching_requests_are_checked() -> None:
    def ask(**given: object) -> tuple[int, float]:
        return batching(probe_pb2.Batching(**given), 2048)

    assert batching(probe_pb2.Batching(), 2048) == (2048, 0.0)
    assert ask(max_events=100, max_delay=duration_pb2.Duration(nanos=5_000_000)) == (100, 0.005)
    with pytest.raises(FilterError, match=r"max_events: 5000 is more than the service's 2048"):
        ask(max_events=5000)
    with pytest.raises(FilterError, match=r"batching\.max_delay: a delay from 0 to 10 seconds"):
        ask(max_delay=duration_pb2.Duration(seconds=11))
    with pytest.raises(FilterError, match=r"batching\.max_delay"):
        ask(max_delay=duration_pb2.Duration(seconds=-1))


def test_each_response_says_when_it_was_sent() -> None:
    envelope = Envelope("node", lambda: 0.0)
    before = time.time_ns()
    response = probe_pb2.SubscribeResponse.FromString(envelope())
    assert response.node_name == "node"
    assert before <= response.sent_at.ToNanoseconds() <= time.time_ns()


async def test_events_framed_while_the_stream_closes_are_reported_not_queued() -> None:
    sub = make_sub(everything())
    framing = sub._admit

    def close_then_admit(*args: object) -> None:
        sub._closed = True
        framing(*args)  # type: ignore[arg-type]

    sub._admit = close_then_admit  # type: ignore[method-assign]
    sub.offer(batch([("read", 1)] * 3))
    (last,) = await collect(sub, 2)
    assert not last.events
    assert list(last.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SERVICE_STOPPED, count=3, first_seq=1)
    ]
