"""The filter language through the real socket and the real driver: for each
field, a subscription that sets it gets the workload's event that matches
(tests/support/filter_workload.py) and not the one that does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.expectations import PausedProcess
from support.service import Service

from kindling.client import ProbeClient
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2

pytestmark = pytest.mark.kernel

WORKLOAD = Path(__file__).parents[1] / "support" / "filter_workload.py"
F = probe_pb2.EventFilter
RV = probe_pb2.ReturnValueFilter
NOBODY = 65534

# Each subscription: the fields under test (the workload's pids are added).
FIELDS: dict[str, dict[str, Any]] = {
    "everything": {},
    "category_net": {"categories": [event_pb2.CATEGORY_NET], "names": ["write", "sendto"]},
    "category_file": {"categories": [event_pb2.CATEGORY_FILE], "names": ["write", "sendto"]},
    "tracepoints": {"sources": [event_pb2.SOURCE_TRACEPOINT]},
    "thread": {"tids": "thread", "names": ["write"]},
    "nobody_uid": {"uids": [NOBODY], "names": ["openat"]},
    "nobody_gid": {"gids": [NOBODY], "names": ["openat"]},
    "comm_thread": {"comms": ["kfilter-th.*"]},
    "comm_main": {"comms": ["kfilter-main"], "names": ["write"]},
    "errors": {"return_value": RV(errors_only=True), "names": ["openat"]},
    "enoent": {"return_value": RV(values=[-2]), "names": ["openat"]},
    "one_byte_reads": {"return_value": RV(min=1, max=1), "names": ["read"]},
    "slow": {"min_latency_ns": 40_000_000, "names": ["read"]},
    "with_payload": {"has_payload": True, "names": ["write", "sendto"]},
    "without_payload": {"has_payload": False, "names": ["write", "sendto"]},
    "server_port": {"local_ports": "port", "names": ["sendto", "recvfrom"]},
    "to_the_server": {"remote_ports": "port", "names": ["sendto", "recvfrom"]},
    "tcp": {"protocols": [event_pb2.L4_PROTOCOL_TCP], "names": ["sendto", "recvfrom"]},
    "udp": {"protocols": [event_pb2.L4_PROTOCOL_UDP], "names": ["sendto", "recvfrom"]},
    "loopback_peers": {"remote_addresses": ["127.0.0.0/8"], "names": ["sendto", "recvfrom"]},
    "private_peers": {"remote_addresses": ["10.0.0.0/8"], "names": ["sendto", "recvfrom"]},
    "files": {"fd_types": [event_pb2.FD_TYPE_FILE], "names": ["write"]},
    "children_of_the_workload": {"ppids": "pid", "names": ["openat"]},
    "python": {"exes": [".*/python3?(\\.[0-9]+)?"], "names": ["openat"]},
    "not_python": {"exes": ["/usr/sbin/.*"], "names": ["openat"]},
    # Without the pids the others get: the workload and what it starts.
    "tree": {"process_trees": "pid", "names": ["openat"]},
}


class Run:
    def __init__(self, result: dict[str, Any], events: dict[str, list[event_pb2.Event]]) -> None:
        self.result = result
        self.events = events

    def of(self, key: str, name: str | None = None) -> list[event_pb2.Event]:
        return [e for e in self.events[key] if name is None or e.name == name]


def _filter(fields: dict[str, Any], pids: list[int], ids: dict[str, int]) -> probe_pb2.EventFilter:
    given = dict(fields)
    if given.get("tids") == "thread":
        given["tids"] = [ids["thread_tid"]]
    for key in ("local_ports", "remote_ports"):
        if given.get(key) == "port":
            given[key] = [probe_pb2.PortRange(first=ids["port"])]
    if given.get("ppids") == "pid":
        given["ppids"] = [ids["pid"]]
    if given.get("process_trees") == "pid":
        given["process_trees"] = [ids["pid"]]
        return F(**given)
    return F(pids=pids, **given)


@pytest.fixture(scope="module")
def run(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("filters")
    workload = PausedProcess(WORKLOAD, str(tmp_path))
    started = workload.started
    pids = [started["pid"], started["child_pid"]]
    client = ProbeClient(service.socket)
    events: dict[str, list[event_pb2.Event]] = {key: [] for key in FIELDS}
    streams = []
    joined = service.log().count(" joined (")
    try:
        for key, fields in FIELDS.items():
            request = probe_pb2.SubscribeRequest(
                allow_list=[_filter(fields, pids, started)], payload=probe_pb2.PAYLOAD_MODE_SOCKETS
            )
            stream = client.subscribe(request)
            streams.append(stream)

            def read(stream: Any = stream, key: str = key) -> None:
                for response in stream:
                    events[key].extend(response.events)

            threading.Thread(target=read, daemon=True).start()
        service.wait_subscribers(joined + len(streams))
        result = workload.go()
        deadline = time.monotonic() + 15
        while not any(
            e.name == "process_exit" and e.thread.pid == started["pid"]
            for e in events["everything"]
        ):
            assert time.monotonic() < deadline, "the workload's exit never arrived"
            time.sleep(0.05)
        time.sleep(0.5)  # the other streams had the same batches offered
        yield Run(result, events)
    finally:
        for stream in streams:
            stream.cancel()
        client.close()
        workload.kill()


def _fds(events: list[event_pb2.Event]) -> set[int]:
    return {e.fd.num for e in events}


def test_categories_follow_the_descriptor(run: Run) -> None:
    net, file = run.of("category_net"), run.of("category_file")
    assert run.result["client_fd"] in _fds(net) and run.result["file_fd"] not in _fds(net)
    assert run.result["file_fd"] in _fds(file) and run.result["client_fd"] not in _fds(file)
    assert {e.category for e in net} == {event_pb2.CATEGORY_NET}


def test_sources_select_the_kind_of_hook(run: Run) -> None:
    events = run.of("tracepoints")
    assert events and {e.source for e in events} == {event_pb2.SOURCE_TRACEPOINT}
    assert any(e.name == "process_exit" and e.thread.pid == run.result["child_pid"] for e in events)
    assert any(e.source == event_pb2.SOURCE_SYSCALL_EXIT for e in run.of("everything"))


def test_tids_select_one_thread_of_a_process(run: Run) -> None:
    events = run.of("thread", "write")
    assert events and {e.thread.tid for e in events} == {run.result["thread_tid"]}
    everyone = run.of("everything", "write")
    assert any(e.thread.tid == run.result["main_tid"] for e in everyone)


def test_comms_are_regular_expressions_on_the_thread_name(run: Run) -> None:
    thread = run.of("comm_thread")
    assert thread and {e.thread.comm for e in thread} == {"kfilter-thread"}
    assert {e.thread.tid for e in thread} == {run.result["thread_tid"]}
    # Threads take their creator's name: the timer thread is "kfilter-main" too.
    main = run.of("comm_main", "write")
    assert run.result["main_tid"] in {e.thread.tid for e in main}
    assert run.result["thread_tid"] not in {e.thread.tid for e in main}
    assert main and all(e.thread.comm == "kfilter-main" for e in main)


def test_uids_and_gids_select_the_process_that_became_nobody(run: Run) -> None:
    for key in ("nobody_uid", "nobody_gid"):
        events = run.of(key, "openat")
        assert events, key
        assert {e.thread.pid for e in events} == {run.result["child_pid"]}
        assert {(e.thread.uid, e.thread.gid) for e in events} == {(NOBODY, NOBODY)}
    everyone = run.of("everything", "openat")
    assert any(e.thread.uid == 0 and e.thread.pid == run.result["pid"] for e in everyone)


def test_return_values_errors_exact_values_and_ranges(run: Run) -> None:
    errors = run.of("errors", "openat")
    assert errors and all(e.return_value < 0 for e in errors)
    assert any(e.return_value == -2 for e in errors)
    assert {e.return_value for e in run.of("enoent")} == {-2}
    reads = run.of("one_byte_reads")
    fds = {run.result["slow_read_fd"], run.result["quick_read_fd"]}
    assert fds <= _fds(reads) and {e.return_value for e in reads} == {1}
    assert any(e.return_value > 1 for e in run.of("everything", "read"))


def test_min_latency_keeps_only_slow_calls(run: Run) -> None:
    slow = run.of("slow", "read")
    assert run.result["slow_read_fd"] in _fds(slow)
    assert run.result["quick_read_fd"] not in _fds(slow)
    assert all(e.latency_ns >= 40_000_000 for e in slow)


def test_has_payload_splits_socket_writes_from_file_writes(run: Run) -> None:
    with_payload = run.of("with_payload")
    assert with_payload and all(e.payload for e in with_payload)
    assert any(e.payload.startswith(b"GET /filtered") for e in with_payload)
    without = run.of("without_payload")
    assert run.result["file_fd"] in _fds(without)
    assert not any(e.payload for e in without)


def test_a_bad_filter_is_refused_with_the_field_named(service: Service) -> None:
    with ProbeClient(service.socket) as client:
        stream = client.subscribe(
            probe_pb2.SubscribeRequest(allow_list=[F(comms=["ok", "(unclosed"])])
        )
        with pytest.raises(Exception, match=r"allow_list\[0\]\.comms\[1\]: .* is not an RE2"):
            next(iter(stream))


def test_ports_follow_the_socket_role(run: Run) -> None:
    port = run.result["port"]
    server = run.of("server_port")
    # The server end's local port is the listening port: its recvfrom.
    assert server and {e.name for e in server} == {"recvfrom"}
    assert all(e.fd.destination.port == port for e in server)
    client = run.of("to_the_server")
    assert client and {e.name for e in client} == {"sendto"}
    assert {e.fd.num for e in client} == {run.result["client_fd"]}


def test_protocols_addresses_and_descriptor_types(run: Run) -> None:
    tcp = run.of("tcp")
    assert {e.name for e in tcp} == {"sendto", "recvfrom"}
    assert {e.fd.protocol for e in tcp} == {event_pb2.L4_PROTOCOL_TCP}
    assert run.of("udp") == []
    assert {e.name for e in run.of("loopback_peers")} == {"sendto", "recvfrom"}
    assert run.of("private_peers") == []
    files = run.of("files")
    assert files and {e.fd.type for e in files} == {event_pb2.FD_TYPE_FILE}
    assert run.result["client_fd"] not in _fds(files)


def test_parents_and_executables(run: Run) -> None:
    children = run.of("children_of_the_workload")
    assert children and {e.thread.pid for e in children} == {run.result["child_pid"]}
    python = run.of("python")
    assert {e.thread.pid for e in python} == {run.result["pid"], run.result["child_pid"]}
    assert {e.thread.exe for e in python} == {run.result["exe"]}
    assert run.of("not_python") == []


def test_a_process_tree_takes_processes_started_after_the_subscription(run: Run) -> None:
    events = run.of("tree", "openat")
    main, child = run.result["pid"], run.result["child_pid"]
    later = {e.thread.pid for e in events} - {main, child}
    # /bin/cat, started by the workload after everyone subscribed.
    assert later, "no process of the tree but the workload's own"
    assert all(e.thread.ppid == main for e in events if e.thread.pid in later)
    assert any(e.thread.comm == "cat" for e in events)
    assert {main, child} <= {e.thread.pid for e in events}
