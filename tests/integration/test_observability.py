"""The service's own observability: its Prometheus metrics agree with what
a subscriber received, and its log can be JSON lines."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from support.expectations import PausedProcess
from support.service import start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

pytestmark = pytest.mark.kernel

WRITER = Path(__file__).parents[1] / "support" / "write_workload.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as exposed
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.M)
    assert found, f"{name} {labels} not in the metrics"
    return float(found[1])


def test_the_metrics_agree_with_what_a_subscriber_received(tmp_path: Path) -> None:
    port = free_port()
    service = start_service(tmp_path, "--metrics-address", str(port), "--log-format", "json")
    writer = PausedProcess(WRITER, "3000")
    try:
        only_the_writes = probe_pb2.EventFilter(
            names=["write"],
            pids=[writer.started["pid"]],
            return_value=probe_pb2.ReturnValueFilter(values=[3]),
        )
        with grpc.insecure_channel(f"unix:{service.socket}") as channel:
            stub = probe_pb2_grpc.ProbeServiceStub(channel)
            call = stub.Subscribe(probe_pb2.SubscribeRequest(allow_list=[only_the_writes]))
            service.wait_subscribers(1)
            writer.go()
            received = 0
            for response in call:
                received += len(response.events)
                if received >= 3000:
                    break
            info = stub.GetInfo(probe_pb2.GetInfoRequest())
            with pytest.raises(grpc.RpcError):
                stub.Configure(probe_pb2.ConfigureRequest(enable_events=["bogus"]))
            time.sleep(0.2)
            url = f"http://127.0.0.1:{port}/metrics"
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            call.cancel()
    finally:
        writer.kill()
        assert service.stop() == 0, service.log()
    assert received == 3000
    assert metric(text, "kindling_stream_delivered_total", stream="#1") == 3000
    assert metric(text, "kindling_stream_lost_total", stream="#1", reason="queue_full") == 0
    assert metric(text, "kindling_subscribers") == 1
    assert metric(text, "kindling_records_total") >= 3000
    assert metric(text, "kindling_kernel_emitted_total", event="write") >= 3000
    assert metric(text, "kindling_batch_records_count") > 0
    assert metric(text, "kindling_drain_seconds_count") > 0
    cpus = os.cpu_count() or 1
    assert len(info.driver.lost_by_cpu) == cpus  # GetInfo has the same counters
    for cpu in range(cpus):
        assert (
            metric(text, "kindling_kernel_lost_by_cpu_total", cpu=str(cpu))
            == (info.driver.lost_by_cpu[cpu])
        )
    assert metric(text, "kindling_rpcs_total", method="GetInfo", code="OK") == 1
    assert metric(text, "kindling_rpcs_total", method="Configure", code="INVALID_ARGUMENT") == 1
    # The log is JSON lines, and the metrics listener says where it is.
    lines = [json.loads(line) for line in service.log().splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(f"127.0.0.1:{port}/metrics" in line["message"] for line in lines)
