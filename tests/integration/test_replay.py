"""Record and replay, end to end: `kindling-probe serve --replay` serves the
shipped recording (tests/data/sample.kindling, the I/O workload recorded on
a machine like this one) through the real API to the Python and Go clients,
with no eBPF; and on the real kernel a fresh recording of the workload,
replayed, gives the events a live subscriber saw."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.expectations import without_seq
from support.service import PROBE, Service, health_status, start_service

from kindling.client import InvalidRequest, ProbeClient
from kindling.client.recording import read_recording
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

DATA = Path(__file__).parents[1] / "data"
SAMPLE = DATA / "sample.kindling"
FACTS = json.loads((DATA / "sample.kindling.json").read_text())
KINDLING = Path(sys.executable).with_name("kindling")
sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
import sample_recording  # noqa: E402


def recorded(path: Path = SAMPLE) -> list[probe_pb2.SubscribeResponse]:
    with path.open("rb") as file:
        return list(read_recording(file)[1])


def events_of(responses: list[probe_pb2.SubscribeResponse]) -> list[event_pb2.Event]:
    return [event for response in responses for event in response.events]


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path, "--replay", str(SAMPLE), "--speed", "max")
    yield service
    assert service.stop() == 0, service.log()


def subscribe_all(
    socket: Path, request: probe_pb2.SubscribeRequest, count: int
) -> list[probe_pb2.SubscribeResponse]:
    responses = []
    with ProbeClient(socket) as client, client.subscribe(request, timeout=20) as stream:
        seen = 0
        for response in stream:
            responses.append(response)
            seen += len(response.events)
            if seen >= count:
                break
    return responses


def test_a_replay_serves_the_recording_through_the_api(replay: Service) -> None:
    expected = events_of(recorded())
    request = probe_pb2.SubscribeRequest(payload=probe_pb2.PAYLOAD_MODE_ALL)
    responses = subscribe_all(replay.socket, request, len(expected))
    events = events_of(responses)
    assert without_seq(events) == without_seq(expected)
    assert [e.seq for e in events] == list(range(1, len(expected) + 1))
    with SAMPLE.open("rb") as file:
        header, _ = read_recording(file)
    # The recording's node and clock, so that wall-clock times are the recorded ones.
    assert {r.node_name for r in responses} == {header.node_name}
    assert {r.boot_time.ToNanoseconds() for r in responses} == {header.boot_time.ToNanoseconds()}
    with ProbeClient(replay.socket) as client:
        info = client.get_info(timeout=5)
    assert (info.driver.name, info.driver.transport) == ("replay", "recording")
    assert info.driver.kernel_release == header.kernel_release
    assert info.node_name == header.node_name
    counters = {c.event: c.emitted for c in info.driver.counters}
    assert counters["sendto"] == sum(e.name == "sendto" for e in expected)
    assert "finished" in info.driver.features[0].detail


def test_a_replay_filters_as_the_live_service_does(replay: Service) -> None:
    server = FACTS["server_pid"]
    expected = [e for e in events_of(recorded()) if e.name == "recvfrom" and e.thread.pid == server]
    request = probe_pb2.SubscribeRequest(
        allow_list=[probe_pb2.EventFilter(names=["recvfrom"], pids=[server])]
    )
    events = events_of(subscribe_all(replay.socket, request, len(expected)))
    assert without_seq(events) == [_without_payload(e) for e in without_seq(expected)], (
        "payloads reach only streams that ask for them"
    )
    assert events and events[0].fd.destination.port == FACTS["server_port"]


def _without_payload(event: event_pb2.Event) -> event_pb2.Event:
    event.ClearField("payload")
    event.ClearField("payload_length")
    return event


def _cli_lines(command: list[str], tmp_path: Path, name: str) -> list[str]:
    service = start_service(tmp_path / name, "--replay", str(SAMPLE), "--speed", "max")
    try:
        total = len(events_of(recorded()))
        result = subprocess.run(
            [*command, "--socket", str(service.socket), "--payload", "all", "--count", str(total)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        assert service.stop() == 0
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == total
    return lines


def test_the_python_and_go_commands_print_the_recording_alike(
    tmp_path: Path, kindling_events_bin: Path
) -> None:
    (tmp_path / "py").mkdir()
    (tmp_path / "go").mkdir()
    python = _cli_lines([str(KINDLING), "events"], tmp_path, "py")
    go = _cli_lines([str(kindling_events_bin)], tmp_path, "go")
    assert python == go
    request = next(line for line in python if "GET /hello.txt HTTP/1.1" in line)
    assert request.split()[1] == "sendto" and f"[{FACTS['pid']}/" in request


def test_configure_on_a_replay_cuts_payloads_to_the_new_snaplen(replay: Service) -> None:
    with ProbeClient(replay.socket) as client:
        client.configure(snaplen=8, timeout=5)
    expected = [e for e in events_of(recorded()) if e.payload]
    request = probe_pb2.SubscribeRequest(payload=probe_pb2.PAYLOAD_MODE_SOCKETS)
    events = events_of(subscribe_all(replay.socket, request, len(events_of(recorded()))))
    cut = [e for e in events if e.payload]
    assert [(e.payload, e.payload_length) for e in cut] == [
        (e.payload[:8], e.payload_length) for e in expected
    ]


def test_serving_a_file_that_is_not_a_recording_fails_with_a_sentence(tmp_path: Path) -> None:
    not_a_recording = tmp_path / "notes.txt"
    not_a_recording.write_text("hello\n")
    for path, message in (
        (tmp_path / "missing.kindling", "cannot open the recording"),
        (not_a_recording, "cannot be replayed"),
    ):
        result = subprocess.run(
            [str(PROBE), "serve", "--socket", str(tmp_path / "k.sock"), "--replay", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "k.sock").exists()


def test_record_without_a_service_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(PROBE),
            "record",
            "-o",
            str(tmp_path / "r.kindling"),
            "--socket",
            str(tmp_path / "none.sock"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "none.sock" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.kernel
def test_a_recording_of_the_workload_replays_as_a_live_subscriber_saw_it(
    service: Service, tmp_path: Path
) -> None:
    output = tmp_path / "fresh.kindling"
    live: list[event_pb2.Event] = []
    client = ProbeClient(service.socket)
    streams: list[object] = []

    def subscribe_live(pids: list[int]) -> None:
        joined = service.log().count(" joined (")
        request = probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=sample_recording.EVENTS, pids=pids)],
            payload=probe_pb2.PAYLOAD_MODE_SOCKETS,
        )
        stream = client.subscribe(request)
        streams.append(stream)

        def read() -> None:
            for response in stream:
                live.extend(response.events)

        threading.Thread(target=read, daemon=True).start()
        service.wait_subscribers(joined + 1)

    try:
        sample_recording.record_workload(service.socket, output, before_go=subscribe_live)
        recording = events_of(recorded(output))
        assert any(e.payload.startswith(b"GET /hello.txt") for e in recording)
        assert without_seq(live[: len(recording)]) == without_seq(recording)
    finally:
        for stream in streams:
            stream.cancel()  # type: ignore[attr-defined]
        client.close()
    (tmp_path / "replay").mkdir()
    replay = start_service(tmp_path / "replay", "--replay", str(output), "--speed", "max")
    try:
        request = probe_pb2.SubscribeRequest(payload=probe_pb2.PAYLOAD_MODE_ALL)
        replayed = events_of(subscribe_all(replay.socket, request, len(recording)))
    finally:
        assert replay.stop() == 0
    assert without_seq(replayed) == without_seq(recording)


def test_a_recording_cut_short_turns_health_not_serving(tmp_path: Path) -> None:
    cut = tmp_path / "cut.kindling"
    data = SAMPLE.read_bytes()
    cut.write_bytes(data[: len(data) - 7])  # the last response, cut in the middle
    service = start_service(tmp_path, "--replay", str(cut), "--speed", "max")
    try:
        with grpc.insecure_channel(f"unix:{service.socket}") as channel:
            stream = probe_pb2_grpc.ProbeServiceStub(channel).Subscribe(
                probe_pb2.SubscribeRequest(), timeout=20
            )
            assert next(stream).events  # what the recording has before the cut
            deadline = time.monotonic() + 10
            while health_status(service.socket) != "NOT_SERVING":
                assert time.monotonic() < deadline, service.log()
                time.sleep(0.05)
            stream.cancel()
        with ProbeClient(service.socket) as client:
            failure = client.get_info().driver.failure
        assert failure.startswith(f"the recording {cut} ends early: "), failure
        assert f"capture stopped ({failure}); health reports NOT_SERVING" in service.log()
        # What a container HEALTHCHECK or an exec probe runs.
        probe = subprocess.run([str(PROBE), "health", "--socket", str(service.socket)],
                               capture_output=True, text=True, timeout=30)  # fmt: skip
        assert (probe.returncode, probe.stdout) == (1, "NOT_SERVING\n"), probe
    finally:
        assert service.stop() == 0, service.log()


def test_configure_sets_the_batching_of_streams_that_ask_for_none(replay: Service) -> None:
    expected = len(events_of(recorded()))
    with ProbeClient(replay.socket) as client:
        start = client.get_config()
        assert start.batching.max_events == 2048  # --max-batch-events
        with pytest.raises(InvalidRequest, match=r"batching\.max_events: 100000 is more than"):
            client.configure(batching=probe_pb2.Batching(max_events=100_000))
        assert client.get_config() == start  # nothing changed
        done = client.configure(batching=probe_pb2.Batching(max_events=5))
        assert done.batching.max_events == 5 and done.generation == start.generation + 1
        assert client.get_config().batching.max_events == 5
    responses = subscribe_all(replay.socket, probe_pb2.SubscribeRequest(), expected)
    assert len(events_of(responses)) == expected
    assert max(len(r.events) for r in responses) == 5


@pytest.mark.parametrize("command", ["python", "go"])
def test_follow_reconnects_across_a_restart_and_reports_the_gap(
    tmp_path: Path, kindling_events_bin: Path, command: str
) -> None:
    cli = ([str(Path(sys.executable).with_name("kindling")), "events"] if command == "python"
           else [str(kindling_events_bin)])  # fmt: skip
    expected = len(events_of(recorded()))
    first = start_service(tmp_path, "--replay", str(SAMPLE), "--speed", "max")
    follower = subprocess.Popen(
        [*cli, "--socket", str(first.socket), "--follow", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout or ()), daemon=True)
    reader.start()
    second: Service | None = None
    try:
        deadline = time.monotonic() + 20
        while len(lines) < expected:
            assert time.monotonic() < deadline and follower.poll() is None, lines
            time.sleep(0.05)
        assert first.stop() == 0, first.log()
        second = start_service(tmp_path, "--replay", str(SAMPLE), "--speed", "max")
        deadline = time.monotonic() + 30
        while len(lines) < 2 * expected:
            assert time.monotonic() < deadline and follower.poll() is None, lines[-3:]
            time.sleep(0.05)
    finally:
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=10)
        if second is not None:
            assert second.stop() == 0, second.log()
    assert follower.returncode == 0, errors
    seqs = [int(json.loads(line)["seq"]) for line in lines]  # uint64: a JSON string
    assert seqs == [*range(1, expected + 1)] * 2  # the recording twice, a new stream
    assert (
        f"the stream started over: events after seq {expected} are unknown (the service no "
        "longer had the stream"
    ) in errors
    assert f"reconnected to the kindling probe service at {first.socket}" in errors


def test_kindling_probe_health_says_serving_or_why_not(replay: Service, tmp_path: Path) -> None:
    serving = subprocess.run([str(PROBE), "health", "--socket", str(replay.socket)],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (serving.returncode, serving.stdout, serving.stderr) == (0, "SERVING\n", "")
    missing = tmp_path / "none.sock"
    gone = subprocess.run([str(PROBE), "health", "--socket", str(missing)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert gone.returncode == 1
    assert gone.stderr == f"kindling-probe: no service at {missing}: the socket does not exist\n"
