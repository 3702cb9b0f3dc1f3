"""Per-call authorization from the caller's credentials, through the real
socket: clients run as user nobody (setpriv) in chosen groups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import SAMPLE, Service, start_service

READERS = 4242  # groups no user here is in
ADMINS = 4343
NOBODY = 65534

# Every kind of call once; prints {method: status code name} and its pid.
CLIENT = r"""
import json, os, sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kindling.probe.v1 import probe_pb2, probe_pb2_grpc

channel = grpc.insecure_channel("unix:" + sys.argv[1])
probe = probe_pb2_grpc.ProbeServiceStub(channel)
calls = {
    "GetInfo": lambda: probe.GetInfo(probe_pb2.GetInfoRequest(), timeout=10),
    "GetConfig": lambda: probe.GetConfig(probe_pb2.GetConfigRequest(), timeout=10),
    "Subscribe": lambda: next(probe.Subscribe(probe_pb2.SubscribeRequest(), timeout=10)),
    "Check": lambda: health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=10),
    "Reflection": lambda: next(reflection_pb2_grpc.ServerReflectionStub(channel)
        .ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                              timeout=10)),
    "Configure": lambda: probe.Configure(
        probe_pb2.ConfigureRequest(snaplen=int(sys.argv[2])), timeout=10),
}
codes, details = {}, {}
for name, call in calls.items():
    try:
        call()
        codes[name] = "OK"
    except grpc.RpcError as error:
        codes[name] = error.code().name
        details[name] = error.details()
print(json.dumps({"pid": os.getpid(), "codes": codes, "details": details}))
"""
READS = {"GetInfo", "GetConfig", "Subscribe", "Check", "Reflection"}


def call_all(socket: Path, snaplen: int, *groups: int, user: int | None = NOBODY) -> dict:
    """Every call from a process of `user` (None: root) in these groups."""
    command = [sys.executable, "-c", CLIENT, str(socket), str(snaplen)]
    if user is not None:
        command = ["setpriv", "--reuid", str(user), "--regid", str(user),
                   "--groups", ",".join(map(str, groups)), *command]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # A directory every user may enter (pytest's are root's alone).
    where = Path(tempfile.mkdtemp(prefix="kindling-authz-", dir="/tmp"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where)


@pytest.fixture
def service(shared_dir: Path) -> Iterator[Service]:
    running = start_service(
        shared_dir, "--replay", str(SAMPLE), "--speed", "max",
        "--socket-group", str(READERS), "--admin-group", str(ADMINS),
    )  # fmt: skip
    yield running
    assert running.stop() == 0, running.log()


def test_members_of_the_socket_group_read_but_may_not_configure(service: Service) -> None:
    seen = call_all(service.socket, 512, READERS)
    assert seen["codes"] == {**dict.fromkeys(READS, "OK"), "Configure": "PERMISSION_DENIED"}
    assert seen["details"]["Configure"] == (
        "Configure changes what the kernel captures for every collector: it is for root or "
        f"members of the group '{ADMINS}' (--admin-group); uid {NOBODY} is neither"
    )
    service.wait_for_log(f"refused /kindling.probe.v1.ProbeService/Configure from uid {NOBODY}")
    assert f"pid {seen['pid']} " in service.log()
    assert "configured by" not in service.log()


def test_members_of_the_admin_group_configure_and_are_logged(service: Service) -> None:
    seen = call_all(service.socket, 256, READERS, ADMINS)
    assert seen["codes"] == dict.fromkeys([*READS, "Configure"], "OK")
    service.wait_for_log(f"configured by uid {NOBODY} (nobody) pid {seen['pid']} (python")
    root = call_all(service.socket, 128, user=None)
    assert root["codes"]["Configure"] == "OK"
    service.wait_for_log(f"configured by uid 0 (root) pid {root['pid']} (python")
    assert "callers cannot be told apart" not in service.log()


def test_subscribers_are_named_by_their_caller(service: Service) -> None:
    seen = call_all(service.socket, 512, READERS)
    service.wait_for_log(f"subscriber #1 (pid {seen['pid']} python, uid {NOBODY}) joined")


def test_without_the_peer_name_library_nobody_may_configure(shared_dir: Path) -> None:
    # The service does not preload the library twice: this start runs without it.
    os.environ["KINDLING_PEERNAME_PRELOADED"] = "1"
    try:
        service = start_service(shared_dir, "--replay", str(SAMPLE), "--speed", "max")
    finally:
        del os.environ["KINDLING_PEERNAME_PRELOADED"]
    try:
        root = call_all(service.socket, 512, user=None)
        assert root["codes"] == {**dict.fromkeys(READS, "OK"), "Configure": "PERMISSION_DENIED"}
        assert root["details"]["Configure"].startswith(
            "the service cannot tell who is calling (libkindling_peername.so is not preloaded"
        )
        assert "callers cannot be told apart" in service.log()
    finally:
        assert service.stop() == 0, service.log()


LIBRARY_CLIENT = r"""
import sys
from kindling.client import PermissionDenied, ProbeClient
with ProbeClient(sys.argv[1]) as client:
    client.get_info()
    try:
        client.configure(snaplen=256)
    except PermissionDenied as error:
        print(error)
"""


def test_the_python_client_raises_permission_denied(service: Service) -> None:
    result = subprocess.run(
        ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--groups", str(READERS),
         sys.executable, "-c", LIBRARY_CLIENT, str(service.socket)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"the kindling probe service at {service.socket} refused the call: Configure changes"
    )
