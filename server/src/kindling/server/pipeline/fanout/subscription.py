"""One Subscribe stream: its filter, sequence numbers, bounded queue and
losses, and, when resumable, the responses it sent lately.

The pipeline thread (the producer) selects the stream's events with its
filter, numbers them and frames them into SubscribeResponse entries. The
gRPC side (the consumer, on the event loop) only moves those bytes. A
subscriber that reads too slowly never blocks the others: its queue is
bounded in events and bytes (its own, and the memory all streams share),
and its overflow policy drops the newest or the oldest events or ends the
stream. Every event it loses is skipped in its sequence numbers and
reported, with the range, in its next response.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.framing import (
    LossRecord,
    frame_events,
    frame_response,
    stream_id_field,
)
from kindling.server.pipeline.fanout.budget import MemoryBudget
from kindling.server.pipeline.fanout.chunk import Chunk
from kindling.server.pipeline.fanout.filters import Selection
from kindling.server.pipeline.fanout.options import Overflow, QueueLimits, StreamOptions
from kindling.server.pipeline.fanout.resume import ResumeBuffer

_NO_ROWS = np.empty(0, dtype=np.int64)
# What a queued event costs beyond its bytes (its offset, its share of the
# chunk's objects).
EVENT_OVERHEAD = 16

KERNEL_BUFFER_FULL = probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL
SUBSCRIBER_QUEUE_FULL = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL
SERVICE_ERROR = probe_pb2.LOSS_REASON_SERVICE_ERROR
NOT_RECORDED = probe_pb2.LOSS_REASON_NOT_RECORDED
SERVICE_STOPPED = probe_pb2.LOSS_REASON_SERVICE_STOPPED


def memory_of(chunks: Iterable[Chunk]) -> int:
    return sum(c.size + EVENT_OVERHEAD * c.count for c in chunks)


@dataclass
class SubscriptionStats:
    delivered: int = 0
    dropped: int = 0
    kernel_lost: int = 0
    failed: int = 0
    not_recorded: int = 0
    responses: int = 0
    resent: int = 0


class Reader:
    """One connection's reading of a stream (Subscription.attach)."""

    def __init__(self, resume_after: int | None) -> None:
        self.resume_after = resume_after
        # Set when the reader must stop at once, even in the middle of a
        # write that a stalled client holds up; `reason` says why.
        self.interrupted = asyncio.Event()
        self.reason = ""


