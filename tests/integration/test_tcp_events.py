"""Socket life cycle and TCP health on the real kernel, through the service:
each step of tests/support/tcp_workload.py and the exact events it makes.
A retransmission is provoked on a link to a network namespace the test
creates, by taking the link down for a moment."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.expectations import attr, find
from support.service import Service
from support.streams import EventLog, wait_until_live

from kindling.client import ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

pytestmark = pytest.mark.kernel

WORKLOAD = Path(__file__).parents[1] / "support" / "tcp_workload.py"
TCP_EVENTS = [
    "tcp_state_change",
    "tcp_retransmit",
    "tcp_send_reset",
    "tcp_receive_reset",
    "tcp_probe",
    "skb_drop",
]
SOCKET_EVENTS = ["bind", "listen", "connect", "accept4", "sendto", "close"]
EINPROGRESS = 115
SERVER = """
import socket, sys
listener = socket.socket()
listener.bind((sys.argv[1], 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
while conn.recv(65536):
    pass
conn.close()
"""


class Namespace:
    """A network namespace joined to this one by a veth pair."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name = f"kindling-{tag}"
        self.host_link, self.ns_link = f"kh{tag}", f"kn{tag}"
        self.host_ip, self.ns_ip = "10.213.7.1", "10.213.7.2"
        self._run("ip", "netns", "add", self.name)
        self._run("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.ns_link)
        self._run("ip", "link", "set", self.ns_link, "netns", self.name)
        self._run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_link)
        self._run("ip", "link", "set", self.host_link, "up")
        self.inside("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_link)
        self.inside("ip", "link", "set", self.ns_link, "up")
        self.inside("ip", "link", "set", "lo", "up")

    @staticmethod
    def _run(*command: str) -> None:
        subprocess.run(command, check=True, capture_output=True)

    def inside(self, *command: str) -> None:
        self._run("ip", "netns", "exec", self.name, *command)

    def link(self, up: bool) -> None:
        self.inside("ip", "link", "set", self.ns_link, "up" if up else "down")

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Run:
    def __init__(self, log: EventLog, result: dict[str, Any]) -> None:
        self.log = log
        self.result = result
        self.pid: int = result["pid"]

    def find(
        self, name: str, pred: Callable[[event_pb2.Event], bool], pid: int | None = None
    ) -> event_pb2.Event | None:
        return find(self.log.events, name, self.pid if pid is None else pid, pred)


@pytest.fixture(scope="module")
def run(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("tcp")
    namespace = Namespace()
    server = subprocess.Popen(
        ["ip", "netns", "exec", namespace.name, sys.executable, "-c", SERVER, namespace.ns_ip],
        stdout=subprocess.PIPE,
        text=True,
    )
    workload: subprocess.Popen[str] | None = None
    client = ProbeClient(service.socket)
    log = EventLog()
    responses: Any = None
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        workload = subprocess.Popen(
            [sys.executable, str(WORKLOAD), namespace.ns_ip, port],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert workload.stdin is not None and workload.stdout is not None
        pid = json.loads(workload.stdout.readline())["pid"]
        responses = client.subscribe(
            probe_pb2.SubscribeRequest(
                allow_list=[
                    probe_pb2.EventFilter(names=["openat", *TCP_EVENTS]),
                    probe_pb2.EventFilter(names=SOCKET_EVENTS, pids=[pid]),
                ]
            )
        )
        threading.Thread(target=_read, args=(responses, log), daemon=True).start()
        wait_until_live(log, tmp_path)

        def say(line: str) -> None:
            assert workload is not None and workload.stdin is not None
            workload.stdin.write(line + "\n")
            workload.stdin.flush()

        say("go")
        assert workload.stdout.readline().strip() == "lossy?"
        namespace.link(up=False)
        say("down")
        assert workload.stdout.readline().strip() == "sent"
        time.sleep(1.5)  # a few retransmission timeouts
        namespace.link(up=True)
        say("up")
        result = json.loads(workload.stdout.readline())
        assert workload.wait(timeout=30) == 0
        run = Run(log, result)
        log.wait_for(lambda _: run.find("tcp_retransmit", lambda e: True) is not None)
        yield run
    finally:
        if responses is not None:
            responses.cancel()
        client.close()
        for proc in (workload, server):
            if proc is not None:
                proc.kill()
                proc.wait()
        namespace.close()


def _read(responses: Any, log: EventLog) -> None:
    try:
        for response in responses:
            log.losses.extend(response.losses)
            log.add(response.events)
    except Exception as error:
        log.errors.append(repr(error))


def _owned_by(event: event_pb2.Event, run: Run, fd: int) -> None:
    assert event.thread.pid == run.pid
    assert event.thread.comm == run.result["comm"]
    assert event.fd.num == fd
    assert event.fd.type == event_pb2.FD_TYPE_IPV4_SOCKET
    assert event.source == event_pb2.SOURCE_TRACEPOINT
    assert event.category == event_pb2.CATEGORY_NET


def test_bind_and_listen(run: Run) -> None:
    lo = run.result["loopback"]
    # The listener binds to any port (0); listen says which one it got.
    listen = run.find("listen", lambda e: attr(e, "local_port") == lo["port"])
    assert listen is not None, "no listen"
    assert listen.return_value == 0 and listen.latency_ns > 0
    assert listen.fd.num == lo["listener_fd"]
    assert attr(listen, "local_address") == "127.0.0.1"
    assert attr(listen, "backlog") == 8
    bind = run.find(
        "bind", lambda e: e.fd.num == lo["listener_fd"] and e.timestamp_ns < listen.timestamp_ns
    )
    assert bind is not None, "no bind"
    assert bind.return_value == 0 and bind.latency_ns > 0
    assert (attr(bind, "address"), attr(bind, "port")) == ("127.0.0.1", 0)
    assert bind.fd.type == event_pb2.FD_TYPE_IPV4_SOCKET
    assert listen.fd.role == event_pb2.SOCKET_ROLE_SERVER
    assert listen.fd.protocol == event_pb2.L4_PROTOCOL_TCP


def test_a_non_blocking_connect_completes_with_both_ends(run: Run) -> None:
    lo = run.result["loopback"]
    connect = run.find(
        "connect", lambda e: e.fd.num == lo["client_fd"] and e.fd.destination.port == lo["port"]
    )
    assert connect is not None, "no connect"
    assert connect.return_value == -EINPROGRESS
    done = run.find(
        "tcp_state_change",
        lambda e: (
            attr(e, "new_state") == "ESTABLISHED" and attr(e, "local_port") == lo["client_port"]
        ),
    )
    assert done is not None, "no SYN_SENT -> ESTABLISHED of the connection"
    _owned_by(done, run, lo["client_fd"])
    assert attr(done, "old_state") == "SYN_SENT"
    assert attr(done, "remote_port") == lo["port"]
    assert attr(done, "local_address") == attr(done, "remote_address") == "127.0.0.1"
    assert 0 < int(attr(done, "connect_latency_ns")) < 1_000_000_000  # type: ignore[call-overload]
    assert done.fd.source.port == lo["client_port"]
    # What the process did on the socket next knows both ends.
    sent = run.find("sendto", lambda e: e.fd.num == lo["client_fd"])
    assert sent is not None, "no send after the connect"
    assert (sent.fd.source.port, sent.fd.destination.port) == (lo["client_port"], lo["port"])
    assert sent.fd.role == event_pb2.SOCKET_ROLE_CLIENT


def test_a_refused_connect_ends_in_a_reset(run: Run) -> None:
    lo = run.result["loopback"]
    connect = run.find("connect", lambda e: e.fd.destination.port == lo["closed_port"])
    assert connect is not None, "no connect to the closed port"
    assert connect.return_value == -EINPROGRESS
    closed = run.find(
        "tcp_state_change",
        lambda e: attr(e, "new_state") == "CLOSE" and attr(e, "remote_port") == lo["closed_port"],
    )
    assert closed is not None, "no SYN_SENT -> CLOSE"
    _owned_by(closed, run, lo["refused_fd"])
    assert attr(closed, "old_state") == "SYN_SENT"
    received = run.find("tcp_receive_reset", lambda e: attr(e, "remote_port") == lo["closed_port"])
    assert received is not None, "no reset received by the connecting socket"
    _owned_by(received, run, lo["refused_fd"])
    # The reset came from no socket: the kernel answered for the closed port.
    sent = find(
        run.log.events, "tcp_send_reset", 0, lambda e: attr(e, "local_port") == lo["closed_port"]
    )
    assert sent is not None, "no reset sent for the closed port"
    assert not sent.HasField("thread") and not sent.HasField("fd")
    assert attr(sent, "remote_address") == "127.0.0.1"


def test_so_linger_zero_sends_a_reset(run: Run) -> None:
    lo = run.result["loopback"]
    sent = run.find("tcp_send_reset", lambda e: attr(e, "local_port") == lo["lingering_port"])
    assert sent is not None, "no reset sent by the SO_LINGER 0 close"
    _owned_by(sent, run, lo["lingering_fd"])
    # The kernel closes the socket, then sends the reset.
    assert attr(sent, "state") == "CLOSE"
    assert attr(sent, "remote_port") == lo["port"]
    received = run.find(
        "tcp_receive_reset", lambda e: attr(e, "remote_port") == lo["lingering_port"]
    )
    assert received is not None, "no reset received by the accepted end"
    _owned_by(received, run, lo["peer_fd"])
    assert received.fd.role == event_pb2.SOCKET_ROLE_SERVER


def test_a_lossy_link_retransmits(run: Run) -> None:
    lossy = run.result["lossy"]
    retransmit = run.find("tcp_retransmit", lambda e: attr(e, "local_port") == lossy["local"][1])
    assert retransmit is not None, "no retransmission from the namespace connection"
    _owned_by(retransmit, run, lossy["fd"])
    assert attr(retransmit, "local_address") == lossy["local"][0] == "10.213.7.1"
    assert attr(retransmit, "remote_address") == "10.213.7.2"
    assert attr(retransmit, "state") == "ESTABLISHED"
    assert retransmit.fd.destination.address == "10.213.7.2"


def test_tcp_probe_samples_the_connection(run: Run) -> None:
    lossy = run.result["lossy"]
    probes = [
        e
        for e in run.log.events
        if e.name == "tcp_probe" and attr(e, "local_port") == lossy["local"][1]
    ]
    assert probes, "no tcp_probe of the namespace connection"
    # At most one a second per connection: the connection lived a few seconds.
    assert len(probes) <= 5
    probe = probes[0]
    _owned_by(probe, run, lossy["fd"])
    assert 0 < int(attr(probe, "srtt_us")) < 1_000_000  # type: ignore[call-overload]
    assert int(attr(probe, "snd_cwnd")) > 0  # type: ignore[call-overload]
    assert int(attr(probe, "rcv_wnd")) > 0  # type: ignore[call-overload]


def test_a_full_receive_buffer_drops_with_its_reason(run: Run) -> None:
    drops = [e for e in run.log.events if e.name == "skb_drop"]
    reasons = {attr(e, "reason_name") for e in drops if "reason_name" in _keys(e)}
    assert "SOCKET_RCVBUFF" in reasons, f"drop reasons seen: {reasons}"
    full = next(e for e in drops if _keys(e).get("reason_name") == "SOCKET_RCVBUFF")
    assert attr(full, "protocol") == 0x0800  # IPv4
    assert not full.HasField("thread")  # the probe did not see this UDP socket created


def _keys(event: event_pb2.Event) -> dict[str, object]:
    return {a.key: getattr(a, a.WhichOneof("value") or "key") for a in event.attributes}
