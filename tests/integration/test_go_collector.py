"""The Go kindling-collector on the real kernel: Debian's nginx serves a few
routes with known status codes on loopback, a Python client makes a known
number of requests and connects, and the collector's Prometheus counters
must equal the client's counts exactly, per route and status, on both the
server side (nginx) and the client side (this process). The Python
kindling-collector reads the same run at the same time: its HTTP counters
equal the Go collector's."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.nginx import free_port, running_nginx
from support.service import Service

from kindling.client import ProbeClient

pytestmark = pytest.mark.kernel

NGINX_SERVERS = """
    server {{
        listen 127.0.0.1:{warmup};
        location = /warmup {{ return 200 "warm\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{port};
        location /users/ {{ return 200 "user\\n"; }}
        location = /search {{ return 200 "found\\n"; }}
        location = /created {{ return 201 "made\\n"; }}
        location = /missing {{ return 404 "none\\n"; }}
        location = /error {{ return 500 "boom\\n"; }}
        location = /health {{ return 200 "ok\\n"; }}
    }}
"""
# (method, target for request i, the route the collector reports, status)
ROUTES = [
    ("GET", "/users/{i}", "/users/*", 200),
    ("GET", "/search?q={i}", "/search", 200),
    ("POST", "/created", "/created", 201),
    ("GET", "/missing", "/missing", 404),
    ("GET", "/error", "/error", 500),
]
REQUESTS = 25  # per route, on one keep-alive connection
FRESH = 6  # requests to /health, each on a connection of its own
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(match[2] or ""))
        samples.append(Sample(match[1], labels, float(match[3])))
    return samples


def select(samples: list[Sample], name: str, **labels: object) -> list[Sample]:
    want = {k: str(v) for k, v in labels.items()}
    return [
        s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in want.items())
    ]


def total(samples: list[Sample], name: str, **labels: object) -> float:
    return sum(s.value for s in select(samples, name, **labels))


@dataclass
class Collector:
    proc: subprocess.Popen[str]
    url: str
    stderr: list[str] = field(default_factory=list)

    def scrape(self) -> list[Sample]:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            return parse_metrics(response.read().decode())


@dataclass
class Nginx:
    port: int
    warmup: int
    proc: subprocess.Popen[bytes]


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    port, warmup = free_port(), free_port()
    servers = NGINX_SERVERS.format(port=port, warmup=warmup)
    # The warm-up server's port: connects to the other are counted.
    with running_nginx(tmp_path / "nginx", servers, warmup) as proc:
        yield Nginx(port, warmup, proc)


@pytest.fixture
def collector(service: Service, kindling_collector_bin: Path) -> Iterator[Collector]:
    proc = subprocess.Popen(
        [str(kindling_collector_bin), "--socket", str(service.socket), "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    match = re.search(r"serving metrics at (http://\S+/metrics) ", first)
    assert match, f"the collector did not start: {first}{proc.stderr.read()}"
    running = Collector(proc, match[1], [first])
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: running.stderr.extend(stderr), daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, "".join(running.stderr)
        reader.join(timeout=5)
        # The service keeps the collectors' streams for their resume window:
        # the tests after this one start with the service idle again.
        with ProbeClient(service.socket) as probe:
            deadline = time.monotonic() + 30
            while probe.get_info(timeout=10).driver.attached:
                assert time.monotonic() < deadline, "the service kept the collectors' hooks"
                time.sleep(0.2)


PYTHON_COLLECTOR = Path(sys.executable).with_name("kindling-collector")


@pytest.fixture
def python_collector(service: Service, tmp_path: Path) -> Iterator[Collector]:
    """The Python kindling-collector on the same service, for the same run."""
    log_path = tmp_path / "python-collector.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(PYTHON_COLLECTOR), "--socket", str(service.socket), "--listen", "127.0.0.1:0"],
            stderr=log,
            text=True,
        )
    try:
        pattern = re.compile(r"serving metrics on (http://127\.0\.0\.1:\d+/metrics)")
        deadline = time.monotonic() + 30
        while (match := pattern.search(log_path.read_text())) is None:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield Collector(proc, match[1])
    finally:
        if proc.poll() is None:
            proc.terminate()
        assert proc.wait(timeout=15) == 0, log_path.read_text()


class CountingConnection(http.client.HTTPConnection):
    """An HTTP connection that counts its TCP connects (it reconnects by
    itself when the server closes a keep-alive connection)."""

    connects = 0

    def connect(self) -> None:
        super().connect()
        CountingConnection.connects += 1


def wait_live(collector: Collector, nginx: Nginx) -> None:
    """Request the warm-up server until the collector has counted one."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", nginx.warmup, timeout=5)
        connection.request("GET", "/warmup")
        connection.getresponse().read()
        connection.close()
        samples = collector.scrape()
        if total(samples, "http_server_request_duration_seconds_count", server_port=nginx.warmup):
            return
        time.sleep(0.1)
    raise AssertionError(f"the collector never counted a request: {''.join(collector.stderr)}")


def test_counts_equal_the_clients(
    collector: Collector, python_collector: Collector, nginx: Nginx
) -> None:
    wait_live(collector, nginx)
    wait_live(python_collector, nginx)
    pid = os.getpid()
    CountingConnection.connects = 0
    elapsed = 0.0  # the client's own measurement of every request
    # Keep-alive: a blocking connect (no timeout).
    keep = CountingConnection("127.0.0.1", nginx.port)
    for method, target, _, status in ROUTES:
        for i in range(REQUESTS):
            body = b"name=kindling" if method == "POST" else None
            start = time.perf_counter()
            keep.request(method, target.format(i=i), body=body)
            response = keep.getresponse()
            response.read()
            elapsed += time.perf_counter() - start
            assert response.status == status
    keep.close()
    # A connection per request, with a timeout: non-blocking connects.
    for _ in range(FRESH):
        fresh = CountingConnection("127.0.0.1", nginx.port, timeout=5)
        start = time.perf_counter()
        fresh.request("GET", "/health")
        assert fresh.getresponse().status == 200
        elapsed += time.perf_counter() - start
        fresh.close()
    # Refused connects, blocking and not.
    closed = free_port()
    for timeout in (None, 5.0):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed), timeout=timeout)
    connects = CountingConnection.connects
    assert connects >= 1 + FRESH

    expected = {(route, method, status): REQUESTS for method, _, route, status in ROUTES}
    expected[("/health", "GET", 200)] = FRESH

    def counts(
        samples: list[Sample], side: str, **labels: object
    ) -> dict[tuple[str, str, int], int]:
        found = select(
            samples, f"http_{side}_request_duration_seconds_count", server_port=nginx.port, **labels
        )
        out: dict[tuple[str, str, int], int] = {}
        for s in found:
            key = (
                s.labels["http_route"],
                s.labels["http_request_method"],
                int(s.labels["http_response_status_code"]),
            )
            out[key] = out.get(key, 0) + int(s.value)
        return out

    def settled(samples: list[Sample]) -> bool:
        return (
            counts(samples, "server") == expected
            and counts(samples, "client", process_pid=pid) == expected
            and total(samples, "kindling_tcp_connects_total", server_port=closed) == 2
        )

    deadline = time.monotonic() + 10
    samples = collector.scrape()
    while not settled(samples) and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = collector.scrape()
    deadline = time.monotonic() + 10
    python_samples = python_collector.scrape()
    while counts(python_samples, "server") != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        python_samples = python_collector.scrape()
    time.sleep(0.3)  # nothing more comes: the counts are exact, not at least
    samples = collector.scrape()
    python_samples = python_collector.scrape()

    # The two languages' collectors count the same run alike.
    assert counts(python_samples, "server") == counts(samples, "server")
    assert counts(python_samples, "client", process_pid=pid) == counts(
        samples, "client", process_pid=pid
    )

    lost = select(samples, "kindling_collector_lost_events_total")
    assert lost and all(s.value == 0 for s in lost), f"the stream reported loss: {lost}"
    assert total(samples, "kindling_collector_stream_breaks_total") == 0
    assert counts(samples, "server") == expected
    assert counts(samples, "client", process_pid=pid) == expected
    for s in select(samples, "http_server_request_duration_seconds_count", server_port=nginx.port):
        assert s.labels["process_executable_name"] == "nginx"
        assert s.labels["server_address"] == s.labels["network_peer_address"] == "127.0.0.1"

    # Every connect to nginx, and the two refused ones.
    assert (
        total(
            samples,
            "kindling_tcp_connects_total",
            server_port=nginx.port,
            process_pid=pid,
            outcome="success",
        )
        == connects
    )
    assert (
        total(
            samples,
            "kindling_tcp_connect_duration_seconds_count",
            server_port=nginx.port,
            process_pid=pid,
        )
        == connects
    )
    refused = select(samples, "kindling_tcp_connects_total", server_port=closed)
    assert [(s.labels["outcome"], s.labels.get("error_type"), s.value) for s in refused] == [
        ("failure", "ECONNREFUSED", 2.0)
    ]
    assert (
        total(samples, "kindling_tcp_resets_total", direction="received", network_peer_port=closed)
        == 2
    )

    # Latency: nginx's time within each request is part of the client's,
    # which the client measured around it.
    server_time = total(samples, "http_server_request_duration_seconds_sum", server_port=nginx.port)
    client_time = total(
        samples, "http_client_request_duration_seconds_sum", server_port=nginx.port, process_pid=pid
    )
    assert 0 < server_time < client_time <= elapsed
