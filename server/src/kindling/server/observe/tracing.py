"""Tracing of the service's unary calls with OpenTelemetry
(opentelemetry-instrumentation-grpc), exported over OTLP/gRPC.

Off unless an endpoint is given (--otlp-endpoint, or the SDK's own
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT). Only
GetInfo, GetConfig, Configure and the health Check are traced: the
instrumentation can wrap only streaming handlers that yield their
responses, and Subscribe writes pre-serialized ones, so streams (Subscribe,
health Watch, reflection) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

TRACES_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
UNARY_METHODS = (
    "/kindling.probe.v1.ProbeService/GetInfo",
    "/kindling.probe.v1.ProbeService/GetConfig",
    "/kindling.probe.v1.ProbeService/Configure",
    "/grpc.health.v1.Health/Check",
)


def traces_endpoint(given: str | None) -> str | None:
    """The OTLP endpoint to export to, or None for no tracing."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    return given or next((os.environ[n] for n in TRACES_ENDPOINT_ENV if os.environ.get(n)), None)


class Tracing:
    """A tracer provider exporting to `endpoint`, and the server interceptor
    that makes a span per traced call."""

    def __init__(self, endpoint: str, node_name: str, version: str) -> None:
        # Imported here: a service without tracing loads none of the SDK.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

        self.endpoint = endpoint
        self._provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": "kindling-probe",
                    "service.version": version,
                    "service.instance.id": node_name,
                    "host.name": node_name,
                }
            )
        )
        # Plain-text gRPC for http:// endpoints, TLS otherwise, as the SDK's
        # environment variables would choose.
        self._provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
            )
        )

    def interceptor(self) -> Any:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor  # noqa: PLC0415
        from opentelemetry.instrumentation.grpc.filters import (  # noqa: PLC0415
            any_of,
            full_method_name,
        )

        traced: Callable[[Any], bool] = any_of(*(full_method_name(m) for m in UNARY_METHODS))
        return aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self._provider, filter_=traced
        )

    def shutdown(self) -> None:
        """Export the spans still buffered (bounded by the SDK's timeout)."""
        self._provider.shutdown()