class Subscription:
    """Producer: the pipeline thread (offer, close); consumer: one reader at
    a time on the event loop (attach)."""

    def __init__(
        self,
        selection: Selection,
        loop: asyncio.AbstractEventLoop,
        options: StreamOptions,
        limits: QueueLimits,
        budget: MemoryBudget | None = None,
        *,
        peer: str = "",
        caller: str = "",
    ) -> None:
        self.selection = selection
        self.options = options
        self.limits = limits
        # A short name ("#7", a metric label) and who opened the stream.
        self.peer = peer
        self.caller = caller
        self.stats = SubscriptionStats()
        self.stream_id = secrets.token_hex(16) if options.resume_window else ""
        self._stream_id_field = stream_id_field(self.stream_id)
        self._budget = budget or MemoryBudget(limits.bytes + limits.resume_bytes)
        self._resume = (
            ResumeBuffer(options.resume_window, limits.resume_bytes, self._budget)
            if options.resume_window
            else None
        )
        self._loop = loop
        self._lock = threading.Lock()
        self._queue: deque[Chunk] = deque()
        self._queued_events = 0
        self._queued_bytes = 0
        self._first_queued = 0.0
        # Losses not yet reported: counts for the kernel and the service, and
        # the sequence ranges this stream skipped.
        self._kernel_lost = 0
        self._failed = 0
        self._not_recorded = 0
        self._dropped: list[LossRecord] = []
        self._next_seq = 1
        self._closed = False
        # A DISCONNECT stream whose queue was full, until it is resumed.
        self._overflowed = False
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._reader: Reader | None = None

    @property
    def resumable(self) -> bool:
        return self._resume is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_events(self) -> int:
        return self._queued_events

    # -- producer side (pipeline thread) -----------------------------------------

    def offer(self, batch: EventBatch) -> None:
        indexes = np.flatnonzero(self.selection.mask(batch)) if len(batch) else _NO_ROWS
        count = len(indexes)
        if not count and not (batch.kernel_lost or batch.failed or batch.not_recorded):
            return
        with self._lock:
            first_seq = self._next_seq
            self._next_seq += count
            self._kernel_lost += batch.kernel_lost
            self._failed += batch.failed
            self._not_recorded += batch.not_recorded
            self.stats.kernel_lost += batch.kernel_lost
            self.stats.failed += batch.failed
            self.stats.not_recorded += batch.not_recorded
            span = self._worth_framing(first_seq, count) if count else None
        if span is not None:
            a, b = span
            selection = self.selection
            blob, at = frame_events(
                batch, indexes[a:b], first_seq + a, selection.payload, selection.fields
            )
            with self._lock:
                self._admit(blob, at, first_seq, a, b, count)
        self._wake()

    def _worth_framing(self, first_seq: int, count: int) -> tuple[int, int] | None:
        """The events of the offer that may fit by number (the lock held)."""
        room = max(0, self.limits.events - self._queued_events)
        if self._closed or self._overflowed:
            self._add_drop(first_seq, count)
            return None
        if self.options.overflow is Overflow.DROP_OLDEST:
            return count - min(count, self.limits.events), count
        if not room:
            self._full(first_seq, count)
            return None
        return 0, min(count, room)

    def _admit(
        self, blob: bytes, at: npt.NDArray[np.int64], first_seq: int, a: int, b: int, count: int
    ) -> None:
        """Queue framed events a to b of an offer of `count` by the stream's
        policy; report the rest (the lock held)."""
        if self._closed:  # while the events were framed: they will not be sent
            self._add_drop(first_seq, count, SERVICE_STOPPED)
            return
        # memory[k]: what the first k framed events cost queued.
        memory = at + EVENT_OVERHEAD * np.arange(b - a + 1, dtype=np.int64)
        if self.options.overflow is Overflow.DROP_OLDEST:
            self._keep_newest(blob, at, memory, first_seq, a)
        else:
            self._keep_oldest(blob, at, memory, first_seq, count)

    def _keep_oldest(
        self,
        blob: bytes,
        at: npt.NDArray[np.int64],
        memory: npt.NDArray[np.int64],
        first_seq: int,
        count: int,
    ) -> None:
        """Queue the framed events that fit after those queued."""
        room = min(self.limits.bytes - self._queued_bytes, self._budget.room())
        fit = max(0, int(np.searchsorted(memory, room, "right")) - 1)
        cost = int(memory[fit])
        if not self._budget.take(cost):
            fit, cost = 0, 0
        self._queue_entries(blob, at, first_seq, 0, fit, cost)
        self._full(first_seq + fit, count - fit)

    def _keep_newest(
        self,
        blob: bytes,
        at: npt.NDArray[np.int64],
        memory: npt.NDArray[np.int64],
        first_seq: int,
        skipped: int,
    ) -> None:
        """Queue the newest framed events that fit the stream's bytes, making
        room by dropping the oldest queued (the first `skipped` of the offer
        were not framed: they could not fit)."""
        entries = len(at) - 1
        keep_from = int(np.searchsorted(memory, memory[-1] - self.limits.bytes, "left"))
        cost = int(memory[-1] - memory[keep_from])
        while self._queue and (
            self._queued_events + entries - keep_from > self.limits.events
            or self._queued_bytes + cost > self.limits.bytes
            or cost > self._budget.room()
        ):
            self._evict_oldest()
        if not self._budget.take(cost):
            keep_from, cost = entries, 0
        self._add_drop(first_seq, skipped + keep_from)
        self._queue_entries(blob, at, first_seq + skipped, keep_from, entries, cost)

    def _full(self, first_seq: int, count: int) -> None:
        """Events that found the queue full: dropped (the newest), and for a
        DISCONNECT stream the end of its reader."""
        if count <= 0:
            return
        if self.options.overflow is Overflow.DISCONNECT:
            self._overflow(first_seq, count)
        else:
            self._add_drop(first_seq, count)

    def _queue_entries(
        self, blob: bytes, at: npt.NDArray[np.int64], first_seq: int, a: int, b: int, cost: int
    ) -> None:
        if a >= b:
            return
        if not self._queue:
            self._first_queued = time.monotonic()
        step = self.options.max_batch_events
        for x in range(a, b, step):
            self._queue.append(Chunk.cut(blob, at, x, min(x + step, b), first_seq))
        self._queued_events += b - a
        self._queued_bytes += cost

    def _evict_oldest(self) -> None:
        chunk = self._queue.popleft()
        self._dequeued(chunk)
        self._budget.give(memory_of((chunk,)))
        self._add_drop(chunk.first_seq, chunk.count)

    def _dequeued(self, chunk: Chunk) -> None:
        self._queued_events -= chunk.count
        self._queued_bytes -= memory_of((chunk,))

    def _overflow(self, first_seq: int, count: int) -> None:
        """A DISCONNECT stream's queue is full: end its reader. A resumable
        stream keeps its queue for the client's return; another one reports
        it lost."""
        self._overflowed = True
        if not self._resume:
            while self._queue:
                self._evict_oldest()
        self._add_drop(first_seq, count)
        reader = self._reader
        if reader is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: stopping
                self._loop.call_soon_threadsafe(self._interrupt, reader, "overflowed")

    def _add_drop(self, first_seq: int, count: int, reason: int = SUBSCRIBER_QUEUE_FULL) -> None:
        """Record dropped events, merging ranges that continue the last one."""
        if count <= 0:
            return
        self.stats.dropped += count
        last = self._dropped[-1] if self._dropped else None
        if last is not None and last.reason == reason and last.first_seq + last.count == first_seq:
            last.count += count
        else:
            self._dropped.append(LossRecord(reason, count, first_seq))

    def _take_losses(self) -> list[LossRecord]:
        """The losses not yet reported (the lock held)."""
        losses = []
        if self._kernel_lost:
            losses.append(LossRecord(KERNEL_BUFFER_FULL, self._kernel_lost))
        if self._failed:
            losses.append(LossRecord(SERVICE_ERROR, self._failed))
        if self._not_recorded:
            losses.append(LossRecord(NOT_RECORDED, self._not_recorded))
        losses.extend(self._dropped)
        self._kernel_lost = self._failed = self._not_recorded = 0
        self._dropped = []
        return losses

    def _wake(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop closed: the service is stopping
            self._loop.call_soon_threadsafe(self._ready.set)

    def close(self) -> None:
        """End the stream (service shutdown): what is still queued is not
        sent but reported lost, with every pending loss, in one last small
        response, which even a slow reader can take within the grace period."""
        with self._lock:
            self._closed = True
            while self._queue:
                chunk = self._queue.popleft()
                self._dequeued(chunk)
                self._budget.give(memory_of((chunk,)))
                self._add_drop(chunk.first_seq, chunk.count, SERVICE_STOPPED)
            self._wake_pending = False
        self._wake()

    # -- consumer side (event loop) ----------------------------------------------

    def attach(self, resume_after: int | None = None) -> Reader:
        """A reader of the stream, replacing the one before (a resume):
        with `resume_after`, it first sends again what the client missed."""
        if self._reader is not None:
            self._interrupt(self._reader, "superseded")
        with self._lock:
            self._overflowed = False
        self._reader = Reader(resume_after)
        self._ready.set()  # what was queued meanwhile is for this reader
        return self._reader

    def _interrupt(self, reader: Reader, reason: str) -> None:
        if not reader.interrupted.is_set():
            reader.reason = reason
            reader.interrupted.set()
            self._ready.set()  # wake the reader to see it

    def responses(self, envelope: Callable[[], bytes]) -> AsyncIterator[bytes]:
        """Serialized SubscribeResponses until the stream is closed."""
        return self.read(self.attach(), envelope)

    def last_sent_seq(self) -> int:
        return self._resume.last_sent_seq if self._resume else 0

    def release(self) -> None:
        """Give back the memory the stream holds (it is gone)."""
        self.close()
        if self._resume:
            self._resume.clear()

    async def read(
        self, reader: Reader, envelope: Callable[[], bytes]
    ) -> AsyncGenerator[bytes, None]:
        """Serialized SubscribeResponses until the stream is closed or the
        reader interrupted."""
        if self._resume is not None:
            if reader.resume_after is None and not self.stats.responses:
                self.stats.responses += 1  # a new stream: its id, at once
                yield self._frame([], [], envelope)
            elif reader.resume_after is not None:
                for chunks, losses in self._resume.replay(reader.resume_after):
                    self.stats.resent += sum(c.count for c in chunks)
                    yield self._frame(chunks, losses, envelope)
        while not reader.interrupted.is_set():
            await self._ready.wait()
            await self._gather(reader)
            while not reader.interrupted.is_set():
                with self._lock:
                    self._ready.clear()
                    self._wake_pending = False
                    chunks, losses, closed = self._next_response()
                if chunks or losses:
                    self._sent(chunks, losses)
                    yield self._frame(chunks, losses, envelope)
                if closed:
                    return
                if not chunks:
                    break

    async def _gather(self, reader: Reader) -> None:
        """With a max delay, let the first queued event wait for more until
        a response's worth is queued or the delay is over."""
        while self.options.max_delay and not reader.interrupted.is_set():
            with self._lock:
                if (
                    self._closed
                    or not self._queue
                    or self._queued_events >= self.options.max_batch_events
                ):
                    return
                left = self._first_queued + self.options.max_delay - time.monotonic()
                self._ready.clear()
                self._wake_pending = False
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), left)

    def _frame(
        self, chunks: list[Chunk], losses: list[LossRecord], envelope: Callable[[], bytes]
    ) -> bytes:
        events = chunks[0].data if len(chunks) == 1 else b"".join(c.data for c in chunks)
        return frame_response(events, losses, envelope(), self._stream_id_field)

    def _next_response(self) -> tuple[list[Chunk], list[LossRecord], bool]:
        """The next response's chunks and losses, and whether the stream is
        closed (the lock held)."""
        chunks: list[Chunk] = []
        if self._queue:
            chunks.append(self._queue.popleft())
            if self.options.max_delay:  # gathered: as few responses as fit
                events, most = chunks[0].count, self.options.max_batch_events
                while self._queue and events + self._queue[0].count <= most:
                    chunks.append(self._queue.popleft())
                    events += chunks[-1].count
            for chunk in chunks:
                self._dequeued(chunk)
        return chunks, self._take_losses(), self._closed and not self._queue

    def _sent(self, chunks: list[Chunk], losses: list[LossRecord]) -> None:
        """A response leaves: keep it for a resume, or give its memory back."""
        memory = memory_of(chunks)
        if self._resume:
            self._resume.keep(chunks, losses, memory)
        else:
            self._budget.give(memory)
        self.stats.delivered += sum(c.count for c in chunks)
        self.stats.responses += 1
