"""Resuming a stream: what the client missed, once, and an exact Loss for
what the service no longer has."""

from __future__ import annotations

import numpy as np
from test_broker import ENVELOPE, batch, collect, everything, make_sub, queued_size

from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.chunk import Chunk
from kindling.server.pipeline.fanout.resume import ResumeBuffer
from kindling.server.pipeline.fanout.subscription import Subscription

TOO_LATE = probe_pb2.LOSS_REASON_RESUME_TOO_LATE


async def read(
    sub: Subscription, resume_after: int, responses: int
) -> list[probe_pb2.SubscribeResponse]:
    stream = sub.read(sub.attach(resume_after), lambda: ENVELOPE)
    out = []
    async for raw in stream:
        out.append(probe_pb2.SubscribeResponse.FromString(raw))
        if len(out) == responses:
            break
    return out


async def test_a_resumed_stream_resends_what_followed_last_seq_once() -> None:
    sub = make_sub(everything(), max_batch=3, resume_window=60)
    sub.offer(batch([("read", 1)] * 7))  # responses 1-3, 4-6, 7
    announced, *sent = await collect(sub, 4)
    assert not announced.events and announced.stream_id == sub.stream_id
    assert all(r.stream_id == sub.stream_id for r in sent)
    # The client got 1-5 (say, in the middle of the second response).
    again = await read(sub, 5, 2)
    assert [[e.seq for e in r.events] for r in again] == [[6], [7]]
    sub.offer(batch([("write", 1)] * 2))
    (new,) = await read(sub, 7, 1)
    assert [e.seq for e in new.events] == [8, 9]
    assert sub.stats.resent == 2


async def test_resume_beyond_what_was_kept_reports_the_gap_exactly() -> None:
    one = queued_size()
    sub = make_sub(everything(), max_batch=2, resume_window=60, resume_bytes=4 * one)
    sub.offer(batch([("read", 1)] * 10))  # five responses of two
    await collect(sub, 6)  # and the first, with the stream id
    # Two responses (four events) fit in the resume buffer: 7-10.
    gap, *rest = await read(sub, 3, 3)
    assert not gap.events
    assert list(gap.losses) == [probe_pb2.Loss(reason=TOO_LATE, count=3, first_seq=4)]
    assert [e.seq for r in rest for e in r.events] == [7, 8, 9, 10]


async def test_losses_reported_again_are_cut_to_what_the_client_missed() -> None:
    sub = make_sub(everything(), queue=2, max_batch=2, resume_window=60)
    sub.offer(batch([("read", 1)] * 5))  # 1-2 queued, 3-5 dropped
    _, first = await collect(sub, 2)
    assert [e.seq for e in first.events] == [1, 2]
    assert list(first.losses) == [
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=3, first_seq=3)
    ]
    sub.offer(batch([("read", 1)] * 2))  # 6-7
    await collect(sub, 1)
    # A client that got only event 1 got the first response, losses and all.
    (again,) = await read(sub, 1, 1)
    assert [e.seq for e in again.events] == [2]
    assert not again.losses


def test_the_resume_buffer_lets_responses_go_after_its_window() -> None:
    now = [0.0]
    budget = MemoryBudget(1 << 20)
    kept = ResumeBuffer(10.0, 1 << 20, budget, clock=lambda: now[0])
    offsets = np.array([0, 5, 10], dtype=np.int64)
    for first_seq in (1, 3):
        assert budget.take(10)
        kept.keep([Chunk(b"x" * 10, offsets, first_seq)], [], 10)
        now[0] += 6
    # The first response is 12 s old: let go, and its memory given back.
    (gap, last) = kept.replay(0)
    assert gap[1][0].count == 2 and gap[1][0].first_seq == 1
    assert [c.first_seq for c in last[0]] == [3]
    assert budget.used == 10
