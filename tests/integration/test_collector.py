"""kindling-collector on the real kernel: nginx, redis-server and a DNS
responder on localhost under a load generator with known counts, and the
collector's Prometheus counters compared with them exactly.

The collector runs as its own process against the test's probe service;
the load generator (tests/support/collector_load.py) is another process,
which times every request it makes. A warm-up proves the capture is live
before the load, and a sentinel request after it proves the collector has
read everything the load made (the stream is in timestamp order). The
stream must report no loss: a loss fails the test, since it would make the
counts wrong for a reason the test is not about.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.nginx import free_port, running_nginx
from support.service import Service

from kindling.client import ProbeClient

pytestmark = pytest.mark.kernel

COLLECTOR = Path(sys.executable).with_name("kindling-collector")
LOAD = Path(__file__).parents[1] / "support" / "collector_load.py"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"

HTTP_PLAN = [["/ok", 20], ["/created", 10], ["/moved", 5], ["/users/17", 8], ["/users/4242", 7],
             ["/missing", 10]]  # fmt: skip
HTTP_STATUS = {"/ok": 200, "/created": 201, "/moved": 302, "/users/17": 200, "/users/4242": 200,
               "/missing": 404}  # fmt: skip
REDIS_PLAN = [[["SET", "k", "v"], 10], [["GET", "k"], 15], [["INCR", "n"], 5], [["BOGUS"], 2]]
DNS_PLAN = [["www.ok.test", 6], ["api.ok.test", 4], ["nope.test", 3]]

NGINX_SERVERS = """
  server {{
    listen 127.0.0.1:{port};
    location = /ok {{ return 200 "ok\\n"; }}
    location = /created {{ return 201 "made\\n"; }}
    location = /moved {{ return 302 /ok; }}
    location ~ ^/users/[0-9]+$ {{ return 200 "user\\n"; }}
    location = /warmup {{ return 204; }}
    location = /sentinel {{ return 204; }}
    location / {{ return 404; }}
  }}
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class DnsResponder:
    """Answers A queries over UDP: NOERROR under ok.test, NXDOMAIN elsewhere."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.socket.recvfrom(512)
            except OSError:
                return
            ident, _ = struct.unpack_from("!HH", query)
            name_end = query.index(b"\x00", 12) + 5
            labels, at = [], 12
            while query[at]:
                labels.append(query[at + 1 : at + 1 + query[at]].decode())
                at += 1 + query[at]
            rcode = 0 if ".".join(labels).endswith("ok.test") else 3
            header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, 0, 0, 0)
            self.socket.sendto(header + query[12:name_end], peer)

    def close(self) -> None:
        self.socket.close()


@dataclass
class Servers:
    nginx_port: int
    redis_port: int
    dns: DnsResponder
    redis_cli: Callable[..., bytes]


class Scrape:
    """One /metrics page: samples by metric and labels."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.append((sample.name, dict(sample.labels), sample.value))

    def values(self, name: str, **match: str | int) -> list[tuple[dict[str, str], float]]:
        wanted = {k: str(v) for k, v in match.items()}
        return [
            (labels, value)
            for sample, labels, value in self.samples
            if sample == name and all(labels.get(k) == v for k, v in wanted.items())
        ]

    def total(self, name: str, **match: str | int) -> float:
        return sum(value for _, value in self.values(name, **match))

    def by(
        self, name: str, keys: tuple[str, ...], **match: str | int
    ) -> dict[tuple[str, ...], int]:
        result: dict[tuple[str, ...], int] = defaultdict(int)
        for labels, value in self.values(name, **match):
            result[tuple(labels.get(k, "") for k in keys)] += int(value)
        return dict(result)

    def buckets(self, base: str, **match: str | int) -> dict[float, float]:
        """Cumulative bucket counts by upper bound, summed over the matching series."""
        result: dict[float, float] = defaultdict(float)
        for labels, value in self.values(f"{base}_bucket", **match):
            result[float(labels["le"])] += value
        return dict(result)


