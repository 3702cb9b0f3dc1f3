"""Starting and stopping the service: health, the socket, clear failures."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support.service import PROBE, Service, health_status, start_service
from support.streams import EventLog, pump, read_json_lines

pytestmark = pytest.mark.kernel

SERVICE_NAME = "kindling.probe.v1.ProbeService"


def serve_fails(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(PROBE), "serve", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    return result


def test_health_is_serving_only_once_the_driver_is_attached(
    tmp_path: Path, kindling_events_bin: Path
) -> None:
    service = start_service(tmp_path, wait=False)
    try:
        statuses: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not statuses or statuses[-1] != "SERVING"):
            assert service.proc.poll() is None, service.log()
            if service.socket.exists():
                status = health_status(service.socket, SERVICE_NAME)
                if status and (not statuses or statuses[-1] != status):
                    statuses.append(status)
            time.sleep(0.01)
        # The socket answers while BCC compiles, and says so.
        assert statuses == ["NOT_SERVING", "SERVING"], service.log()
        assert health_status(service.socket, "") == "SERVING"
        # SERVING means attached: what happens right now is captured.
        log = EventLog()
        proc = subprocess.Popen(
            [str(kindling_events_bin), "--socket", str(service.socket), "-o", "json",
             "--name", "process_exec", "--count", "1", "--timeout", "20"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        pump(proc, read_json_lines, log)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            subprocess.run(["/bin/true"], check=True)
            time.sleep(0.1)
        assert proc.wait(timeout=5) == 0
        assert log.events[0].name == "process_exec"
    finally:
        assert service.stop() == 0, service.log()
    assert not service.socket.exists()


def test_socket_is_private_to_root_group(service: Service) -> None:
    mode = service.socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660


def test_a_taken_socket_is_refused(service: Service) -> None:
    result = serve_fails("--socket", str(service.socket))
    assert result.stderr.strip() == (
        f"kindling-probe: another service is already listening on {service.socket}; "
        "stop it or choose another path with --socket"
    )
    # The running service is unharmed.
    assert health_status(service.socket) == "SERVING"


def test_a_path_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("keep me")
    result = serve_fails("--socket", str(path))
    assert "exists and is not a socket" in result.stderr
    assert path.read_text() == "keep me"


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    result = serve_fails("--socket", str(tmp_path / "nope" / "k.sock"))
    assert "does not exist" in result.stderr


def test_without_privileges_the_service_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_admin,-bpf,-perfmon", str(PROBE), "serve",
         "--socket", str(tmp_path / "k.sock")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "kindling-probe: loading eBPF programs needs root (or the CAP_BPF and CAP_PERFMON "
        "capabilities); run kindling-probe with sudo"
    )
    assert not (tmp_path / "k.sock").exists()


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "kindling.sock"))
    stale.close()  # bound, never listened: what a crashed service leaves
    service = start_service(tmp_path)
    try:
        assert health_status(service.socket) == "SERVING"
    finally:
        assert service.stop() == 0
    assert "removing stale socket" in service.log()


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    service = start_service(tmp_path)
    service.proc.terminate()
    assert service.proc.wait(timeout=15) == 0, service.log()
    assert not service.socket.exists()


def test_an_unwritable_directory_is_refused(tmp_path: Path) -> None:
    result = serve_fails("--socket", "/proc/kindling.sock")
    assert result.stderr.strip().startswith("kindling-probe: cannot create the socket in /proc (")


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ("x" * (120 - len(str(tmp_path))))
    result = serve_fails("--socket", str(path))
    assert "unix sockets allow at most 107" in result.stderr


@pytest.mark.parametrize("trial", range(2))
def test_two_services_started_at_once_on_one_path_never_both_serve(
    tmp_path: Path, trial: int
) -> None:
    path = tmp_path / "k.sock"
    procs = [
        subprocess.Popen(
            [str(PROBE), "serve", "--socket", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while health_status(path) != "SERVING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert health_status(path) == "SERVING"
        # One lost: it said why and exited, before it attached anything.
        codes = [p.poll() for p in procs]
        assert sorted(codes, key=str) == [1, None], codes
        loser = procs[codes.index(1)]
        assert loser.stderr is not None
        assert "another service is already listening" in loser.stderr.read()
        winner = procs[codes.index(None)]
        winner.terminate()
        assert winner.wait(timeout=15) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert not path.exists() and not (tmp_path / "k.sock.lock").exists()


GROUP = 4242  # a group no user here is in
CLIENT = (
    "import grpc, sys; from kindling.probe.v1 import probe_pb2, probe_pb2_grpc\n"
    "stub = probe_pb2_grpc.ProbeServiceStub(grpc.insecure_channel('unix:' + sys.argv[1]))\n"
    "try:\n"
    "    print(len(stub.GetInfo(probe_pb2.GetInfoRequest(), timeout=5).events))\n"
    "except grpc.RpcError as e:\n"
    "    print(e.code().name)\n"
)


def as_user(socket: Path, *groups: int) -> str:
    """GetInfo from a process of user nobody in these groups."""
    given = ",".join(map(str, groups)) if groups else "-1"
    result = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534",
         *(["--groups", given] if groups else ["--clear-groups"]),
         sys.executable, "-c", CLIENT, str(socket)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_members_of_the_socket_group_may_connect_others_may_not() -> None:
    # Directories every user may enter (pytest's are root's alone): only
    # the socket's mode and group keep them out.
    where = Path(tempfile.mkdtemp(prefix="kindling-group-", dir="/tmp"))
    where.chmod(0o755)
    service = start_service(where, "--socket-group", str(GROUP))
    try:
        info = service.socket.stat()
        assert (info.st_gid, stat.S_IMODE(info.st_mode)) == (GROUP, 0o660)
        assert int(as_user(service.socket, GROUP)) > 100  # the catalogue
        assert as_user(service.socket) == "UNAVAILABLE"  # connect: permission denied
    finally:
        assert service.stop() == 0, service.log()
        shutil.rmtree(where)


def test_an_unknown_socket_group_is_refused(tmp_path: Path) -> None:
    result = serve_fails("--socket", str(tmp_path / "k.sock"), "--socket-group", "no-such-group")
    assert "--socket-group: there is no group named 'no-such-group'" in result.stderr
