"""The live streams: the pipeline thread publishes each batch to all of
them; the API adds, removes and finds them (resumable streams by id)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kindling.server.pipeline.encode.batch import EventBatch
from kindling.server.pipeline.fanout.subscription import Subscription


@dataclass
class Broker:
    _subscriptions: tuple[Subscription, ...] = ()
    _resumable: dict[str, Subscription] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_change: Callable[[], None] | None = None

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
            if subscription.stream_id:
                self._resumable[subscription.stream_id] = subscription
        if self.on_change:
            self.on_change()

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
            self._resumable.pop(subscription.stream_id, None)
        subscription.release()
        if self.on_change:
            self.on_change()

    def resumable(self, stream_id: str) -> Subscription | None:
        return self._resumable.get(stream_id)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._subscriptions

    def publish(self, batch: EventBatch) -> None:
        for subscription in self._subscriptions:
            subscription.offer(batch)

    def close_all(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
