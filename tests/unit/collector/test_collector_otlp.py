"""--otlp-endpoint: the metrics reach an OTLP/gRPC receiver (a real gRPC
server on localhost, the boundary the exporter talks to)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from prometheus_client import CollectorRegistry

from kindling.collector.metrics import Metrics, meter_provider


class Receiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.received = threading.Event()

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                self.names.update(metric.name for metric in scope.metrics)
        self.received.set()
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Receiver()
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


def test_metrics_are_exported_over_otlp(receiver: tuple[Receiver, int]) -> None:
    servicer, port = receiver
    provider = meter_provider(
        CollectorRegistry(), f"http://127.0.0.1:{port}", otlp_interval_s=0.2, node="node-a"
    )
    metrics = Metrics(provider)
    metrics.received(3)
    metrics.lost("kernel_buffer_full", 1)
    try:
        assert servicer.received.wait(10), "nothing reached the receiver"
    finally:
        provider.shutdown()
    assert {"kindling.collector.events", "kindling.collector.lost_events"} <= servicer.names
