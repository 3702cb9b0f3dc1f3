"""The process table's executable paths: the kernel's resolved view while a
process runs, whether the service saw its exec or found it in /proc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kindling.server.pipeline.enrich.procfs import ProcFS
from kindling.server.pipeline.enrich.tables import ProcessTable


def test_an_exec_through_a_symlink_reports_the_resolved_executable(tmp_path: Path) -> None:
    # This process runs sys.executable; pretend it exec'd a symlink to it.
    link = tmp_path / "python-link"
    link.symlink_to(sys.executable)
    table = ProcessTable(ProcFS())
    table.on_exec(os.getpid(), str(link))
    assert table.get(os.getpid()).exe == os.path.realpath(sys.executable)
    assert table.get(os.getpid()).exe == ProcFS().process(os.getpid()).exe  # type: ignore[union-attr]


def test_a_process_gone_keeps_the_path_its_exec_was_given(tmp_path: Path) -> None:
    table = ProcessTable(ProcFS(tmp_path))  # an empty /proc: every process gone
    table.on_exec(4242, "/usr/bin/true")
    assert table.get(4242).exe == "/usr/bin/true"
