"""Fan-out of encoded events to subscribers, each with its own bounded queue.

The pipeline thread (the producer) selects each subscriber's events with its
filter, numbers them with the subscriber's sequence numbers and frames them
into SubscribeResponse chunks. The gRPC side (the consumer, on the event
loop) only moves those bytes. A subscriber that reads too slowly loses the
newest batch, never blocks the others, and is told: its sequence numbers
skip the lost events and its next response carries a Loss with the range.
Kernel buffer losses are reported to every subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.encode.framing import LossRecord, frame_events
from kindling.server.pipeline.fanout.filters import Selection

_NO_ROWS = np.empty(0, dtype=np.int64)

KERNEL_BUFFER_FULL = probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL
SUBSCRIBER_QUEUE_FULL = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL
SERVICE_ERROR = probe_pb2.LOSS_REASON_SERVICE_ERROR
NOT_RECORDED = probe_pb2.LOSS_REASON_NOT_RECORDED
SERVICE_STOPPED = probe_pb2.LOSS_REASON_SERVICE_STOPPED


@dataclass
class SubscriptionStats:
    delivered: int = 0
    dropped: int = 0
    kernel_lost: int = 0
    failed: int = 0
    not_recorded: int = 0
    responses: int = 0


class Subscription:
    """One Subscribe stream's queue. Producer: the pipeline thread; consumer:
    the gRPC handler on the event loop."""

    def __init__(
        self,
        selection: Selection,
        loop: asyncio.AbstractEventLoop,
        *,
        max_queued_events: int,
        max_batch_events: int,
        max_delay: float = 0.0,
        peer: str = "",
    ) -> None:
        self.selection = selection
        self.peer = peer
        self.stats = SubscriptionStats()
        self._loop = loop
        self._max_queued = max_queued_events
        self._max_batch = max_batch_events
        # How long the first queued event may wait for more (seconds).
        self._max_delay = max_delay
        self._first_queued = 0.0
        self._lock = threading.Lock()
        # (encoded events, number of events, first seq) chunks waiting for
        # the consumer.
        self._queue: deque[tuple[bytes, int, int]] = deque()
        self._queued_events = 0
        # Losses not yet reported: counts for the kernel and the service, and
        # the sequence ranges this stream skipped.
        self._kernel_lost = 0
        self._failed = 0
        self._not_recorded = 0
        self._dropped: list[LossRecord] = []
        self._next_seq = 1
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._closed = False

    # -- producer side (pipeline thread) -----------------------------------------

    def offer(self, batch: EventBatch) -> None:
        indexes = np.flatnonzero(self.selection.mask(batch)) if len(batch) else _NO_ROWS
        count = len(indexes)
        if not count and not (batch.kernel_lost or batch.failed or batch.not_recorded):
            return
        with self._lock:
            # Admit what fits, oldest first; the newest events that do not
            # fit are dropped and reported (their sequence numbers are skipped).
            admitted = min(count, max(0, self._max_queued - self._queued_events))
            first_seq = self._next_seq
            self._next_seq += count
            self._queued_events += admitted  # room reserved; framed outside the lock
            self._kernel_lost += batch.kernel_lost
            self._failed += batch.failed
            self.stats.kernel_lost += batch.kernel_lost
            self.stats.failed += batch.failed
            self._not_recorded += batch.not_recorded
            self.stats.not_recorded += batch.not_recorded
            if admitted < count:
                self._add_drop(first_seq + admitted, count - admitted)
        if admitted:
            blob, at = frame_events(
                batch, indexes[:admitted], first_seq, self.selection.payload, self.selection.fields
            )
            bounds = [*range(0, admitted, self._max_batch), admitted]
            chunks = [
                (blob[at[a] : at[b]], b - a, first_seq + a) for a, b in itertools.pairwise(bounds)
            ]
            with self._lock:
                if not self._queue:
                    self._first_queued = time.monotonic()
                self._queue.extend(chunks)
        self._wake()

    def _add_drop(self, first_seq: int, count: int, reason: int = SUBSCRIBER_QUEUE_FULL) -> None:
        """Record dropped events, merging ranges that continue the last one."""
        self.stats.dropped += count
        last = self._dropped[-1] if self._dropped else None
        if last is not None and last.reason == reason and last.first_seq + last.count == first_seq:
            last.count += count
        else:
            self._dropped.append(LossRecord(reason, count, first_seq))

    def _unsent(self, chunks: Iterable[tuple[bytes, int, int]]) -> None:
        """Report queued chunks the stream will never get (call with the lock)."""
        for _, count, first_seq in chunks:
            self._queued_events -= count
            self._add_drop(first_seq, count, SERVICE_STOPPED)

    def _take_losses(self) -> list[LossRecord]:
        """The losses not yet reported (call with the lock held)."""
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
            if self._wake_pending or self._closed:
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
            self._unsent(self._queue)
            self._queue.clear()
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._ready.set)

    # -- consumer side (event loop) ----------------------------------------------

    async def _gather(self) -> None:
        """With a max delay, let the first queued event wait for more until
        a response's worth is queued or the delay is over."""
        while self._max_delay:
            with self._lock:
                if self._closed or not self._queue or self._queued_events >= self._max_batch:
                    return
                left = self._first_queued + self._max_delay - time.monotonic()
                self._ready.clear()
                self._wake_pending = False
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), left)

    async def responses(self, envelope: Callable[[], bytes]) -> AsyncIterator[bytes]:
        """Serialized SubscribeResponses until the subscription is closed."""
        while True:
            await self._ready.wait()
            await self._gather()
            with self._lock:
                self._ready.clear()
                self._wake_pending = False
                chunks = list(self._queue)
                if self._max_delay:  # gathered: as few responses as fit
                    chunks = _joined(chunks, self._max_batch)
                self._queue.clear()
                losses = self._take_losses()
                closed = self._closed
            for k, (events, count, _) in enumerate(chunks):
                with self._lock:
                    if self._closed:
                        self._unsent(chunks[k:])
                        break
                    self._queued_events -= count
                loss_bytes = b"".join(loss.encode() for loss in losses)
                losses = []
                self.stats.delivered += count
                self.stats.responses += 1
                yield events + loss_bytes + envelope()
            with self._lock:
                if self._closed:
                    closed = True
                    losses += self._take_losses()
            if losses:
                self.stats.responses += 1
                yield b"".join(loss.encode() for loss in losses) + envelope()
            if closed:
                return


def _joined(chunks: list[tuple[bytes, int, int]], most: int) -> list[tuple[bytes, int, int]]:
    """Consecutive chunks joined into responses of at most `most` events."""
    joined: list[tuple[bytes, int, int]] = []
    for events, count, first_seq in chunks:
        if joined and joined[-1][1] + count <= most:
            last_events, last_count, last_first = joined[-1]
            joined[-1] = (last_events + events, last_count + count, last_first)
        else:
            joined.append((events, count, first_seq))
    return joined


@dataclass
class Broker:
    """The set of live subscriptions; publish() runs on the pipeline thread."""

    _subscriptions: tuple[Subscription, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_change: Callable[[], None] | None = None

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        if self.on_change:
            self.on_change()

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
        if self.on_change:
            self.on_change()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._subscriptions

    def publish(self, batch: EventBatch) -> None:
        for subscription in self._subscriptions:
            subscription.offer(batch)

    def close_all(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
