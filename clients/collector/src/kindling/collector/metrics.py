"""The collector's metrics: OpenTelemetry instruments named after the
semantic conventions (and ``kindling.*`` for what they lack), their
attributes, and the readers that export them.

Prometheus sees the names after the exporter's translation: dots become
underscores, a unit of seconds adds ``_seconds`` and a counter ``_total``
(``http.server.request.duration`` -> ``http_server_request_duration_seconds``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry

from kindling.collector import __version__
from kindling.collector.connections import ConnectionInfo, Side
from kindling.collector.events import Endpoint, Process
from kindling.collector.limits import LabelBudget
from kindling.collector.pairing import Exchange
from kindling.collector.protocols import dns, http, redis
from kindling.collector.protocols.detect import DNS, GENERIC, HTTP, REDIS
from kindling.collector.routes import RouteTable

__all__ = ["DURATION_BUCKETS", "Limits", "Metrics", "meter_provider"]

#: Every duration histogram's bucket bounds, in seconds (the shared specification's).
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
OTHER = "_other"
# Redis has a few hundred commands; more distinct names are not Redis.
_MAX_REDIS_COMMANDS = 512

Attributes = dict[str, AttributeValue]
#: Extra attributes for a container id (Kubernetes pod, namespace, workload).
Enrich = Callable[[str], Mapping[str, str]]


@dataclass(frozen=True)
class Limits:
    """How many distinct values some attributes may take."""

    routes_per_service: int = 100
    dns_names: int = 100
    peers_per_service: int = 1000
    tcp_connections: int = 1000


def meter_provider(
    registry: CollectorRegistry,
    otlp_endpoint: str | None = None,
    otlp_interval_s: float = 10.0,
    node: str | None = None,
) -> MeterProvider:
    """A meter provider read by Prometheus through ``registry`` and, with an
    endpoint, exported over OTLP/gRPC every ``otlp_interval_s`` seconds."""
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry)]
    if otlp_endpoint:
        # Imported only when asked for: the OTLP exporter pulls in more of gRPC.
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter,
        )

        exporter = OTLPMetricExporter(
            endpoint=otlp_endpoint, insecure=otlp_endpoint.startswith("http://")
        )
        readers.append(
            PeriodicExportingMetricReader(
                exporter, export_interval_millis=int(otlp_interval_s * 1000)
            )
        )
    resource = Resource.create(
        {
            "service.name": "kindling-collector",
            "service.version": __version__,
            "host.name": node or os.uname().nodename,
        }
    )
    return MeterProvider(metric_readers=readers, resource=resource)


def _duration(meter: Meter, name: str, description: str) -> Histogram:
    return meter.create_histogram(
        name,
        unit="s",
        description=description,
        explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
    )


class Metrics:
    """Records what the collector sees (an ExchangeSink and a TcpSink)."""

    def __init__(
        self, provider: MeterProvider, limits: Limits = Limits(), enrich: Enrich | None = None
    ) -> None:
        meter = provider.get_meter("kindling.collector", __version__)
        self._enrich = enrich
        self._routes = RouteTable(limits.routes_per_service)
        self._peers: LabelBudget[tuple[str, int]] = LabelBudget(limits.peers_per_service, OTHER)
        self._dns_names: LabelBudget[None] = LabelBudget(limits.dns_names, OTHER)
        self._redis_commands: LabelBudget[None] = LabelBudget(_MAX_REDIS_COMMANDS, OTHER)
        self._tcp_connections: LabelBudget[str] = LabelBudget(limits.tcp_connections, OTHER)

        self.http_server = _duration(
            meter,
            "http.server.request.duration",
            "Duration of HTTP server requests.",
        )
        self.http_client = _duration(
            meter,
            "http.client.request.duration",
            "Duration of HTTP client requests.",
        )
        self.db_client = _duration(
            meter,
            "db.client.operation.duration",
            "Duration of database client operations.",
        )
        self.dns_lookup = _duration(
            meter,
            "dns.lookup.duration",
            "Duration of DNS queries, from the query sent to its response received.",
        )
        self.tcp_request = _duration(
            meter,
            "kindling.tcp.request.duration",
            "Duration of request/response exchanges of unrecognised TCP protocols.",
        )
        self.tcp_connects = meter.create_counter(
            "kindling.tcp.connects", unit="{connect}", description="TCP connection attempts."
        )
        self.tcp_connect_duration = _duration(
            meter,
            "kindling.tcp.connect.duration",
            "Duration of successful TCP connects (SYN sent to ESTABLISHED).",
        )
        self.tcp_retransmits = meter.create_counter(
            "kindling.tcp.retransmits", unit="{segment}", description="TCP segments sent again."
        )
        self.tcp_resets = meter.create_counter(
            "kindling.tcp.resets", unit="{reset}", description="TCP resets sent and received."
        )
        self.tcp_drops = meter.create_counter(
            "kindling.tcp.drops",
            unit="{packet}",
            description="Packets the kernel dropped on receive, by reason.",
        )
        self.tcp_srtt = _duration(
            meter,
            "kindling.tcp.srtt",
            "Smoothed TCP round-trip times, sampled at most once a second per connection.",
        )
        self.events = meter.create_counter(
            "kindling.collector.events",
            unit="{event}",
            description="Events received from the probe service.",
        )
        self.lost_events = meter.create_counter(
            "kindling.collector.lost_events",
            unit="{event}",
            description="Events the stream reported lost, by reason (kernel losses count "
            "every event the kernel dropped).",
        )
        self.stream_breaks = meter.create_counter(
            "kindling.collector.stream_breaks",
            unit="{break}",
            description="Times the stream broke: resumed (nothing lost but what lost_events "
            "counts) or restarted (what happened between is unknown).",
        )
        self.unmatched_requests = meter.create_counter(
            "kindling.collector.unmatched_requests",
            unit="{request}",
            description="Requests given up without a response, by protocol.",
        )
        self.parse_errors = meter.create_counter(
            "kindling.collector.parse_errors",
            unit="{message}",
            description="Messages that started like their protocol's but did not parse.",
        )

    # ExchangeSink.

    def exchange(self, exchange: Exchange, info: ConnectionInfo) -> None:
        protocol = exchange.protocol
        if protocol == HTTP:
            self._http(exchange, info)
        elif protocol == REDIS:
            if info.side is Side.CLIENT:
                self._redis(exchange, info)
        elif protocol == DNS:
            if info.side is Side.CLIENT:
                self._dns(exchange, info)
        elif protocol == GENERIC:
            self.tcp_request.record(exchange.duration_s, self._endpoints(info))

    def unmatched(self, protocol: str, count: int) -> None:
        self.unmatched_requests.add(count, {"protocol": protocol})

    def malformed(self, protocol: str) -> None:
        self.parse_errors.add(1, {"protocol": protocol})

    def _process(self, process: Process) -> Attributes:
        attributes: Attributes = {
            "process.pid": process.pid,
            "process.executable.name": process.comm,
        }
        if process.container_id:
            attributes["container.id"] = process.container_id
            if self._enrich is not None:
                attributes.update(self._enrich(process.container_id))
        return attributes

    def _endpoints(self, info: ConnectionInfo) -> Attributes:
        server = info.server
        scope = (info.process.comm, server.port)
        return {
            "server.address": server.address,
            "server.port": server.port,
            "network.peer.address": self._peers.admit(scope, info.remote.address),
            **self._process(info.process),
        }

    def _http(self, exchange: Exchange, info: ConnectionInfo) -> None:
        request, response = exchange.request, exchange.response
        assert isinstance(request, http.HttpRequest)
        assert isinstance(response, http.HttpResponse)
        attributes = self._endpoints(info)
        attributes["http.request.method"] = request.reported_method
        attributes["http.response.status_code"] = response.status
        attributes["http.route"] = self._routes.route(
            request.target, info.process.comm, info.server.port
        )
        histogram = self.http_server if info.side is Side.SERVER else self.http_client
        histogram.record(exchange.duration_s, attributes)

    def _redis(self, exchange: Exchange, info: ConnectionInfo) -> None:
        command, reply = exchange.request, exchange.response
        assert isinstance(command, redis.RedisCommand)
        assert isinstance(reply, redis.RedisReply)
        attributes: Attributes = {
            "db.system.name": "redis",
            "db.operation.name": self._redis_commands.admit(None, command.name),
            "server.address": info.remote.address,
            "server.port": info.remote.port,
            **self._process(info.process),
        }
        if reply.error:
            attributes["error.type"] = "redis_error"
        self.db_client.record(exchange.duration_s, attributes)

    def _dns(self, exchange: Exchange, info: ConnectionInfo) -> None:
        query, answer = exchange.request, exchange.response
        assert isinstance(query, dns.DnsMessage)
        assert isinstance(answer, dns.DnsMessage)
        attributes: Attributes = {
            "dns.question.name": self._dns_names.admit(None, query.name),
            "dns.response.code": answer.rcode_name,
            "server.address": info.remote.address,
            **self._process(info.process),
        }
        self.dns_lookup.record(exchange.duration_s, attributes)

    # TcpSink.

    def connect(
        self, process: Process, server: Endpoint, error: str | None, duration_s: float | None
    ) -> None:
        attributes: Attributes = {
            "server.address": server.address,
            "server.port": server.port,
            **self._process(process),
        }
        if error is None:
            if duration_s is not None:
                self.tcp_connect_duration.record(duration_s, attributes)
            self.tcp_connects.add(1, {**attributes, "outcome": "success"})
        else:
            self.tcp_connects.add(1, {**attributes, "outcome": "failure", "error.type": error})

    def _tcp_ends(self, local: Endpoint, remote: Endpoint) -> Attributes:
        attributes: Attributes = {}
        if local.address:
            attributes["network.local.address"] = local.address
            attributes["network.local.port"] = local.port
        if remote.address:
            key = f"{local.address}:{local.port}|{remote.address}:{remote.port}"
            if self._tcp_connections.admit("", key) == OTHER:
                attributes["network.peer.address"] = OTHER  # too many: the peer is folded
            else:
                attributes["network.peer.address"] = remote.address
                attributes["network.peer.port"] = remote.port
        return attributes

    def retransmit(self, local: Endpoint, remote: Endpoint) -> None:
        self.tcp_retransmits.add(1, self._tcp_ends(local, remote))

    def reset(self, local: Endpoint, remote: Endpoint, direction: str) -> None:
        self.tcp_resets.add(1, {**self._tcp_ends(local, remote), "direction": direction})

    def drop(self, local: Endpoint, remote: Endpoint, reason: str) -> None:
        self.tcp_drops.add(1, {**self._tcp_ends(local, remote), "reason": reason})

    def srtt(self, local: Endpoint, remote: Endpoint, seconds: float) -> None:
        self.tcp_srtt.record(seconds, self._tcp_ends(local, remote))

    # The stream.

    def received(self, count: int) -> None:
        self.events.add(count)

    def lost(self, reason: str, count: int) -> None:
        self.lost_events.add(count, {"reason": reason})

    def stream_broke(self, outcome: str) -> None:
        self.stream_breaks.add(1, {"outcome": outcome})
