"""Pairing on the event stream: requests and responses per connection, their
times, pipelining, protocols detected by content, and what is left unmatched."""

from __future__ import annotations

import pytest
from collector_events import CLIENT, SERVER, UDP, Clock, io, socket_event
from conftest import Recorded

from kindling.collector.collector import Collector

NGINX = {"pid": 10, "fd": 3, "role": SERVER, "comm": "nginx"}
CURL = {"pid": 20, "fd": 5, "role": CLIENT, "comm": "curl"}
GET = b"GET /users/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_server_request_lasts_from_the_read_entry_to_the_write_exit(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    collector.handle(socket_event("accept4", rv=3, ts=1000, **NGINX))
    collector.handle(io("recvfrom", GET, ts=10_000, latency=2_000, **NGINX))
    collector.handle(io("writev", OK, ts=50_000, latency=5_000, **NGINX))
    points = recorded.points("http.server.request.duration")
    assert len(points) == 1
    attributes, point = points[0]
    assert attributes == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "http.route": "/users/*",
        "server.address": "127.0.0.1",
        "server.port": 8080,
        "network.peer.address": "127.0.0.1",
        "process.pid": 10,
        "process.executable.name": "nginx",
    }
    assert point.count == 1  # type: ignore[attr-defined]
    assert point.sum == pytest.approx((50_000 - (10_000 - 2_000)) / 1e9)  # type: ignore[attr-defined]


