"""Nothing is lost silently: every dropped event is counted and reported, in
band, to the stream that lost it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from support.service import TRANSPORTS, Service, start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

pytestmark = pytest.mark.kernel


def bursts(times: int = 10) -> None:
    """Tens of thousands of reads and writes, in bursts the kernel buffer can hold."""
    for _ in range(times):
        subprocess.run(
            ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=2000", "status=none"],
            check=True,
        )
        time.sleep(0.05)


@pytest.fixture
def small_queue_service(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path, "--subscriber-queue-events", "64")
    yield service
    assert service.stop() == 0, service.log()


@pytest.fixture(params=TRANSPORTS)
def small_buffer_service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    service = start_service(
        tmp_path,
        "--perf-buffer-pages", "1", "--ring-buffer-pages", "1", "--poll-interval-ms", "200",
        transport=request.param,
    )  # fmt: skip
    yield service
    assert service.stop() == 0, service.log()


def subscribe(service: Service, names: list[str]) -> tuple[grpc.Channel, object]:
    channel = grpc.insecure_channel(f"unix:{service.socket}")
    stub = probe_pb2_grpc.ProbeServiceStub(channel)
    # Deny this process: its own reads of the stream would keep it busy.
    call = stub.Subscribe(
        probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=names)],
            deny_list=[probe_pb2.EventFilter(pids=[os.getpid()])],
        )
    )
    return channel, call


def _reports_loss(responses: list[probe_pb2.SubscribeResponse]) -> bool:
    return any(r.losses for r in responses)


def drain(
    call: object,
    until: float,
    done: Callable[[list[probe_pb2.SubscribeResponse]], bool] | None = None,
) -> list[probe_pb2.SubscribeResponse]:
    """Read responses until the stream has been quiet for a moment (or, given
    `done`, until it says the responses are enough)."""
    responses: list[probe_pb2.SubscribeResponse] = []
    iterator = iter(call)  # type: ignore[call-overload]

    def stop_when_quiet() -> None:
        seen = -1
        while time.monotonic() < until:
            time.sleep(0.2 if done else 1.0)
            if done is not None:
                if done(list(responses)):
                    break
                continue
            if len(responses) == seen:
                break
            seen = len(responses)
        call.cancel()  # type: ignore[attr-defined]

    watcher = threading.Thread(target=stop_when_quiet, daemon=True)
    watcher.start()
    try:
        for response in iterator:
            responses.append(response)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:
            raise
    watcher.join()
    return responses


def test_a_slow_subscriber_is_told_exactly_what_it_lost(small_queue_service: Service) -> None:
    channel, call = subscribe(small_queue_service, ["read", "write"])
    with channel:
        # Once the subscription is registered, do not read while the bursts run.
        small_queue_service.wait_subscribers(1)
        bursts()
        time.sleep(1.0)
        responses = drain(call, until=time.monotonic() + 30)
    seqs = [e.seq for r in responses for e in r.events]
    assert seqs, "no events at all"
    # The kernel buffer may overflow too in such a burst; that is reported
    # separately and takes no sequence numbers.
    losses = [
        x
        for r in responses
        for x in r.losses
        if x.reason == probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL
    ]
    assert losses, "a subscriber that did not read lost nothing?"
    # The sequence numbers skip exactly the reported ranges.
    lost = {seq for x in losses for seq in range(x.first_seq, x.first_seq + x.count)}
    assert not lost & set(seqs)
    assert sorted(lost | set(seqs)) == list(range(1, max(*seqs, *lost) + 1))
    small_queue_service.wait_for_log("dropped (queue full)")


def test_kernel_buffer_losses_reach_every_subscriber(small_buffer_service: Service) -> None:
    first_channel, first = subscribe(small_buffer_service, ["read", "write"])
    second_channel, second = subscribe(small_buffer_service, ["process_exec"])
    with first_channel, second_channel:
        small_buffer_service.wait_subscribers(2)
        subprocess.run(
            ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000", "status=none"],
            check=True,
        )
        # Both at once, each until its first loss report: on a busy machine
        # the read and write stream may never fall quiet.
        deadline = time.monotonic() + 30
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            reports = list(
                pool.map(
                    lambda call: drain(call, until=deadline, done=_reports_loss), (first, second)
                )
            )
    for responses in reports:
        losses = [x for r in responses for x in r.losses]
        assert losses, "kernel losses were not reported"
        assert all(x.reason == probe_pb2.LOSS_REASON_KERNEL_BUFFER_FULL for x in losses)
        assert sum(x.count for x in losses) > 0


def test_a_stalled_subscriber_gets_its_losses_when_the_service_stops(
    tmp_path: Path, kindling_events_bin: Path
) -> None:
    service = start_service(tmp_path, "--subscriber-queue-events", "64")
    out, err = tmp_path / "events.json", tmp_path / "notices.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        subscriber = subprocess.Popen(
            [str(kindling_events_bin), "--socket", str(service.socket), "-o", "json",
             "--name", "read", "--name", "write"],
            stdout=stdout,
            stderr=stderr,
        )  # fmt: skip
    try:
        service.wait_subscribers(1)
        subscriber.send_signal(signal.SIGSTOP)  # stalled: nothing more reaches it
        bursts(times=40)
        time.sleep(1.0)
        service.proc.send_signal(signal.SIGINT)
        subscriber.send_signal(signal.SIGCONT)
        assert subscriber.wait(timeout=30) == 1  # "the service stopped"
        assert service.proc.wait(timeout=15) == 0, service.log()
    finally:
        subscriber.kill()
        service.stop()
    seqs = [int(json.loads(line)["seq"]) for line in out.read_text().splitlines() if line]
    notices = err.read_text()
    ranges = re.findall(r"lost (\d+) events \(([a-z ]+)\) seq (\d+)-(\d+)", notices)
    lost = {seq for _, _, first, last in ranges for seq in range(int(first), int(last) + 1)}
    assert lost, notices
    # Delivered and reported account for every sequence number, once...
    assert not lost & set(seqs)
    assert sorted(lost | set(seqs)) == list(range(1, max(*seqs, *lost) + 1))
    # ...up to the last the service numbered: the drops pending when it
    # stopped came in its last response.
    left = re.search(r"left: (\d+) events delivered, (\d+) dropped", service.log())
    assert left is not None, service.log()
    assert (len(seqs), len(lost)) == (int(left[1]), int(left[2]))
