"""Preflight checks tell a machine that forbids eBPF apart from a bad program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kindling.server.catalog import CATALOG
from kindling.server.drivers import host
from kindling.server.drivers.bcc import environment

pytestmark = pytest.mark.kernel

DROP_CAPS = ["setpriv", "--bounding-set", "-sys_admin,-bpf,-perfmon"]


def run_check(check: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from kindling.server.drivers import host\n"
        "from kindling.server.errors import StartupError\n"
        f"try:\n    host.{check}()\nexcept StartupError as e:\n    print(e)\n"
        "else:\n    print('ok')\n"
    )
    return subprocess.run(
        [*DROP_CAPS, sys.executable, "-c", code], capture_output=True, text=True, check=True
    )


def test_checks_pass_here() -> None:
    host.check_privileges()
    host.check_bpf_syscall()
    host.check_tracepoints(host.ensure_tracefs(), CATALOG)
    assert environment.check_kernel_headers().is_dir()


def test_the_kernel_features_the_driver_chooses_from() -> None:
    features = {f.name: f for f in host.kernel_features(host.ensure_tracefs())}
    # This kernel (6.x, BTF) has both; the driver picks them by default.
    assert features["ring_buffer"].available, features["ring_buffer"].detail
    assert features["task_storage"].available, features["task_storage"].detail
    assert features["perf_buffer"].available


def test_bpf_syscall_check_without_capabilities() -> None:
    out = run_check("check_bpf_syscall").stdout.strip()
    assert out.startswith("the kernel refused to create an eBPF map (Operation not permitted)")


def test_privilege_check_without_capabilities() -> None:
    out = run_check("check_privileges").stdout.strip()
    assert out.startswith("loading eBPF programs needs root")


def test_check_command_reports_features() -> None:
    probe = Path(sys.executable).with_name("kindling-probe")
    ok = subprocess.run([str(probe), "check"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("checks: passed\n")
    assert "  tracepoints   available" in ok.stdout
    denied = subprocess.run(
        [*DROP_CAPS, str(probe), "check"], capture_output=True, text=True, check=False
    )
    assert denied.returncode == 1
    assert denied.stdout.startswith("checks: failed: loading eBPF programs needs root")
    assert "ring_buffer   missing    needs root to probe" in denied.stdout
    assert "task_storage  missing    needs root to probe" in denied.stdout
