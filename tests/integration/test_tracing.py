"""Traces of the unary calls over OTLP/gRPC, received by a real OTLP trace
receiver in the test; the streams (Subscribe, health Watch) keep working
beside the instrumentation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from support.service import SAMPLE, start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

PROBE_SERVICE = "/kindling.probe.v1.ProbeService"


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, str], trace_pb2.Span]] = []
        self._lock = threading.Lock()

    def Export(  # noqa: N802 (the generated name)
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    self.spans.extend((resource, span) for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    servicer = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(None)


def attributes(span: trace_pb2.Span) -> dict[str, object]:
    values: dict[str, object] = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        values[a.key] = getattr(a.value, kind) if kind else None
    return values


def test_unary_calls_are_traced_and_streams_still_work(
    tmp_path: Path, receiver: tuple[Receiver, int]
) -> None:
    spans, port = receiver
    service = start_service(
        tmp_path, "--replay", str(SAMPLE), "--speed", "max",
        "--otlp-endpoint", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    try:
        with grpc.insecure_channel(f"unix:{service.socket}") as channel:
            probe = probe_pb2_grpc.ProbeServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            probe.GetInfo(probe_pb2.GetInfoRequest(), timeout=10)
            probe.GetConfig(probe_pb2.GetConfigRequest(), timeout=10)
            probe.Configure(probe_pb2.ConfigureRequest(snaplen=256), timeout=10)
            with pytest.raises(grpc.RpcError) as rejected:
                probe.Configure(probe_pb2.ConfigureRequest(enable_events=["nope"]), timeout=10)
            assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=10)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
            stream = probe.Subscribe(probe_pb2.SubscribeRequest(), timeout=10)
            assert next(stream).events  # the recording's events
            stream.cancel()
    finally:
        assert service.stop() == 0, service.log()  # exports what is left
    traced = {span.name: (resource, span) for resource, span in spans.spans}
    names = sorted(span.name for _, span in spans.spans)
    # Health Checks: the service's own at start, and the test's while waiting.
    assert "/grpc.health.v1.Health/Check" in names
    assert [n for n in names if n.startswith(PROBE_SERVICE)] == [
        f"{PROBE_SERVICE}/Configure",
        f"{PROBE_SERVICE}/Configure",
        f"{PROBE_SERVICE}/GetConfig",
        f"{PROBE_SERVICE}/GetInfo",
    ], names
    assert set(names) <= set(traced) and len(set(names)) == 4  # no Watch, no Subscribe
    resource, info = traced[f"{PROBE_SERVICE}/GetInfo"]
    assert resource["service.name"] == "kindling-probe"
    assert info.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert attributes(info)["rpc.grpc.status_code"] == 0
    codes = sorted(
        attributes(span)["rpc.grpc.status_code"]
        for _, span in spans.spans
        if span.name.endswith("/Configure")
    )
    assert codes == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0]]
    # The internal peer names never leave the service.
    assert not any("kindling-peer" in str(attributes(span)) for _, span in spans.spans)
