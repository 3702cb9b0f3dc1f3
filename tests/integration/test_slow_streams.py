"""Slow subscribers through the real socket and the real driver: each
overflow policy does what it says, a resumed stream gets what it missed
once, and every event a stream matched is delivered or reported lost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from support.service import Service, start_service

from kindling.client import ProbeClient
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

pytestmark = pytest.mark.kernel

WORKLOAD = Path(__file__).parents[1] / "support" / "write_workload.py"
QUEUE_FULL = probe_pb2.LOSS_REASON_SUBSCRIBER_QUEUE_FULL
TOO_LATE = probe_pb2.LOSS_REASON_RESUME_TOO_LATE


class Writer:
    """tests/support/write_workload.py, waiting for each phase."""

    def __init__(self, *counts: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKLOAD), *map(str, counts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.pid: int = json.loads(self.proc.stdout.readline())["pid"]

    def phase(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def request(pid: int, **options: object) -> probe_pb2.SubscribeRequest:
    # Return value 3: the workload's phases, not its JSON lines.
    only_the_writes = probe_pb2.EventFilter(
        names=["write"], pids=[pid], return_value=probe_pb2.ReturnValueFilter(values=[3])
    )
    return probe_pb2.SubscribeRequest(allow_list=[only_the_writes], **options)  # type: ignore[arg-type]


class Stream:
    """A Subscribe call read on a thread: its events' seqs and losses."""

    def __init__(self, service: Service, req: probe_pb2.SubscribeRequest) -> None:
        self.channel = grpc.insecure_channel(f"unix:{service.socket}")
        self.call = probe_pb2_grpc.ProbeServiceStub(self.channel).Subscribe(req)
        self.seqs: list[int] = []
        self.losses: list[probe_pb2.Loss] = []
        self.stream_id = ""
        self.error: grpc.RpcError | None = None
        self._reading = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def read(self) -> Stream:
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            for response in self.call:
                self.seqs += [e.seq for e in response.events]
                self.losses += response.losses
                self.stream_id = response.stream_id or self.stream_id
        except grpc.RpcError as error:
            self.error = error

    def wait(self, until: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert until(), (len(self.seqs), self.losses, self.error)

    def settle(self, quiet: float = 1.5) -> None:
        """Wait until nothing more arrives for a moment."""
        seen = -1
        while seen != len(self.seqs) + len(self.losses):
            seen = len(self.seqs) + len(self.losses)
            time.sleep(quiet)

    def lost(self, reason: int = QUEUE_FULL) -> set[int]:
        return {
            seq
            for x in self.losses
            if x.reason == reason
            for seq in range(x.first_seq, x.first_seq + x.count)
        }

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()
        self._thread.join(timeout=10)


@pytest.fixture
def small_queues(tmp_path: Path) -> Iterator[Service]:
    service = start_service(
        tmp_path, "--subscriber-queue-events", "256", "--max-batch-events", "64"
    )
    yield service
    assert service.stop() == 0, service.log()


def run_stalled(
    service: Service, overflow: int, writes: int, **options: object
) -> tuple[Stream, Writer]:
    w = Writer(writes)
    stream = Stream(service, request(w.pid, overflow=overflow, **options))  # type: ignore[arg-type]
    service.wait_subscribers(1)
    try:
        w.phase()
        time.sleep(1.0)  # the service has queued and dropped all of it
    finally:
        w.close()
    return stream, w


def test_drop_oldest_delivers_the_newest_and_reports_the_rest(small_queues: Service) -> None:
    stream, _ = run_stalled(small_queues, probe_pb2.OVERFLOW_POLICY_DROP_OLDEST, 20_000)
    stream.read().settle()
    stream.close()
    seqs, lost = set(stream.seqs), stream.lost()
    assert len(seqs) == len(stream.seqs), "an event came twice"
    assert lost and not lost & seqs
    assert seqs | lost == set(range(1, 20_001))
    # The newest were kept: the last event came, and the queue's worth before it.
    assert set(range(20_001 - 256, 20_001)) <= seqs


def test_drop_newest_keeps_the_oldest(small_queues: Service) -> None:
    stream, _ = run_stalled(small_queues, probe_pb2.OVERFLOW_POLICY_DROP_NEWEST, 20_000)
    stream.read().settle()
    stream.close()
    seqs, lost = set(stream.seqs), stream.lost()
    assert seqs | lost == set(range(1, 20_001)) and not lost & seqs
    # The oldest were kept: everything before the first loss came. (The
    # newest may come too: the stream reads again while the last drains.)
    assert lost and min(lost) > 256 and set(range(1, min(lost))) <= seqs


def test_disconnect_ends_the_stream_with_resource_exhausted(small_queues: Service) -> None:
    stream, _ = run_stalled(small_queues, probe_pb2.OVERFLOW_POLICY_DISCONNECT, 20_000)
    stream.read().wait(lambda: stream.error is not None)
    stream.close()
    assert stream.error is not None
    assert stream.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue was full" in (stream.error.details() or "")
    assert len(stream.seqs) < 20_000
    small_queues.wait_for_log("left:")


def test_a_disconnected_stream_resumed_gets_the_rest_once(small_queues: Service) -> None:
    window = duration_pb2.Duration(seconds=30)
    stream, _ = run_stalled(
        small_queues, probe_pb2.OVERFLOW_POLICY_DISCONNECT, 20_000, resume_window=window
    )
    stream.read().wait(lambda: stream.error is not None)
    stream.close()
    assert stream.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[union-attr]
    assert stream.stream_id
    last = max(stream.seqs, default=0)
    resume = probe_pb2.Resume(stream_id=stream.stream_id, last_seq=last)
    again = Stream(small_queues, probe_pb2.SubscribeRequest(resume=resume)).read()
    again.settle()
    again.close()
    assert again.error is None or again.error.code() == grpc.StatusCode.CANCELLED
    seqs = stream.seqs + again.seqs
    lost = stream.lost() | again.lost()
    assert len(set(seqs)) == len(seqs), "an event came twice"
    assert set(seqs) | lost == set(range(1, 20_001)) and not lost & set(seqs)
    # What fit in the queue when it was full came after the resume.
    assert again.seqs and min(again.seqs) > last


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path, "--resume-buffer-mb", "1")
    yield service
    assert service.stop() == 0, service.log()


