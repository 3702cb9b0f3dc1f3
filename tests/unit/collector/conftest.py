"""A real OpenTelemetry SDK for the collector's unit tests, read in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from kindling.collector.collector import Collector
from kindling.collector.metrics import Limits, Metrics


class Recorded:
    """The points the SDK holds, by metric name."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader

    def points(self, name: str) -> list[tuple[dict[str, object], object]]:
        data = self._reader.get_metrics_data()
        found: list[tuple[dict[str, object], object]] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def counts(self, name: str, *keys: str) -> dict[tuple[object, ...], int]:
        """Histogram counts or counter values, by the values of ``keys``."""
        result: dict[tuple[object, ...], int] = {}
        for attributes, point in self.points(name):
            key = tuple(attributes.get(k) for k in keys)
            value = getattr(point, "count", None)
            if value is None:
                value = point.value  # type: ignore[attr-defined]
            result[key] = result.get(key, 0) + int(value)
        return result


@pytest.fixture
def recorded_collector() -> Iterator[tuple[Collector, Recorded]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = Metrics(provider, Limits(routes_per_service=3, dns_names=2))
    yield Collector(metrics), Recorded(reader)
    provider.shutdown()
