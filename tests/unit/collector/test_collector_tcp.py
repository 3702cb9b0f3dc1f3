"""TCP health from connect and the TCP tracepoints: each attempt counted
once, whichever of a non-blocking connect and its handshake comes first."""

from __future__ import annotations

import errno

import pytest
from collector_events import CLIENT, UDP, socket_event, tracepoint
from conftest import Recorded

from kindling.collector.collector import Collector

APP = {"pid": 60, "fd": 4, "role": CLIENT, "comm": "app"}
ENDS = {
    "local_address": "127.0.0.1",
    "local_port": 40000,
    "remote_address": "127.0.0.1",
    "remote_port": 8080,
}


def handshake(new_state: str, ts: int, latency: int = 0) -> object:
    return tracepoint(
        "tcp_state_change",
        ts=ts,
        old_state="SYN_SENT",
        new_state=new_state,
        connect_latency_ns=latency,
        **ENDS,
    )


def test_a_blocking_connect_counts_once(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    collector.handle(handshake("ESTABLISHED", ts=900, latency=50_000))  # type: ignore[arg-type]
    collector.handle(socket_event("connect", rv=0, latency=80_000, ts=1000, **APP))
    assert recorded.counts("kindling.tcp.connects", "outcome", "server.port") == {
        ("success", 8080): 1
    }
    [(_, point)] = recorded.points("kindling.tcp.connect.duration")
    assert point.sum == pytest.approx(80_000 / 1e9)  # type: ignore[attr-defined]


def test_a_non_blocking_connect_either_order(
    recorded_collector: tuple[Collector, Recorded],
) -> None:
    collector, recorded = recorded_collector
    # The handshake ended before the syscall returned (loopback) ...
    collector.handle(handshake("ESTABLISHED", ts=900, latency=30_000))  # type: ignore[arg-type]
    collector.handle(socket_event("connect", rv=-errno.EINPROGRESS, ts=1000, **APP))
    # ... or after it.
    collector.handle(socket_event("connect", rv=-errno.EINPROGRESS, ts=2000, **APP))
    collector.handle(handshake("ESTABLISHED", ts=3000, latency=70_000))  # type: ignore[arg-type]
    assert recorded.counts("kindling.tcp.connects", "outcome") == {("success",): 2}
    [(attributes, point)] = recorded.points("kindling.tcp.connect.duration")
    assert point.sum == pytest.approx(100_000 / 1e9)  # type: ignore[attr-defined]
    assert attributes["process.pid"] == 60


def test_failed_connects(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    collector.handle(socket_event("connect", rv=-errno.ECONNREFUSED, ts=1000, **APP))
    collector.handle(socket_event("connect", rv=-errno.EINPROGRESS, ts=2000, **APP))
    collector.handle(tracepoint("tcp_receive_reset", ts=2500, **ENDS))
    collector.handle(handshake("CLOSE", ts=3000))  # type: ignore[arg-type]
    collector.handle(socket_event("connect", rv=-errno.EALREADY, ts=4000, **APP))
    assert recorded.counts("kindling.tcp.connects", "outcome", "error.type") == {
        ("failure", "ECONNREFUSED"): 2
    }
    assert not recorded.points("kindling.tcp.connect.duration")


def test_udp_connects_are_not_tcp_connects(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    collector.handle(socket_event("connect", rv=0, ts=1000, protocol=UDP, **APP))
    assert not recorded.points("kindling.tcp.connects")


def test_retransmits_resets_drops_and_srtt(recorded_collector: tuple[Collector, Recorded]) -> None:
    collector, recorded = recorded_collector
    collector.handle(tracepoint("tcp_retransmit", ts=1, state="ESTABLISHED", **ENDS))
    collector.handle(tracepoint("tcp_send_reset", ts=2, **ENDS))
    collector.handle(tracepoint("tcp_receive_reset", ts=3, **ENDS))
    collector.handle(tracepoint("skb_drop", ts=4, reason_name="NO_SOCKET", **ENDS))
    collector.handle(tracepoint("tcp_probe", ts=5, srtt_us=250, **ENDS))
    expected = {
        "network.local.address": "127.0.0.1",
        "network.local.port": 40000,
        "network.peer.address": "127.0.0.1",
        "network.peer.port": 8080,
    }
    assert [a for a, _ in recorded.points("kindling.tcp.retransmits")] == [expected]
    assert recorded.counts("kindling.tcp.resets", "direction") == {("sent",): 1, ("received",): 1}
    assert recorded.counts("kindling.tcp.drops", "reason") == {("NO_SOCKET",): 1}
    [(_, point)] = recorded.points("kindling.tcp.srtt")
    assert point.sum == pytest.approx(250e-6)  # type: ignore[attr-defined]