@dataclass
class Collector:
    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def scrape(self) -> Scrape:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            return Scrape(response.read().decode())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = tmp_path_factory.mktemp("collector-servers")
    nginx_port, redis_port = free_port(), free_port()
    redis = subprocess.Popen(
        [REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    dns = DnsResponder()

    def redis_cli(*words: str) -> bytes:
        with socket.create_connection(("127.0.0.1", redis_port), timeout=5) as client:
            client.sendall(b"*%d\r\n" % len(words) + b"".join(
                b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words))  # fmt: skip
            return client.recv(65536)

    def up(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        with running_nginx(directory / "nginx", NGINX_SERVERS.format(port=nginx_port), nginx_port):
            wait_until(lambda: up(redis_port), "redis-server to listen")
            yield Servers(nginx_port, redis_port, dns, redis_cli)
    finally:
        dns.close()
        redis.terminate()
        try:
            redis.wait(timeout=10)
        except subprocess.TimeoutExpired:
            redis.kill()
            redis.wait()


@pytest.fixture(scope="module")
def collector(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    log_path = tmp_path_factory.mktemp("collector") / "collector.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(COLLECTOR), "--socket", str(service.socket), "--listen", "127.0.0.1:0"],
            stderr=log,
            text=True,
        )
    running: Collector | None = None
    try:
        pattern = re.compile(r"serving metrics on (http://127\.0\.0\.1:\d+)/metrics")

        def listening() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return pattern.search(log_path.read_text()) is not None

        wait_until(listening, "the collector to listen")
        match = pattern.search(log_path.read_text())
        assert match is not None
        running = Collector(proc, match.group(1), log_path)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{running.url}/healthz", timeout=2) as response:
                    return response.status == 200
            except urllib.error.HTTPError:
                return False

        wait_until(healthy, "the collector's /healthz to say it is subscribed")
        yield running
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                status = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(
                    f"the collector ignored SIGTERM:\n{log_path.read_text()}"
                ) from None
            assert status == 0, log_path.read_text()
        assert "Traceback" not in log_path.read_text(), log_path.read_text()
        # The service keeps the stream for its resume window: the tests after
        # this module start with the service idle again.
        with ProbeClient(service.socket) as probe:
            wait_until(
                lambda: not probe.get_info(timeout=10).driver.attached,
                "the service to detach after the collector's stream",
            )


def get(port: int, path: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def dns_ask(port: int, name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
        client.sendto(struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + labels
                      + b"\x00\x00\x01\x00\x01", ("127.0.0.1", port))  # fmt: skip
        client.recvfrom(512)


def assert_no_loss(scrape: Scrape, collector: Collector) -> None:
    lost = scrape.values("kindling_collector_lost_events_total")
    breaks = scrape.values("kindling_collector_stream_breaks_total")
    assert not any(value for _, value in lost + breaks), (
        f"the stream reported loss, so exact counts cannot be checked: {lost} {breaks}\n"
        f"{collector.log()}"
    )


@dataclass
class Run:
    scrape: Scrape
    report: dict[str, Any]
    servers: Servers
    redis_usec: dict[str, int]

    @property
    def pid(self) -> int:
        return int(self.report["pid"])


@pytest.fixture(scope="module")
def run(collector: Collector, servers: Servers) -> Run:
    # Warm-up: the capture is live once the collector has seen each kind once.
    def warm() -> bool:
        get(servers.nginx_port, "/warmup")
        servers.redis_cli("PING")
        dns_ask(servers.dns.port, "warmup.ok.test")
        scrape = collector.scrape()
        return (
            scrape.total("http_server_request_duration_seconds_count", http_route="/warmup") > 0
            and scrape.total("db_client_operation_duration_seconds_count", db_operation_name="PING")
            > 0
            and scrape.total(
                "dns_lookup_duration_seconds_count", dns_question_name="warmup.ok.test"
            )
            > 0
        )

    wait_until(warm, "the collector to see the warm-up requests")
    servers.redis_cli("CONFIG", "RESETSTAT")
    plan = {
        "nginx_port": servers.nginx_port,
        "redis_port": servers.redis_port,
        "dns_port": servers.dns.port,
        "closed_port": free_port(),
        "http": HTTP_PLAN,
        "redis": REDIS_PLAN,
        "dns": DNS_PLAN,
    }
    load = subprocess.run(
        [sys.executable, str(LOAD), json.dumps(plan)], capture_output=True, text=True, timeout=60
    )
    assert load.returncode == 0, load.stderr
    report = json.loads(load.stdout)
    stats = servers.redis_cli("INFO", "commandstats").decode()
    redis_usec = {
        m[0].upper(): int(m[1]) for m in re.findall(r"cmdstat_(\w+):.*?usec=(\d+)", stats)
    }

    # The sentinel: once the collector counted it, it has read all that came before.
    get(servers.nginx_port, "/sentinel")

    def sentinel_seen() -> bool:
        return (
            collector.scrape().total(
                "http_server_request_duration_seconds_count", http_route="/sentinel"
            )
            > 0
        )

    wait_until(sentinel_seen, "the collector to count the sentinel request")
    scrape = collector.scrape()
    assert_no_loss(scrape, collector)
    return Run(scrape, report, servers, redis_usec)


def expected_http(report: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for key, timings in report["http"].items():
        path, status = key.split(" ")
        route = re.sub(r"/[0-9]+$", "/*", path)
        counts[("GET", route, status)] += len(timings)
    return dict(counts)


def test_the_load_got_the_statuses_nginx_was_told_to_give(run: Run) -> None:
    got = {key: len(t) for key, t in run.report["http"].items()}
    assert got == {f"{path} {HTTP_STATUS[path]}": count for path, count in HTTP_PLAN}


def test_http_server_requests_are_counted_exactly_per_route_and_status(run: Run) -> None:
    counted = run.scrape.by(
        "http_server_request_duration_seconds_count",
        ("http_request_method", "http_route", "http_response_status_code"),
        server_port=run.servers.nginx_port,
        process_executable_name="nginx",
    )
    for marker in ("/warmup", "/sentinel"):
        counted = {k: v for k, v in counted.items() if k[1] != marker}
    assert counted == expected_http(run.report)


def test_http_client_requests_are_counted_exactly_per_route_and_status(run: Run) -> None:
    counted = run.scrape.by(
        "http_client_request_duration_seconds_count",
        ("http_request_method", "http_route", "http_response_status_code"),
        server_port=run.servers.nginx_port,
        process_pid=run.pid,
    )
    assert counted == expected_http(run.report)
    labels, _ = run.scrape.values(
        "http_client_request_duration_seconds_count", process_pid=run.pid
    )[0]
    assert labels["server_address"] == labels["network_peer_address"] == "127.0.0.1"
    assert labels["process_executable_name"] == Path(sys.executable).name[:15]


def test_redis_commands_are_counted_exactly_by_command(run: Run) -> None:
    counted = run.scrape.by(
        "db_client_operation_duration_seconds_count",
        ("db_operation_name", "error_type"),
        process_pid=run.pid,
        db_system_name="redis",
        server_port=run.servers.redis_port,
    )
    expected = {}
    for key, timings in run.report["redis"].items():
        command, outcome = key.split(" ")
        expected[(command, "redis_error" if outcome == "error" else "")] = len(timings)
    assert counted == expected
    assert expected[("BOGUS", "redis_error")] == 2


def test_dns_queries_are_counted_by_name_and_response_code(run: Run) -> None:
    counted = run.scrape.by(
        "dns_lookup_duration_seconds_count",
        ("dns_question_name", "dns_response_code", "server_address"),
        process_pid=run.pid,
    )
    expected = {}
    for key, timings in run.report["dns"].items():
        name, rcode = key.split(" ")
        expected[(name, rcode, "127.0.0.1")] = len(timings)
    assert counted == expected


def test_tcp_connects_are_counted_exactly(run: Run) -> None:
    for port, count in run.report["connects"].items():
        assert run.scrape.by(
            "kindling_tcp_connects_total", ("outcome",), process_pid=run.pid, server_port=port
        ) == {("success",): count}
        durations = run.scrape.total(
            "kindling_tcp_connect_duration_seconds_count", process_pid=run.pid, server_port=port
        )
        assert durations == count
    [(port, count)] = run.report["refused"].items()
    assert run.scrape.by(
        "kindling_tcp_connects_total",
        ("outcome", "error_type"),
        process_pid=run.pid,
        server_port=port,
    ) == {("failure", "ECONNREFUSED"): count}


def percentile_bounds(buckets: dict[float, float], fraction: float) -> tuple[float, float]:
    """The (lower, upper] bucket bounds the histogram's ``fraction`` quantile lies in."""
    bounds = sorted(buckets)
    total = buckets[float("inf")]
    lower = 0.0
    for bound in bounds:
        if buckets[bound] >= fraction * total:
            return lower, bound
        lower = bound
    raise AssertionError("no bucket holds the quantile")


def assert_within_the_clients_times(buckets: dict[float, float], timings: list[float]) -> None:
    """Each collector duration lies inside the client's own timing of the same
    request, so for every bound at least as many collector durations as client
    timings fall under it (the collector's p50 is at most the client's)."""
    assert buckets[float("inf")] == len(timings)
    for bound, count in buckets.items():
        assert count >= sum(t <= bound for t in timings), (bound, buckets, sorted(timings))
    ordered = sorted(timings)
    client_p50 = ordered[(len(ordered) - 1) // 2]
    lower, _ = percentile_bounds(buckets, 0.5)
    assert lower <= client_p50


def test_http_latency_is_within_the_clients_own_measurements(run: Run) -> None:
    for key, timings in run.report["http"].items():
        path, status = key.split(" ")
        buckets = run.scrape.buckets(
            "http_client_request_duration_seconds",
            process_pid=run.pid,
            server_port=run.servers.nginx_port,
            http_route=re.sub(r"/[0-9]+$", "/*", path),
            http_response_status_code=status,
        )
        if path.startswith("/users/"):
            timings = run.report["http"]["/users/17 200"] + run.report["http"]["/users/4242 200"]
        assert_within_the_clients_times(buckets, timings)
    # nginx's own time (read to response) is within the client's: the sums say so.
    server_sum = run.scrape.total(
        "http_server_request_duration_seconds_sum",
        server_port=run.servers.nginx_port,
        process_executable_name="nginx",
    ) - sum(
        run.scrape.total("http_server_request_duration_seconds_sum", http_route=marker)
        for marker in ("/warmup", "/sentinel")
    )
    client_sum = run.scrape.total("http_client_request_duration_seconds_sum", process_pid=run.pid)
    measured = sum(sum(t) for t in run.report["http"].values())
    assert 0 < server_sum <= client_sum <= measured


def test_redis_latency_is_between_the_servers_and_the_clients_times(run: Run) -> None:
    for key, timings in run.report["redis"].items():
        command, _ = key.split(" ")
        buckets = run.scrape.buckets(
            "db_client_operation_duration_seconds",
            process_pid=run.pid,
            db_operation_name=command,
        )
        assert_within_the_clients_times(buckets, timings)
        if command in run.redis_usec:
            # redis-server's own time for the command (INFO commandstats) is a lower bound.
            collected = run.scrape.total(
                "db_client_operation_duration_seconds_sum",
                process_pid=run.pid,
                db_operation_name=command,
            )
            assert run.redis_usec[command] / 1e6 <= collected


def test_dns_latency_is_within_the_clients_own_measurements(run: Run) -> None:
    for key, timings in run.report["dns"].items():
        name, _ = key.split(" ")
        buckets = run.scrape.buckets(
            "dns_lookup_duration_seconds", process_pid=run.pid, dns_question_name=name
        )
        assert_within_the_clients_times(buckets, timings)


def test_self_metrics(run: Run) -> None:
    assert run.scrape.total("kindling_collector_events_total") > 0
    assert run.scrape.total("process_cpu_seconds_total") > 0
    # The load's exchanges were all answered.
    assert not run.scrape.total("kindling_collector_parse_errors_total", protocol="http")
