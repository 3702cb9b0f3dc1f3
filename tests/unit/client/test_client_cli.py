"""Tests of the `kindling` command against a fake probe service.

Most run the command in-process through ``main(argv)``; a few run it as a
process, for what only a process shows: signals from outside, a closed
stdout pipe and the C core's stderr.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
import pytest
from client_fakes import (
    FakeProbe,
    batch,
    event,
    send_then_wait,
    wait_until_done,
)
from google.protobuf import timestamp_pb2

from kindling.client import SOCKET_ENV
from kindling.client.cli import main, parse_seconds, use_color
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def kindling(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


# --- kindling events -------------------------------------------------------------------


def test_count(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.subscribe = send_then_wait(
        batch(event(1, "read", 10), event(2, "read", 10)),
        batch(event(3, "write", 10), event(4, "write", 10)),
    )
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count", "3")
    assert (r.code, r.err) == (0, "")
    assert r.lines == [
        "2024-05-01T12:00:00.000001Z read app[10/10] ret=0 lat=850ns",
        "2024-05-01T12:00:00.000002Z read app[10/10] ret=0 lat=850ns",
        "2024-05-01T12:00:00.000003Z write app[10/10] ret=0 lat=850ns",
    ]


def test_filters_reach_the_request(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "connect", 42)))
    r = kindling(
        capsys,
        "events",
        "--socket",
        fake_probe.socket,
        "--name",
        "connect",
        "--name=accept4",
        "--pid",
        "42",
        "--pid=43",
        "--count=1",
    )
    assert r.code == 0, r.err
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count", "1")
    assert r.code == 0, r.err
    r = kindling(
        capsys, "events", "--socket", fake_probe.socket, "--count", "1", "--payload", "sockets"
    )
    assert r.code == 0, r.err

    itself = [probe_pb2.EventFilter(pids=[os.getpid()])]
    assert fake_probe.requests == [
        probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["connect", "accept4"], pids=[42, 43])],
            deny_list=itself,
        ),
        probe_pb2.SubscribeRequest(deny_list=itself),
        probe_pb2.SubscribeRequest(payload=probe_pb2.PAYLOAD_MODE_SOCKETS, deny_list=itself),
    ]
    # Comma lists give the same as repeats.
    fake_probe.requests.clear()
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--name", "connect,accept4",
                 "--pid", "42,43", "--count", "1")  # fmt: skip
    assert r.code == 0, r.err
    assert fake_probe.requests == [
        probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["connect", "accept4"], pids=[42, 43])],
            deny_list=itself,
        )
    ]


def test_include_self_keeps_the_commands_own_events(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "connect", 42)))
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--include-self", "--count=1")
    assert r.code == 0, r.err
    assert fake_probe.requests == [probe_pb2.SubscribeRequest()]


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0), ("0.5", 0.5), ("2", 2.0)],
)
def test_timeouts_are_durations_or_seconds(given: str, seconds: float) -> None:
    assert parse_seconds(given) == pytest.approx(seconds)


def test_json_output(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    first = event(1, "connect", 42)
    first.attributes.add(key="msg", string_value="a\nb")
    fake_probe.subscribe = send_then_wait(batch(first, event(2, "close", 42)))
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "-o", "json", "--count", "2")
    assert r.code == 0, r.err
    assert len(r.lines) == 2
    assert r.lines[0].startswith(
        '{"time":"2024-05-01T12:00:00.000001000Z","node":"node-a","seq":"1","timestamp_ns":"1000",'
        '"name":"connect","source":"SOURCE_SYSCALL_EXIT","category":"CATEGORY_UNSPECIFIED",'
    )
    parsed = [json.loads(line) for line in r.lines]
    assert parsed[0]["attributes"] == [{"key": "msg", "string_value": "a\nb"}]
    assert parsed[1]["return_value"] == "0"  # zero values are written


def test_losses_go_to_stderr(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    losses = (
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL, count=12),
        probe_pb2.Loss(reason=probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, count=5, first_seq=2),
    )
    loss_only = probe_pb2.SubscribeResponse(losses=[probe_pb2.Loss(count=1)])
    fake_probe.subscribe = send_then_wait(
        batch(event(7, "read", 1), losses=losses), loss_only, batch(event(8, "read", 1))
    )
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count", "2")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "kindling: lost 12 events (kernel buffer full)",
        "kindling: lost 5 events (subscriber queue full) seq 2-6",
        "kindling: lost 1 events (unknown)",
    ]
    assert len(r.lines) == 2
    assert "lost" not in r.out


def test_invalid_argument(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    message = 'unknown event name "conect"; GetInfo lists the event catalogue'

    def reject(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        yield from ()

    fake_probe.subscribe = reject
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--name", "conect")
    assert r.code == 2
    assert r.err == f"kindling: the service rejected the request: {message}\n"
    assert r.out == ""


def test_other_service_error(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    def deny(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "subscribers must run as root")
        yield from ()

    fake_probe.subscribe = deny
    r = kindling(capsys, "events", "--socket", fake_probe.socket)
    assert r.code == 1
    assert r.err == (
        f"kindling: subscribing to the kindling probe service at {fake_probe.socket} failed: "
        "PermissionDenied: subscribers must run as root\n"
    )


def test_timeout(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))

    # Without --count, a timeout is the normal end.
    start = time.monotonic()
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--timeout", "0.3")
    elapsed = time.monotonic() - start
    assert (r.code, r.err, len(r.lines)) == (0, "", 1)
    assert 0.3 <= elapsed < 5

    # With --count, too few events is an error.
    r = kindling(
        capsys, "events", "--socket", fake_probe.socket, "--timeout", "0.2", "--count", "5"
    )
    assert r.code == 1
    assert r.err == "kindling: timed out after 0.2s with 1 of 5 events\n"
    assert len(r.lines) == 1  # the event that arrived was printed

    # Reaching --count before the timeout is a success.
    start = time.monotonic()
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--timeout", "5", "--count", "1")
    assert (r.code, r.err, len(r.lines)) == (0, "", 1)
    assert time.monotonic() - start < 4


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str], signum: signal.Signals
) -> None:
    sent = threading.Event()

    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        yield batch(event(1, "read", 1), event(2, "read", 1))
        sent.set()
        wait_until_done(context)

    def signal_when_sent() -> None:
        if sent.wait(10):
            time.sleep(0.1)
            os.kill(os.getpid(), signum)

    fake_probe.subscribe = subscribe

    # Should the command not handle the signal, a late one must not end the tests.
    def ignore(signum: int, frame: FrameType | None) -> None:
        pass

    previous = signal.signal(signum, ignore)
    try:
        threading.Thread(target=signal_when_sent, daemon=True).start()
        r = kindling(capsys, "events", "--socket", fake_probe.socket)
    finally:
        signal.signal(signum, previous)
    assert (r.code, r.err, len(r.lines)) == (0, "", 2)
    assert signal.getsignal(signum) is previous  # the command restored the handlers


def test_service_ends_the_stream(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    def send_and_end(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        yield batch(event(1, "read", 1))

    fake_probe.subscribe = send_and_end
    r = kindling(capsys, "events", "--socket", fake_probe.socket)
    assert r.code == 1
    assert r.err == (
        f"kindling: the kindling probe service at {fake_probe.socket} ended the stream "
        "(the service stopped)\n"
    )
    assert len(r.lines) == 1  # the event before the end was printed

    # ... unless the count was reached.
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count", "1")
    assert (r.code, r.err) == (0, "")


@pytest.mark.parametrize("first_batch", [True, False], ids=["after-events", "before-events"])
def test_service_goes_away(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str], first_batch: bool
) -> None:
    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        if first_batch:
            yield batch(event(1, "read", 1))
        fake_probe.stop_soon(0.2)
        wait_until_done(context)

    fake_probe.subscribe = subscribe
    r = kindling(capsys, "events", "--socket", fake_probe.socket)
    assert r.code == 1
    assert r.err.startswith(
        f"kindling: the kindling probe service at {fake_probe.socket} stopped ("
    )
    assert r.err.count("\n") == 1
    assert len(r.lines) == (1 if first_batch else 0)


def test_no_service(stale_socket: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The sentences are in clients/testdata/cli.json; here every command gives them.
    for command in ("events", "info"):
        r = kindling(capsys, command, "--socket", str(tmp_path / "x.sock"))
        assert r.code == 1
        assert "the socket does not exist" in r.err and "$KINDLING_SOCKET" in r.err
        r = kindling(capsys, command, "--socket", stale_socket)
        assert r.code == 1
        assert r.err.startswith(f"kindling: no kindling probe service listens at {stale_socket} (")
        assert r.err.count("\n") == 1
    r = kindling(capsys, "configure", "--socket", stale_socket, "--enable", "read")
    assert r.code == 1 and "listens at" in r.err


def test_socket_from_the_environment(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    monkeypatch.setenv(SOCKET_ENV, fake_probe.socket)
    r = kindling(capsys, "events", "--count", "1")
    assert (r.code, r.err, len(r.lines)) == (0, "", 1)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["events", "--help"],
        ["info", "--help"],
        ["configure", "--help"],
        ["stats", "--help"],
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    r = kindling(capsys, *args)
    assert (r.code, r.err) == (0, "")
    assert "\nexample:\n  kindling " in r.out or "\nexamples:\n  kindling " in r.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    r = kindling(capsys, "--version")
    assert (r.code, r.out, r.err) == (0, "kindling 0.1.0\n", "")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["events", "--bogus"],
        ["events", "-o", "yaml"],
        ["events", "--pid", "abc"],
        ["events", "--pid", "0"],
        ["events", "--pid", "-3"],
        ["events", "--pid", "4294967296"],
        ["events", "--count", "-1"],
        ["events", "--count", "many"],
        ["events", "--timeout", "soon"],
        ["events", "--timeout", "-2"],
        ["events", "--timeout", "nan"],
        ["events", "--timeout", "inf"],
        ["events", "--timeout", "30x"],
        ["events", "--timeout", "1m30"],
        ["events", "--name", "connect,,read"],
        ["events", "--pid", "42,x"],
        ["events", "connect"],
        ["events", "--name"],
        ["events", "--name", ""],
        ["events", "--socket", ""],
        ["events", "--cou", "1"],  # no abbreviations
        ["events", "--payload", "files"],
        ["info", "-o", "yaml"],
        ["configure"],
        ["configure", "--enable", ""],
        ["configure", "--snaplen", "-1"],
        ["configure", "--snaplen", "lots"],
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    r = kindling(capsys, *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith("kindling: ")
    assert r.err.endswith(" --help' for usage.\n")


def test_broken_pipe(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            pass

    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["events", "--socket", fake_probe.socket])
    monkeypatch.undo()
    assert code == 141
    assert capsys.readouterr().err == ""


# --- kindling info ------------------------------------------------------------------


def info_response() -> probe_pb2.GetInfoResponse:
    return probe_pb2.GetInfoResponse(
        service_version="0.1.0",
        contract_versions=["kindling.event.v1", "kindling.probe.v1"],
        node_name="node-a",
        boot_time=timestamp_pb2.Timestamp(seconds=1_714_564_800),
        driver=probe_pb2.DriverInfo(
            name="bcc",
            transport="perf_buffer",
            kernel_release="6.8.0-45-generic",
            features=[
                probe_pb2.KernelFeature(name="btf", available=True, detail="/sys/kernel/btf"),
                probe_pb2.KernelFeature(name="ringbuf", available=False, detail="kernel < 5.8"),
            ],
        ),
        events=[
            probe_pb2.EventDescriptor(
                name="connect",
                source=event_pb2.SOURCE_SYSCALL_EXIT,
                category=event_pb2.CATEGORY_NET,
                description="A socket connects.",
                enabled=True,
                fd_context=True,
                attributes=[
                    probe_pb2.AttributeDescriptor(
                        key="addrlen", type=probe_pb2.ATTRIBUTE_TYPE_UINT32
                    )
                ],
            ),
            probe_pb2.EventDescriptor(
                name="process_exec",
                source=event_pb2.SOURCE_TRACEPOINT,
                category=event_pb2.CATEGORY_PROCESS,
                attributes=[
                    probe_pb2.AttributeDescriptor(
                        key="filename", type=probe_pb2.ATTRIBUTE_TYPE_STRING
                    ),
                    probe_pb2.AttributeDescriptor(key="pid", type=probe_pb2.ATTRIBUTE_TYPE_UINT32),
                ],
            ),
            probe_pb2.EventDescriptor(
                name="sched_switch",
                source=event_pb2.SOURCE_TRACEPOINT,
                category=event_pb2.CATEGORY_SCHEDULER,
            ),
        ],
    )


def test_info_text(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.get_info = lambda request, context: info_response()
    r = kindling(capsys, "info", "--socket", fake_probe.socket)
    assert (r.code, r.err) == (0, "")
    assert r.lines == [
        "service version:   0.1.0",
        "contract versions: kindling.event.v1, kindling.probe.v1",
        "node:              node-a",
        "boot time:         2024-05-01T12:00:00.000000Z",
        "driver:            bcc (perf_buffer)",
        "kernel release:    6.8.0-45-generic",
        "kernel features:",
        "  btf      available  /sys/kernel/btf",
        "  ringbuf  missing    kernel < 5.8",
        "events:            1 of 3 enabled",
        "  NAME          ENABLED  SOURCE        CATEGORY   FD   ATTRIBUTES",
        "  connect       yes      syscall_exit  net        yes  addrlen:uint32",
        "  process_exec  no       tracepoint    process    no   filename:string pid:uint32",
        "  sched_switch  no       tracepoint    scheduler  no   -",
    ]


def test_info_json(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.get_info = lambda request, context: info_response()
    r = kindling(capsys, "info", "--socket", fake_probe.socket, "-o", "json")
    assert (r.code, r.err, len(r.lines)) == (0, "", 1)
    parsed = json.loads(r.out)
    assert parsed["service_version"] == "0.1.0"
    assert parsed["boot_time"] == "2024-05-01T12:00:00Z"
    assert parsed["events"][0]["attributes"] == [
        {"key": "addrlen", "type": "ATTRIBUTE_TYPE_UINT32", "description": ""}
    ]


def test_info_of_an_empty_service(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.get_info = lambda request, context: probe_pb2.GetInfoResponse()
    r = kindling(capsys, "info", "--socket", fake_probe.socket)
    assert (r.code, r.err) == (0, "")
    assert r.lines == [
        "service version:   -",
        "contract versions: -",
        "node:              -",
        "boot time:         -",
        "driver:            -",
        "kernel release:    -",
        "kernel features:   -",
        "events:            0 of 0 enabled",
    ]


# --- kindling configure ---------------------------------------------------------------


def test_configure(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.configure = lambda request, context: probe_pb2.ConfigureResponse(
        enabled_events=["connect", "accept4"]
    )
    r = kindling(
        capsys,
        "configure",
        "--socket",
        fake_probe.socket,
        "--enable",
        "connect",
        "--enable=accept4",
        "--disable",
        "read",
    )
    assert (r.code, r.out, r.err) == (0, "connect\naccept4\n", "")
    assert fake_probe.configure_requests == [
        probe_pb2.ConfigureRequest(enable_events=["connect", "accept4"], disable_events=["read"])
    ]


def test_configure_kernel_filters(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.configure = lambda request, context: probe_pb2.ConfigureResponse(
        enabled_events=["read"], kernel_filters=request.kernel_filters
    )
    r = kindling(
        capsys, "configure", "--socket", fake_probe.socket,
        "--deny-pid", "7", "--deny-comm", "sshd", "--drop-failed-io",
    )  # fmt: skip
    assert (r.code, r.err) == (0, "")
    assert r.lines == ["read", "kernel filters: deny pids 7; deny names sshd; drop failed I/O"]
    assert fake_probe.configure_requests == [
        probe_pb2.ConfigureRequest(
            kernel_filters=probe_pb2.KernelFilters(
                deny_pids=[7], deny_comms=["sshd"], drop_failed_io=True
            )
        )
    ]
    r = kindling(capsys, "configure", "--socket", fake_probe.socket, "--no-kernel-filters")
    assert r.lines == ["read", "kernel filters: none"]
    assert fake_probe.configure_requests[-1].HasField("kernel_filters")


def test_configure_snaplen(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.configure = lambda request, context: probe_pb2.ConfigureResponse(
        enabled_events=["read"], snaplen=request.snaplen
    )
    r = kindling(capsys, "configure", "--socket", fake_probe.socket, "--snaplen", "0")
    assert (r.code, r.err) == (0, "")
    assert r.lines == ["read", "payload snaplen: 0 bytes"]
    (request,) = fake_probe.configure_requests
    assert request.HasField("snaplen")
    assert request.snaplen == 0


def test_configure_disabling_everything(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.configure = lambda request, context: probe_pb2.ConfigureResponse()
    r = kindling(capsys, "configure", "--socket", fake_probe.socket, "--disable", "read")
    assert (r.code, r.out, r.err) == (0, "", "kindling: no events are enabled now\n")


def test_configure_invalid(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    def reject(
        request: probe_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> probe_pb2.ConfigureResponse:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'unknown event name "nope"')
        raise AssertionError  # abort raises

    fake_probe.configure = reject
    r = kindling(capsys, "configure", "--socket", fake_probe.socket, "--enable", "nope")
    assert (r.code, r.out) == (2, "")
    assert r.err == 'kindling: the service rejected the request: unknown event name "nope"\n'


def test_configure_other_error(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    r = kindling(capsys, "configure", "--socket", fake_probe.socket, "--enable", "x")
    assert r.code == 1
    assert r.err == (
        f"kindling: configuring the kindling probe service at {fake_probe.socket} failed: "
        "Unimplemented: Configure is not scripted\n"
    )


# --- as a process ----------------------------------------------------------------------


def start_command(*args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    return subprocess.Popen(
        [sys.executable, "-m", "kindling.client.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_process(fake_probe: FakeProbe, signum: signal.Signals) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 1)))
    with start_command("events", "--socket", fake_probe.socket) as process:
        assert process.stdout is not None
        try:
            assert b" read app[1/1]" in process.stdout.readline()
            process.send_signal(signum)
            out, err = process.communicate(timeout=10)
        finally:
            process.kill()
    assert (process.returncode, out, err) == (0, b"", b"")


def test_closed_stdout_ends_the_process_quietly(fake_probe: FakeProbe) -> None:
    def endless(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        seq = 0
        while context.is_active() and seq < 10_000:
            seq += 1
            yield batch(event(seq, "read", 1))
            time.sleep(0.005)

    fake_probe.subscribe = endless
    with start_command("events", "--socket", fake_probe.socket) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            assert process.stdout.readline()
            process.stdout.close()  # what `| head -1` does
            err = process.stderr.read()
            process.wait(timeout=10)
        finally:
            process.kill()
    assert (process.returncode, err) == (141, b"")


def test_service_going_away_gives_one_line(fake_probe: FakeProbe) -> None:
    # grpc's C core would log the GOAWAY to stderr, were it not silenced.
    def subscribe(
        request: probe_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[probe_pb2.SubscribeResponse]:
        yield batch(event(1, "read", 1))
        fake_probe.stop_soon(0.1)
        wait_until_done(context)

    fake_probe.subscribe = subscribe
    with start_command("events", "--socket", fake_probe.socket) as process:
        try:
            out, err = process.communicate(timeout=10)
        finally:
            process.kill()
    assert process.returncode == 1
    assert out.decode().count("\n") == 1
    assert err.decode().startswith(
        f"kindling: the kindling probe service at {fake_probe.socket} stopped ("
    )
    assert err.count(b"\n") == 1


def test_info_shows_what_the_kernel_captures(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    info = probe_pb2.GetInfoResponse(
        driver=probe_pb2.DriverInfo(
            name="bcc",
            transport="ring_buffer",
            attached=["syscalls:sys_enter_write", "syscalls:sys_exit_write"],
            scope=probe_pb2.KernelScope(
                events=[
                    probe_pb2.ScopedEvent(
                        name="write",
                        delivered=True,
                        pid_scoped=True,
                        payload=probe_pb2.PAYLOAD_MODE_SOCKETS,
                    ),
                    probe_pb2.ScopedEvent(name="close", pid_scoped=True),
                ],
                allowed_pid_count=1,
                kernel_filters=probe_pb2.KernelFilters(deny_comms=["cron"]),
            ),
            counters=[
                probe_pb2.KernelCounters(event="write", emitted=10, filtered=3),
                probe_pb2.KernelCounters(event="read"),
            ],
            snaplen=256,
            max_snaplen=512,
        )
    )
    fake_probe.get_info = lambda request, context: info
    r = kindling(capsys, "info", "--socket", fake_probe.socket)
    assert (r.code, r.err) == (0, "")
    start = r.lines.index("tracepoints:       2 attached")
    assert r.lines[start : start + 11] == [
        "tracepoints:       2 attached",
        "kernel filters:    deny names cron",
        "payload snaplen:   256 bytes (at most 512)",
        "captured:          2 events (1 processes, 0 cgroups for the scoped ones)",
        "  NAME   DELIVERED     SCOPE",
        "  write  yes           pids payload-sockets",
        "  close  no (context)  pids",
        "kernel counters:",
        "  EVENT  EMITTED  FILTERED  LOST",
        "  write  10       3         0",
        "events:            0 of 0 enabled",
    ]


def test_color(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 10)))
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count=1", "--color=always")
    assert r.lines == [
        "\x1b[2m2024-05-01T12:00:00.000001Z\x1b[0m \x1b[1mread\x1b[0m app[10/10] ret=0 lat=850ns"
    ]
    # auto: never into a pipe or file (capsys is neither a terminal).
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "--count=1")
    assert "\x1b" not in r.out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "no_color", "want"),
    [("auto", "", True), ("auto", "1", False), ("always", "1", True), ("never", "", False)],
)
def test_color_choice(
    monkeypatch: pytest.MonkeyPatch, choice: str, no_color: str, want: bool
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)
    assert use_color(choice, _Terminal()) is want
    assert use_color(choice, io.StringIO()) is (choice == "always")


# --- kindling stats ---------------------------------------------------------------------


def test_stats_refreshes_with_rates(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []

    def get_info(
        request: probe_pb2.GetInfoRequest, context: grpc.ServicerContext
    ) -> probe_pb2.GetInfoResponse:
        calls.append(1)
        n = len(calls)
        return probe_pb2.GetInfoResponse(
            node_name="node-a",
            streams=probe_pb2.StreamsInfo(subscribers=2, memory_bytes=1000),
            driver=probe_pb2.DriverInfo(
                counters=[
                    probe_pb2.KernelCounters(event="read", emitted=100 * n, lost=n),
                    probe_pb2.KernelCounters(event="openat", emitted=10),
                ]
            ),
        )

    fake_probe.get_info = get_info
    r = kindling(capsys, "stats", "--socket", fake_probe.socket, "--count=2", "--interval=0.2")
    assert (r.code, r.err) == (0, "")
    blocks = r.out.split("\n\n")
    assert len(blocks) == 2 and "\x1b" not in r.out  # a pipe is not redrawn
    first, second = (block.splitlines() for block in blocks)
    assert first[0] == (
        "node node-a: 2 subscribers, 0 events (0 bytes) queued, queue memory 0 of 1000 bytes"
    )
    assert first[1].split() == ["EVENT", "EMITTED/S", "EMITTED", "FILTERED", "LOST"]
    assert second[2].split()[0] == "read"  # the busiest first
    rate = int(second[2].split()[1])
    assert 0 < rate <= 500  # 100 more in 0.2 s or more
    assert second[3].split() == ["openat", "0", "10", "0", "0"]


def test_stats_of_a_service_nobody_uses(
    fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_probe.get_info = lambda request, context: probe_pb2.GetInfoResponse()
    r = kindling(capsys, "stats", "--socket", fake_probe.socket, "--count=1")
    assert r.lines[1] == "the kernel counts nothing: nobody is subscribed"


def test_table_output(fake_probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    fake_probe.subscribe = send_then_wait(batch(event(1, "read", 10), event(2, "write", 10)))
    r = kindling(capsys, "events", "--socket", fake_probe.socket, "-o", "table", "--count=2")
    assert (r.code, r.err) == (0, "")
    assert r.lines == [
        "TIME                        EVENT            PROCESS                  RET          "
        "LATENCY  DETAILS",
        "2024-05-01T12:00:00.000001Z read             app[10/10]               0            850ns",
        "2024-05-01T12:00:00.000002Z write            app[10/10]               0            850ns",
    ]
