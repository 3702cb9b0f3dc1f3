"""Kernel -> service -> gRPC -> clients, for real: the same workload is seen
through the Python client, the Go command and grpcurl (server reflection)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.expectations import (
    WORKLOAD_EVENTS,
    Workload,
    check_workload_events,
    observe_workload,
)
from support.service import Service
from support.streams import EventLog, cli_json_event, pump, read_json_lines, read_json_objects

from kindling.client import ProbeClient

pytestmark = pytest.mark.kernel


def test_python_client(service: Service, tmp_path: Path) -> None:
    log = EventLog()
    client = ProbeClient(service.socket)
    responses = client.subscribe(names=WORKLOAD_EVENTS)

    def read() -> None:
        try:
            for response in responses:
                log.losses.extend(response.losses)
                log.add(response.events)
        except Exception as error:
            log.errors.append(repr(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        events, run = observe_workload(log, tmp_path)
    finally:
        responses.cancel()  # type: ignore[attr-defined]
        client.close()
        reader.join(timeout=5)
    assert not log.losses
    check_workload_events(events, run)


def test_go_command(service: Service, tmp_path: Path, kindling_events_bin: Path) -> None:
    log = EventLog()
    names = [arg for name in WORKLOAD_EVENTS for arg in ("--name", name)]
    proc = subprocess.Popen(
        [str(kindling_events_bin), "--socket", str(service.socket), "-o", "json", *names],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pump(proc, read_json_lines, log)
    try:
        events, run = observe_workload(log, tmp_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "lost" not in stderr
    check_workload_events(events, run)


def test_grpcurl_with_reflection(service: Service, tmp_path: Path, grpcurl_bin: Path) -> None:
    unix = ["-plaintext", "-unix"]
    listing = subprocess.run(
        [str(grpcurl_bin), *unix, str(service.socket), "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listing.stdout.split() == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "kindling.probe.v1.ProbeService",
    ]
    log = EventLog()
    request = json.dumps({"allow_list": [{"names": list(WORKLOAD_EVENTS)}]})
    proc = subprocess.Popen(
        [
            str(grpcurl_bin), *unix, "-d", request, str(service.socket),
            "kindling.probe.v1.ProbeService/Subscribe",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    pump(proc, read_json_objects, log)
    try:
        events, run = observe_workload(log, tmp_path)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert not log.losses
    check_workload_events(events, run)
    # In grpcurl's JSON, attributes are typed values, never base64 bytes:
    # 32-bit ones are JSON numbers, 64-bit ones decimal strings (proto3 JSON).
    opened = next(
        raw_event
        for response in log.raw
        for raw_event in response.get("events", [])
        if raw_event["name"] == "openat"
        and raw_event["thread"]["pid"] == run.pid
        and raw_event.get("fd", {}).get("path") == run.result["path"]
    )
    values = {a["key"]: a for a in opened["attributes"]}
    assert values["dirfd"] == {"key": "dirfd", "int32_value": -100}
    assert values["path"] == {"key": "path", "string_value": run.result["path"]}
    assert opened["fd"]["num"] == run.result["fd"]
    read = next(
        raw_event
        for response in log.raw
        for raw_event in response.get("events", [])
        if raw_event["name"] == "read"
        and raw_event["thread"]["pid"] == run.pid
        and raw_event.get("fd", {}).get("path") == run.result["path"]
    )
    assert read["attributes"] == [{"key": "size", "uint64_value": "4096"}]


def test_python_cli_filters_by_pid_and_name(service: Service, tmp_path: Path) -> None:
    workload = Workload(tmp_path)
    joined = service.log().count(" joined (")
    cli = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("kindling")), "events",
            "--socket", str(service.socket), "--pid", str(workload.pid),
            "--name", "connect", "--name", "accept4", "--count", "2", "--timeout", "30",
            "-o", "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    service.wait_subscribers(joined + 1)
    run = workload.run()
    stdout, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 0, stderr
    lines = stdout.splitlines()
    events = [cli_json_event(line) for line in lines]
    assert [(e.name, e.seq, e.thread.pid) for e in events] == [
        ("connect", 1, run.pid),
        ("accept4", 2, run.pid),
    ]
    assert events[0].fd.destination.port == run.result["port"]
    assert events[1].fd.source.port == run.result["client_port"]
    # Attributes and context render as JSON numbers where the proto says so.
    assert json.loads(lines[1])["fd"]["num"] == events[1].fd.num


def test_a_process_name_that_is_not_utf8_is_delivered(service: Service, tmp_path: Path) -> None:
    marker = tmp_path / "named"
    marker.write_text("x")
    script = (
        "import ctypes, sys, time\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.prctl(15, b'bad\\xff\\xfename', 0, 0, 0)  # PR_SET_NAME\n"
        "sys.stdin.readline()\n"
        "open(sys.argv[1]).read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(marker)], stdin=subprocess.PIPE, text=True
    )
    joined = service.log().count(" joined (")
    with ProbeClient(service.socket) as client:
        responses = client.subscribe(names=["openat"], pids=[proc.pid])
        log = EventLog()

        def read() -> None:
            for response in responses:
                log.add(response.events)

        threading.Thread(target=read, daemon=True).start()
        service.wait_subscribers(joined + 1)
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        events = log.wait_for(lambda evs: any(e.fd.path == str(marker) for e in evs))
        responses.cancel()
    (opened,) = [e for e in events if e.fd.path == str(marker)]
    assert opened.thread.comm == "bad\ufffd\ufffdname"
