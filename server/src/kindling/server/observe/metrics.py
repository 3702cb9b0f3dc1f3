"""The service's metrics, in Prometheus format on an optional HTTP listener.

Counters the service keeps anyway (the driver's, the streams') are read when
Prometheus scrapes, so they cost nothing between scrapes; what has no
counter of its own (batch sizes and durations, RPCs) is observed once per
batch or call, never per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import Driver
from kindling.server.errors import StartupError
from kindling.server.pipeline.fanout.broker import Broker
from kindling.server.pipeline.fanout.budget import MemoryBudget

log = logging.getLogger(__name__)

_BATCH_RECORDS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000)
_BATCH_SECONDS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class _Snapshot(Collector):
    """The counters the driver and the streams keep, read at each scrape."""

    def __init__(
        self, driver: Driver, broker: Broker, budget: MemoryBudget, catalog: Catalog
    ) -> None:
        self._driver = driver
        self._broker = broker
        self._budget = budget
        self._catalog = catalog

    def collect(self) -> Iterator[Metric]:
        stats = self._driver.stats()
        yield CounterMetricFamily(
            "kindling_records", "Kernel records the service read.", value=stats.records
        )
        yield CounterMetricFamily(
            "kindling_late_records",
            "Records that came later than the merge window and were delivered out of order.",
            value=stats.late_records,
        )
        emitted = CounterMetricFamily(
            "kindling_kernel_emitted", "Records the kernel sent, by event.", labels=["event"]
        )
        filtered = CounterMetricFamily(
            "kindling_kernel_filtered",
            "Calls the kernel's filters dropped, by event.",
            labels=["event"],
        )
        lost = CounterMetricFamily(
            "kindling_kernel_lost",
            "Records the kernel buffer had no room for, by event.",
            labels=["event"],
        )
        for event_id, counters in stats.events.items():
            name = [self._catalog.by_id[event_id].name]
            emitted.add_metric(name, counters.emitted)
            filtered.add_metric(name, counters.filtered)
            lost.add_metric(name, counters.lost)
        yield from (emitted, filtered, lost)
        by_cpu = CounterMetricFamily(
            "kindling_kernel_lost_by_cpu",
            "Records the kernel buffer had no room for, by the CPU they came from.",
            labels=["cpu"],
        )
        for cpu, count in enumerate(stats.lost_by_cpu):
            by_cpu.add_metric([str(cpu)], count)
        yield by_cpu
        streams = self._broker.subscriptions
        yield GaugeMetricFamily("kindling_subscribers", "Streams now.", value=len(streams))
        yield GaugeMetricFamily(
            "kindling_queue_memory_bytes",
            "Bytes the streams' queues and resume buffers hold.",
            value=self._budget.used,
        )
        yield GaugeMetricFamily(
            "kindling_queue_memory_limit_bytes",
            "Bytes they may hold together (--queue-memory-mb).",
            value=self._budget.limit,
        )
        delivered = CounterMetricFamily(
            "kindling_stream_delivered", "Events sent to each stream.", labels=["stream"]
        )
        stream_lost = CounterMetricFamily(
            "kindling_stream_lost",
            "Events each stream lost, by reason.",
            labels=["stream", "reason"],
        )
        queued = GaugeMetricFamily(
            "kindling_stream_queued_events", "Events queued for each stream.", labels=["stream"]
        )
        for sub in streams:
            label = sub.peer or "?"
            delivered.add_metric([label], sub.stats.delivered)
            stream_lost.add_metric([label, "queue_full"], sub.stats.dropped)
            stream_lost.add_metric([label, "kernel_buffer_full"], sub.stats.kernel_lost)
            stream_lost.add_metric([label, "service_error"], sub.stats.failed)
            queued.add_metric([label], sub.queued_events)
        yield from (delivered, stream_lost, queued)


class ServiceMetrics:
    """The metrics of one service; `serve` publishes them."""

    def __init__(
        self, driver: Driver, broker: Broker, budget: MemoryBudget, catalog: Catalog
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Snapshot(driver, broker, budget, catalog))
        self._batch_records = Histogram(
            "kindling_batch_records",
            "Records per batch the pipeline built.",
            buckets=_BATCH_RECORDS,
            registry=self.registry,
        )
        self._batch_seconds = Histogram(
            "kindling_batch_seconds",
            "Time the pipeline took per batch: enrich, encode and fan out.",
            buckets=_BATCH_SECONDS,
            registry=self.registry,
        )
        self._drain_seconds = Histogram(
            "kindling_drain_seconds",
            "Time the reader took to read one drain of records from the kernel's buffers.",
            buckets=_BATCH_SECONDS,
            registry=self.registry,
        )
        self._rpcs = Counter(
            "kindling_rpcs",
            "ProbeService calls, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )

    def batch(self, records: int, seconds: float, drain_seconds: float) -> None:
        self._batch_records.observe(records)
        self._batch_seconds.observe(seconds)
        self._drain_seconds.observe(drain_seconds)

    def rpc(self, method: str, code: str) -> None:
        self._rpcs.labels(method, code).inc()

    def serve(self, address: str) -> Callable[[], None]:
        """Listen on HOST:PORT; returns the stop function."""
        host, _, port = address.rpartition(":")
        try:
            server, thread = start_http_server(int(port), host or "127.0.0.1", self.registry)
        except OSError as error:
            raise StartupError(
                f"cannot serve metrics on {address} ({error.strerror}); choose another "
                "address with --metrics-address"
            ) from None
        log.info("metrics on http://%s:%s/metrics", host or "127.0.0.1", port)

        def stop() -> None:
            server.shutdown()
            thread.join(timeout=5)

        return stop
