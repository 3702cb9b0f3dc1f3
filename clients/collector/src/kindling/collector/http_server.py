"""The collector's HTTP endpoint: /metrics for Prometheus, /healthz for probes."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["MetricsServer", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:9464``, ``127.0.0.1:9464``, ``[::1]:9464``) as (host, port).

    Raises ValueError with the reason.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT (for example :9464 or 127.0.0.1:9464)")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{value!r}: port {port} is out of range (0 to 65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], registry: CollectorRegistry, ready: threading.Event
    ):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.registry = registry
        self.ready = ready
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            if self.server.ready.is_set():
                self._send(200, b"ok: subscribed\n")
            else:
                self._send(503, b"not ready: not subscribed to the probe service yet\n")
        elif path == "/":
            self._send(200, b"kindling-collector: metrics at /metrics, health at /healthz\n")
        else:
            self._send(404, b"not found: try /metrics or /healthz\n")

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes are not news


class MetricsServer:
    """Serves ``registry`` and the ``ready`` flag on ``address`` from a background thread."""

    def __init__(
        self, address: tuple[str, int], registry: CollectorRegistry, ready: threading.Event
    ) -> None:
        self._server = _Server(address, registry, ready)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