def test_resume_after_a_forced_disconnect_delivers_the_gap_once(service: Service) -> None:
    w = Writer(2_000, 3_000)
    try:
        req = request(w.pid, resume_window=duration_pb2.Duration(seconds=30))
        first = Stream(service, req).read()
        service.wait_subscribers(1)
        w.phase()
        first.wait(lambda: len(first.seqs) >= 1_000)
        first.close()  # the connection goes: what was in flight is lost with it
        w.phase()  # while nobody is connected
        resume = probe_pb2.Resume(stream_id=first.stream_id, last_seq=max(first.seqs))
        again = probe_pb2.SubscribeRequest()
        again.CopyFrom(req)
        again.resume.CopyFrom(resume)  # the same request, resumed
        second = Stream(service, again).read()
        second.wait(lambda: max(second.seqs, default=0) >= 5_000)
        second.settle(0.5)
        second.close()
    finally:
        w.close()
    seqs = first.seqs + second.seqs
    assert seqs == list(range(1, 5_001))  # in order, none twice, none missing
    assert not first.losses and not second.losses


def test_resume_beyond_what_the_service_kept_reports_the_gap_exactly(service: Service) -> None:
    w = Writer(30_000)  # about 4 MB of events; the service keeps 1 MiB
    try:
        req = request(w.pid, resume_window=duration_pb2.Duration(seconds=30))
        first = Stream(service, req).read()
        service.wait_subscribers(1)
        w.phase()
        first.wait(lambda: len(first.seqs) >= 30_000)
        first.close()
        resume = probe_pb2.Resume(stream_id=first.stream_id, last_seq=100)
        second = Stream(service, probe_pb2.SubscribeRequest(resume=resume)).read()
        second.wait(lambda: max(second.seqs, default=0) >= 30_000)
        second.close()
    finally:
        w.close()
    (gap,) = second.losses
    assert gap.reason == TOO_LATE and gap.first_seq == 101
    # What was let go, then what was kept: every event after 100 exactly once.
    assert second.seqs == list(range(101 + gap.count, 30_001))
    assert gap.count > 10_000


def test_resume_errors(service: Service) -> None:
    with grpc.insecure_channel(f"unix:{service.socket}") as channel:
        stub = probe_pb2_grpc.ProbeServiceStub(channel)
        unknown = probe_pb2.SubscribeRequest(resume=probe_pb2.Resume(stream_id="nope"))
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(stub.Subscribe(unknown)))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert "resume.stream_id" in (caught.value.details() or "")
        too_long = probe_pb2.SubscribeRequest(resume_window=duration_pb2.Duration(seconds=301))
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(stub.Subscribe(too_long)))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "resume_window" in (caught.value.details() or "")


def test_the_python_client_resumes_a_stream(service: Service) -> None:
    w = Writer(1_000, 1_000)
    seqs: list[int] = []
    try:
        req = request(w.pid, resume_window=duration_pb2.Duration(seconds=30))
        with ProbeClient(str(service.socket)) as client:
            first = client.subscribe(req)
            next(first)  # the stream id, at once
            w.phase()
            for response in first:
                seqs += [e.seq for e in response.events]
                if len(seqs) >= 500:
                    break
            first.cancel()  # gone: what the service had sent meanwhile is lost with it
            w.phase()
            with client.resume(first) as second:
                for response in second:
                    assert not response.losses
                    seqs += [e.seq for e in response.events]
                    if second.last_seq == 2_000:
                        break
    finally:
        w.close()
    assert seqs == list(range(1, 2_001))
