"""The service's caps on connections, reported by GetInfo and held."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from support.service import SAMPLE, start_service

from kindling.probe.v1 import probe_pb2, probe_pb2_grpc


def test_connections_beyond_the_cap_are_refused(tmp_path: Path) -> None:
    service = start_service(tmp_path, "--replay", str(SAMPLE), "--max-subscribers", "1")
    channels: list[grpc.Channel] = []
    try:
        codes: list[grpc.StatusCode] = []
        limit = 0
        for _ in range(80):
            # A channel of its own each: a connection each.
            channel = grpc.insecure_channel(
                f"unix:{service.socket}", options=[("grpc.use_local_subchannel_pool", 1)]
            )
            channels.append(channel)
            try:
                info = probe_pb2_grpc.ProbeServiceStub(channel).GetInfo(
                    probe_pb2.GetInfoRequest(), timeout=5
                )
                limit = info.limits.max_connections
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
        assert limit == 1 + 64  # a stream's and room for other calls'
        assert codes == [grpc.StatusCode.OK] * limit + [grpc.StatusCode.UNAVAILABLE] * (80 - limit)
        for channel in channels:
            channel.close()
        channels.clear()
        # Closed connections make room again (once the service has seen them go).
        deadline = time.monotonic() + 10
        while True:
            with grpc.insecure_channel(f"unix:{service.socket}") as channel:
                try:
                    probe_pb2_grpc.ProbeServiceStub(channel).GetInfo(
                        probe_pb2.GetInfoRequest(), timeout=5
                    )
                    break
                except grpc.RpcError:
                    assert time.monotonic() < deadline, "closed connections kept their room"
            time.sleep(0.1)
    finally:
        for channel in channels:
            channel.close()
        assert service.stop() == 0, service.log()
