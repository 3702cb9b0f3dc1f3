from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import TOOLS, TRANSPORTS, Service, start_service


@pytest.fixture(scope="session", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, kernel_available: None, transport: str
) -> Iterator[Service]:
    """One service per transport for the session: BCC compiles the programs once."""
    running = start_service(tmp_path_factory.mktemp("service"), transport=transport)
    yield running
    assert running.stop() == 0, running.log()
    assert not running.socket.exists(), "the socket was left behind"


@pytest.fixture(scope="session")
def grpcurl_bin() -> Path:
    path = TOOLS / "grpcurl"
    assert path.exists(), "grpcurl is missing: run scripts/setup.sh"
    return path
