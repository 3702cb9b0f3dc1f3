"""cgroups of the tests' own, under the cgroup2 mount."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kindling.server.pipeline.enrich.procfs import cgroup2_mount


@contextmanager
def temporary_cgroup(prefix: str, name: str | None = None) -> Iterator[Path]:
    """A new cgroup (named `name`, or `prefix` and a random suffix), removed
    afterwards; skips the test without a cgroup2 hierarchy."""
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy is mounted")
    path = mount / (name or f"{prefix}-{uuid.uuid4().hex[:12]}")
    path.mkdir()
    try:
        yield path
    finally:
        # Its processes have exited; the kernel frees the cgroup after them.
        for _ in range(50):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.05)