def test_a_client_request_lasts_from_the_write_entry_to_the_read_exit(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    collector.handle(io("sendto", GET, ts=10_000, latency=1_000, **CURL))
    collector.handle(io("recvfrom", b"HTTP/1.1 404 Not Found\r\n\r\n", ts=30_000, **CURL))
    [(attributes, point)] = recorded.points("http.client.request.duration")
    assert attributes["http.response.status_code"] == 404
    assert attributes["server.port"] == 8080
    assert attributes["process.executable.name"] == "curl"
    assert point.sum == pytest.approx(21_000 / 1e9)  # type: ignore[attr-defined]
    assert not recorded.points("http.server.request.duration")


def test_pipelined_requests_are_answered_in_order(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    for path in (b"/a", b"/b", b"/c"):
        collector.handle(
            io("read", b"GET " + path + b" HTTP/1.1\r\n\r\n", ts=clock.step(), **NGINX)
        )
    for status in (b"200", b"201", b"404"):
        collector.handle(
            io("write", b"HTTP/1.1 " + status + b" X\r\n\r\n", ts=clock.step(), **NGINX)
        )
    assert recorded.counts(
        "http.server.request.duration", "http.route", "http.response.status_code"
    ) == {
        ("/a", 200): 1,
        ("/b", 201): 1,
        ("/c", 404): 1,
    }


def test_the_rest_of_a_message_is_not_a_new_one(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    collector.handle(
        io("read", b"POST /up HTTP/1.1\r\nContent-Length: 9\r\n\r\n", ts=clock.step(), **NGINX)
    )
    collector.handle(io("read", b"more body", ts=clock.step(), **NGINX))
    collector.handle(io("write", b"HTTP/1.1 100 Continue\r\n\r\n", ts=clock.step(), **NGINX))
    collector.handle(io("write", b"HTTP/1.1 201 Created\r\n\r\n", ts=clock.step(), **NGINX))
    collector.handle(io("write", b"the body of the response", ts=clock.step(), **NGINX))
    assert recorded.counts("http.server.request.duration", "http.response.status_code") == {
        (201,): 1
    }
    assert not recorded.points("kindling.collector.unmatched_requests")


def test_a_close_with_requests_waiting_counts_them_unmatched(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    collector.handle(io("read", GET, ts=clock.step(), **NGINX))
    collector.handle(io("read", GET, ts=clock.step(), **NGINX))
    collector.handle(socket_event("close", ts=clock.step(), **NGINX))
    assert recorded.counts("kindling.collector.unmatched_requests", "protocol") == {("http",): 2}


def test_a_reused_descriptor_with_other_ends_is_another_connection(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    collector.handle(io("read", GET, ts=clock.step(), **NGINX))
    # The close was not seen; the same fd now carries another client's request.
    collector.handle(io("read", GET, ts=clock.step(), client=("127.0.0.1", 40001), **NGINX))
    collector.handle(io("write", OK, ts=clock.step(), client=("127.0.0.1", 40001), **NGINX))
    assert recorded.counts("kindling.collector.unmatched_requests", "protocol") == {("http",): 1}
    assert recorded.counts("http.server.request.duration") == {(): 1}


def test_redis_commands_by_name_with_errors(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    redis = {"pid": 30, "fd": 7, "role": CLIENT, "server": ("127.0.0.1", 6379)}
    collector.handle(
        io("write", b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", ts=clock.step(), **redis)
    )
    collector.handle(io("read", b"+PONG\r\n$1\r\nv\r\n", ts=clock.step(), **redis))
    collector.handle(io("write", b"*1\r\n$5\r\nBOGUS\r\n", ts=clock.step(), **redis))
    collector.handle(io("read", b"-ERR unknown command\r\n", ts=clock.step(), **redis))
    assert recorded.counts("db.client.operation.duration", "db.operation.name", "error.type") == {
        ("PING", None): 1,
        ("GET", None): 1,
        ("BOGUS", "redis_error"): 1,
    }
    [(attributes, _)] = recorded.points("db.client.operation.duration")[:1]
    assert attributes["db.system.name"] == "redis"
    assert attributes["server.port"] == 6379


def test_dns_over_udp_is_paired_by_id(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    resolver = {
        "pid": 40,
        "fd": 4,
        "role": 0,
        "protocol": UDP,
        "client": ("", 0),
        "server": ("", 0),
    }
    peer = {"peer_address": "127.0.0.53", "peer_port": 53}

    def message(ident: int, flags: int, name: bytes) -> bytes:
        labels = b"".join(bytes([len(p)]) + p for p in name.split(b"."))
        header = ident.to_bytes(2, "big") + flags.to_bytes(2, "big") + b"\x00\x01" + b"\x00" * 6
        return header + labels + b"\x00\x00\x01\x00\x01"

    collector.handle(
        io("sendto", message(1, 0x0100, b"a.example"), ts=clock.step(), attributes=peer, **resolver)
    )
    collector.handle(
        io("sendto", message(2, 0x0100, b"b.example"), ts=clock.step(), attributes=peer, **resolver)
    )
    collector.handle(
        io(
            "recvfrom",
            message(2, 0x8183, b"b.example"),
            ts=clock.step(),
            attributes=peer,
            **resolver,
        )
    )
    collector.handle(
        io(
            "recvfrom",
            message(1, 0x8180, b"a.example"),
            ts=clock.step(),
            attributes=peer,
            **resolver,
        )
    )
    collector.handle(
        io(
            "recvfrom",
            message(9, 0x8180, b"c.example"),
            ts=clock.step(),
            attributes=peer,
            **resolver,
        )
    )
    counts = recorded.counts(
        "dns.lookup.duration", "dns.question.name", "dns.response.code", "server.address"
    )
    assert counts == {
        ("a.example", "NOERROR", "127.0.0.53"): 1,
        ("b.example", "NXDOMAIN", "127.0.0.53"): 1,
    }


def test_other_tcp_is_one_request_at_a_time(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    clock = Clock()
    app = {"pid": 50, "fd": 9, "role": CLIENT, "server": ("10.0.0.9", 5432)}
    collector.handle(io("write", b"\x00\x00\x00\x08\x04\xd2\x16\x2f", ts=clock.step(), **app))
    collector.handle(io("write", b"\x01\x02", ts=clock.step(), **app))
    collector.handle(io("read", b"N", ts=clock.step(), **app))
    collector.handle(io("read", b"more", ts=clock.step(), **app))
    collector.handle(io("write", b"\x00\x01", ts=clock.step(), **app))
    collector.handle(io("read", b"R", ts=clock.step(), **app))
    assert recorded.counts("kindling.tcp.request.duration", "server.address", "server.port") == {
        ("10.0.0.9", 5432): 2
    }


def test_a_loss_gives_up_what_was_waiting(recorded_collector: tuple[Collector, Recorded]) -> None:
    from kindling.client import LossReason, LostEvents

    collector, recorded = recorded_collector
    collector.handle(io("read", GET, ts=1000, **NGINX))
    collector.lost(LostEvents(LossReason.KERNEL_BUFFER_FULL, 17))
    collector.handle(io("write", OK, ts=2000, **NGINX))
    assert not recorded.points("http.server.request.duration")
    assert recorded.counts("kindling.collector.lost_events", "reason") == {
        ("kernel_buffer_full",): 17
    }
    assert recorded.counts("kindling.collector.unmatched_requests", "protocol") == {("http",): 1}


def test_routes_beyond_the_limit_are_other(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector  # three routes per service
    clock = Clock()
    for path in (b"/a", b"/b", b"/c", b"/d", b"/e", b"/a"):
        collector.handle(
            io("read", b"GET " + path + b" HTTP/1.1\r\n\r\n", ts=clock.step(), **NGINX)
        )
        collector.handle(io("write", OK, ts=clock.step(), **NGINX))
    assert recorded.counts("http.server.request.duration", "http.route") == {
        ("/a",): 2,
        ("/b",): 1,
        ("/c",): 1,
        ("_other",): 2,
    }


def test_a_malformed_status_line_is_a_parse_error(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    collector.handle(io("read", GET, ts=1000, **NGINX))
    collector.handle(io("write", b"HTTP/1.1 2xx Broken\r\n\r\n", ts=2000, **NGINX))
    assert recorded.counts("kindling.collector.parse_errors", "protocol") == {("http",): 1}


def test_a_process_exit_ends_its_connections(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    from kindling.event.v1 import event_pb2

    collector, recorded = recorded_collector
    collector.handle(io("read", GET, ts=1000, **NGINX))
    exit_event = event_pb2.Event(
        name="process_exit", timestamp_ns=2000, thread=event_pb2.Thread(pid=10)
    )
    collector.handle(exit_event)
    assert len(collector.connections) == 0
    assert recorded.counts("kindling.collector.unmatched_requests", "protocol") == {("http",): 1}
