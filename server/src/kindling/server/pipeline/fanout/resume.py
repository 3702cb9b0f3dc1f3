"""The responses a resumable stream sent lately, kept so that a client that
reconnects gets what it missed, bounded in time and bytes."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.encode.framing import LossRecord
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.chunk import Chunk

RESUME_TOO_LATE = probe_pb2.LOSS_REASON_RESUME_TOO_LATE


@dataclass(slots=True)
class SentResponse:
    chunks: list[Chunk]
    losses: list[LossRecord]
    sent: float
    # Bytes charged to the memory budget.
    memory: int

    @property
    def last_seq(self) -> int:
        """The highest sequence number its events and loss ranges cover."""
        ends = [c.last_seq for c in self.chunks]
        ends += [x.first_seq + x.count - 1 for x in self.losses if x.first_seq]
        return max(ends, default=0)


class ResumeBuffer:
    """Owned by the stream's consumer side (the event loop)."""

    def __init__(
        self,
        window: float,
        max_bytes: int,
        budget: MemoryBudget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._max_bytes = max_bytes
        self._budget = budget
        self._clock = clock
        self._sent: deque[SentResponse] = deque()
        self._bytes = 0
        # Every sequence number up to this one was in a response let go.
        self._let_go_through = 0
        self.last_sent_seq = 0

    def keep(self, chunks: list[Chunk], losses: list[LossRecord], memory: int) -> None:
        """Keep a response being sent; its `memory` is already charged to
        the budget (by the queue it leaves)."""
        response = SentResponse(chunks, losses, self._clock(), memory)
        if chunks:
            self.last_sent_seq = chunks[-1].last_seq
        self._sent.append(response)
        self._bytes += memory
        self.expire()
        while self._bytes > self._max_bytes:
            self._let_go()

    def expire(self) -> None:
        oldest = self._clock() - self._window
        while self._sent and self._sent[0].sent < oldest:
            self._let_go()

    def clear(self) -> None:
        while self._sent:
            self._let_go()

    def _let_go(self) -> None:
        response = self._sent.popleft()
        self._bytes -= response.memory
        self._budget.give(response.memory)
        self._let_go_through = max(self._let_go_through, response.last_seq)

    def replay(self, last_seq: int) -> list[tuple[list[Chunk], list[LossRecord]]]:
        """The responses to send again to a client whose last event was
        `last_seq`: a Loss for what was let go after it, the rest of the
        response that carried it, and every later response, whose loss
        ranges are cut to what the client did not get."""
        self.expire()
        out: list[tuple[list[Chunk], list[LossRecord]]] = []
        if last_seq < self._let_go_through:
            gap = self._let_go_through - last_seq
            out.append(([], [LossRecord(RESUME_TOO_LATE, gap, last_seq + 1)]))
        floor = max(last_seq, self._let_go_through)
        # The last response with an event at or before last_seq carried it.
        start = 0
        for k, response in enumerate(self._sent):
            if response.chunks and response.chunks[0].first_seq <= last_seq:
                start = k
        for k, response in enumerate(self._sent):
            if k < start:
                continue
            chunks = [c for c in (c.after(last_seq) for c in response.chunks) if c is not None]
            if k == start and response.chunks and response.chunks[0].first_seq <= last_seq:
                if chunks:
                    out.append((chunks, []))
                continue
            losses = [x for x in (_after(loss, floor) for loss in response.losses) if x]
            if chunks or losses:
                out.append((chunks, losses))
        return out


def _after(loss: LossRecord, seq: int) -> LossRecord | None:
    """The part of a loss after `seq` (losses without a range stay whole)."""
    if not loss.first_seq or loss.first_seq > seq:
        return loss
    end = loss.first_seq + loss.count  # excluded
    if end <= seq + 1:
        return None
    return LossRecord(loss.reason, end - seq - 1, seq + 1)
