"""The I/O family on the real kernel, through the service: each call of
tests/support/io_workload.py and the exact event it makes, with fd context,
4-tuple, peer address and payload."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.expectations import PausedProcess, attr, find
from support.service import Service
from support.streams import EventLog, wait_until_live

from kindling.client import ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server.pipeline.plan import DEFAULT_SNAPLEN

pytestmark = pytest.mark.kernel

WORKLOAD = Path(__file__).parents[1] / "support" / "io_workload.py"
IO_EVENTS = ["sendto", "recvfrom", "sendmsg", "recvmsg", "writev", "sendfile", "read"]
sys.path.insert(0, str(WORKLOAD.parent))
import io_workload  # noqa: E402


class Run:
    def __init__(self, log: EventLog, result: dict[str, Any]) -> None:
        self.log = log
        self.result = result
        self.pid: int = result["pid"]
        self.server_pid: int = result["server_pid"]

    @property
    def events(self) -> list[event_pb2.Event]:
        return list(self.log.events)


def _subscribe(client: ProbeClient, pids: list[int], log: EventLog) -> Any:
    request = probe_pb2.SubscribeRequest(
        allow_list=[
            probe_pb2.EventFilter(names=["openat"]),  # for wait_until_live
            probe_pb2.EventFilter(names=IO_EVENTS, pids=pids),
        ],
        payload=probe_pb2.PAYLOAD_MODE_SOCKETS,
    )
    responses = client.subscribe(request)

    def read() -> None:
        try:
            for response in responses:
                log.losses.extend(response.losses)
                log.add(response.events)
        except Exception as error:
            log.errors.append(repr(error))

    threading.Thread(target=read, daemon=True).start()
    return responses


@pytest.fixture(scope="module")
def run(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("io")
    workload = PausedProcess(WORKLOAD, str(tmp_path))
    started = workload.started
    log = EventLog()
    client = ProbeClient(service.socket)
    responses = _subscribe(client, [started["pid"], started["server_pid"]], log)
    try:
        wait_until_live(log, tmp_path)
        result = workload.go()
        run = Run(log, result)
        # The server reads hello.txt after it sent the reply's head, which the
        # client may receive first: wait for both.
        log.wait_for(
            lambda events: (
                find(events, "recvfrom", run.pid, _is_http_reply) is not None
                and any(e.name == "read" and e.fd.path.endswith("hello.txt") for e in events)
            )
        )
        yield run
    finally:
        responses.cancel()
        client.close()
        workload.kill()


def _is_http_reply(event: event_pb2.Event) -> bool:
    return event.payload.startswith(b"HTTP/1.0 200")


def _plausible_syscall(event: event_pb2.Event, run: Run, pid: int | None = None) -> None:
    assert event.source == event_pb2.SOURCE_SYSCALL_EXIT
    assert event.thread.pid == (pid or run.pid)
    assert event.thread.tid == event.thread.pid
    assert event.thread.comm == run.result["comm"]
    assert 0 < event.latency_ns < 1_000_000_000


def test_sendto_of_a_dns_query_carries_its_peer_and_payload(run: Run) -> None:
    udp = run.result["udp"]
    query = io_workload.DNS_QUERY
    sent = find(run.events, "sendto", run.pid, lambda e: e.fd.num == udp["client_fd"])
    assert sent is not None, "no sendto of the query"
    _plausible_syscall(sent, run)
    assert sent.return_value == len(query)
    assert sent.category == event_pb2.CATEGORY_NET
    assert sent.fd.type == event_pb2.FD_TYPE_IPV4_SOCKET
    assert sent.fd.protocol == event_pb2.L4_PROTOCOL_UDP
    assert attr(sent, "peer_address") == "127.0.0.1"
    assert attr(sent, "peer_port") == udp["server_port"]
    assert attr(sent, "size") == len(query)
    assert (sent.payload, sent.payload_length) == (query, len(query))

    received = find(run.events, "recvfrom", run.pid, lambda e: e.fd.num == udp["server_fd"])
    assert received is not None, "no recvfrom of the query"
    _plausible_syscall(received, run)
    assert received.return_value == len(query)
    assert attr(received, "peer_address") == "127.0.0.1"
    assert attr(received, "peer_port") == udp["client_port"]
    assert attr(received, "size") == 512
    assert received.payload == query


def test_sendmsg_and_recvmsg_over_a_unix_socket(run: Run) -> None:
    unix = run.result["unix"]
    message = b"".join(io_workload.UNIX_PARTS)
    sent = find(run.events, "sendmsg", run.pid, lambda e: e.fd.num == unix["send_fd"])
    assert sent is not None, "no sendmsg"
    _plausible_syscall(sent, run)
    assert sent.return_value == unix["sent"] == len(message)
    assert sent.category == event_pb2.CATEGORY_IPC
    assert sent.fd.type == event_pb2.FD_TYPE_UNIX_SOCKET
    assert sent.payload == message  # gathered from the two iovecs
    received = find(run.events, "recvmsg", run.pid, lambda e: e.fd.num == unix["recv_fd"])
    assert received is not None, "no recvmsg"
    _plausible_syscall(received, run)
    assert received.return_value == len(message)
    assert received.fd.type == event_pb2.FD_TYPE_UNIX_SOCKET
    assert (received.payload, received.payload_length) == (message, len(message))
    assert "peer_address" not in {a.key for a in received.attributes}


def _tcp_fd(event: event_pb2.Event, tcp: dict[str, Any]) -> None:
    assert event.fd.num == tcp["fd"]
    assert event.fd.type == event_pb2.FD_TYPE_IPV4_SOCKET
    assert event.fd.protocol == event_pb2.L4_PROTOCOL_TCP
    assert event.fd.role == event_pb2.SOCKET_ROLE_CLIENT
    assert (event.fd.source.address, event.fd.source.port) == ("127.0.0.1", tcp["client_port"])
    assert (event.fd.destination.address, event.fd.destination.port) == ("127.0.0.1", tcp["port"])


def test_writev_of_two_buffers(run: Run) -> None:
    tcp = run.result["tcp"]
    written = find(run.events, "writev", run.pid, lambda e: e.fd.num == tcp["fd"])
    assert written is not None, "no writev"
    _plausible_syscall(written, run)
    data = b"".join(io_workload.WRITEV_PARTS)
    assert written.return_value == tcp["written"] == len(data)
    assert written.category == event_pb2.CATEGORY_NET
    _tcp_fd(written, tcp)
    assert attr(written, "iovcnt") == 2
    assert (written.payload, written.payload_length) == (data, len(data))


def test_sendfile_of_a_file_to_a_socket(run: Run) -> None:
    tcp = run.result["tcp"]
    copied = find(run.events, "sendfile", run.pid, lambda e: e.fd.num == tcp["fd"])
    assert copied is not None, "no sendfile"
    _plausible_syscall(copied, run)
    assert copied.return_value == tcp["copied"] == len(io_workload.FILE_CONTENT)
    _tcp_fd(copied, tcp)
    assert attr(copied, "in_fd") == tcp["file_fd"]
    assert attr(copied, "count") == len(io_workload.FILE_CONTENT)
    assert not copied.payload and not copied.payload_length  # copied inside the kernel


def test_an_http_exchange_shows_in_the_payloads(run: Run) -> None:
    http = run.result["http"]
    assert (http["status"], http["body"]) == (200, "hello from kindling\n")
    request_line = b"GET /hello.txt HTTP/1.1\r\n"

    sent = find(run.events, "sendto", run.pid, lambda e: e.payload.startswith(request_line))
    assert sent is not None, "the client's request is not in a sendto payload"
    _plausible_syscall(sent, run)
    assert sent.fd.num == http["fd"]
    assert sent.fd.destination.port == run.result["server_port"]
    # The request is longer than the snaplen: cut, and said so.
    assert sent.return_value == sent.payload_length > DEFAULT_SNAPLEN
    assert len(sent.payload) == DEFAULT_SNAPLEN
    assert b"X-Long: xxx" in sent.payload

    server = run.server_pid
    received = find(run.events, "recvfrom", server, lambda e: e.payload.startswith(request_line))
    assert received is not None, "the server's receive of the request has no payload"
    assert received.thread.pid == server
    assert received.fd.role == event_pb2.SOCKET_ROLE_SERVER
    assert received.fd.destination.port == run.result["server_port"]
    assert received.payload_length == sent.payload_length

    reply = find(run.events, "sendto", server, _is_http_reply)
    assert reply is not None, "the server's reply is not in a sendto payload"
    assert reply.payload.startswith(b"HTTP/1.0 200 OK\r\n")
    answer = find(run.events, "recvfrom", run.pid, _is_http_reply)
    assert answer is not None, "the client's receive of the reply has no payload"
    assert answer.fd.num == http["fd"]


def test_only_sockets_carry_payloads(run: Run) -> None:
    """The server reads hello.txt from a file: its read has no payload."""
    reads = [e for e in run.events if e.name == "read" and e.fd.path.endswith("hello.txt")]
    assert reads, "the server's read of hello.txt is missing"
    assert all(not e.payload and not e.payload_length for e in reads)
