"""The catalogue as documented: `kindling-probe catalog` and the README's
table are made from the catalogue, and the committed README matches it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kindling.server.catalog import CATALOG
from kindling.server.catalog_doc import BEGIN, END, catalog_markdown, catalog_text, with_table

README = Path(__file__).parents[2] / "README.md"
PROBE = Path(sys.executable).with_name("kindling-probe")


def test_the_readme_table_is_the_catalogue() -> None:
    readme = README.read_text()
    assert readme == with_table(readme), "the README's event table is stale: run make generate"
    table = readme[readme.index(BEGIN) : readme.index(END)]
    for spec in CATALOG.specs:
        if not spec.generic:
            assert f"| `{spec.name}` |" in table


def test_every_event_is_listed_with_its_source_category_and_attributes() -> None:
    text = "\n".join(catalog_text(everything=True))
    for spec in CATALOG.specs:
        assert f"\n{spec.name} (" in f"\n{text}"
        for attr in spec.attributes:
            assert f"    {attr.key} ({attr.type.name.lower()}): {attr.description}" in text
    assert "tcp_retransmit (tracepoint, net, fd context)" in text
    assert "sendto (syscall exit, file, net or ipc (by the fd), fd context)" in text
    short = catalog_text()
    assert not any(line.startswith("getpid (") for line in short)
    assert "other syscalls of this kernel by name" in short[-1]
    assert "| any other syscall, by its name" in catalog_markdown()


def test_catalog_into_a_closed_pipe_ends_quietly() -> None:
    result = subprocess.run(
        f"{PROBE} catalog --all | head -1", shell=True, capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("process_exec (tracepoint, process)")
    assert "Traceback" not in result.stderr
