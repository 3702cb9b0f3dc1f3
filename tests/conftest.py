"""Shared test configuration.

Tests that need the real kernel (root, BCC, tracepoints) are marked `kernel`
and skip with the reason when the machine cannot run them, unless
KINDLING_REQUIRE_KERNEL=1 (set by .ci/run): then a skip is a failure, because
on a CI machine that must run them a skip would hide a broken kernel path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_KERNEL = os.environ.get("KINDLING_REQUIRE_KERNEL") == "1"
ROOT = Path(__file__).resolve().parents[1]


def kernel_unavailable_reason() -> str | None:
    """Why the eBPF driver cannot run here, or None when it can."""
    from kindling.server.catalog import CATALOG
    from kindling.server.drivers import host
    from kindling.server.drivers.bcc import environment
    from kindling.server.errors import StartupError

    try:
        host.check_privileges()
        root = host.ensure_tracefs()
        host.check_tracepoints(root, CATALOG)
        environment.check_kernel_headers()
        environment.import_bcc()
    except StartupError as error:
        return str(error)
    return None


@pytest.fixture(scope="session")
def kernel_available() -> None:
    reason = kernel_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_KERNEL:
        pytest.fail(f"KINDLING_REQUIRE_KERNEL=1 but the kernel path cannot run: {reason}")
    pytest.skip(f"needs the kernel path: {reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("kernel"):
            item.fixturenames.insert(0, "kernel_available")


def build_go_command(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """One of clients/go/cmd's commands, built from this tree."""
    go = shutil.which("go") or str(ROOT / ".tools" / "bin" / "go")
    out = tmp_path_factory.mktemp("go") / name
    subprocess.run(
        [go, "build", "-o", str(out), f"./cmd/{name}"], cwd=ROOT / "clients" / "go", check=True
    )
    return out


@pytest.fixture(scope="session")
def kindling_events_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go command, built from this tree."""
    return build_go_command(tmp_path_factory, "kindling-events")


@pytest.fixture(scope="session")
def kindling_collector_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go collector, built from this tree."""
    return build_go_command(tmp_path_factory, "kindling-collector")
