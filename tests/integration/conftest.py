from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import ROOT, TOOLS, Service, start_service


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, kernel_available: None) -> Iterator[Service]:
    """One service for the session: BCC compiles the programs once."""
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    assert running.stop() == 0, running.log()
    assert not running.socket.exists(), "the socket was left behind"


@pytest.fixture(scope="session")
def kindling_events_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go command, built from this tree."""
    go = shutil.which("go") or str(TOOLS / "go")
    out = tmp_path_factory.mktemp("go") / "kindling-events"
    subprocess.run(
        [go, "build", "-o", str(out), "./cmd/kindling-events"],
        cwd=ROOT / "clients" / "go",
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def grpcurl_bin() -> Path:
    path = TOOLS / "grpcurl"
    assert path.exists(), "grpcurl is missing: run scripts/setup.sh"
    return path
