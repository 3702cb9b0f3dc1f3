"""kindling-collector: RED and TCP metrics from the kindling probe service's event stream.

The collector subscribes through the public client (:mod:`kindling.client`)
to the socket I/O, connection and TCP health events of the node, with their
payloads; pairs each connection's requests and responses
(:mod:`.connections`), recognises HTTP/1.x, Redis and DNS by their content
(:mod:`.protocols`) and reports everything else as generic TCP
request/response; and exports the durations and counts through the
OpenTelemetry SDK to a Prometheus endpoint, and optionally over OTLP
(:mod:`.metrics`). Run it with ``kindling-collector`` (:mod:`.cli`).
"""

from __future__ import annotations

__version__ = "0.1.0"
