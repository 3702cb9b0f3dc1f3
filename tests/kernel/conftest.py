"""Kernel tests run once per transport: both must pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.capture import Capture, capture_everything
from support.service import TRANSPORTS

from kindling.server.catalog import CATALOG
from kindling.server.drivers.bcc.driver import BccDriver


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def driver_capture(transport: str) -> Iterator[tuple[BccDriver, Capture]]:
    """A driver capturing everything, its records turned into events."""
    capture = Capture()
    driver = BccDriver(CATALOG, transport=transport)
    driver.start(capture.sink)
    driver.apply(capture_everything())
    try:
        yield driver, capture
    finally:
        driver.stop()
