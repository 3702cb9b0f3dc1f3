"""The event catalogue as people read it: the text `kindling-probe catalog`
prints, and the table in the README (between its catalog markers), both
made from the catalogue itself so that they cannot drift from it.

    python -m kindling.server.catalog_doc README.md   # rewrite the README's table
"""

from __future__ import annotations

import sys
from pathlib import Path

from kindling.event.v1 import event_pb2
from kindling.server.catalog import CATALOG, Catalog, EventSpec

BEGIN = "<!-- catalog:begin (make generate writes this table) -->"
END = "<!-- catalog:end -->"


def source_name(spec: EventSpec) -> str:
    return event_pb2.Source.Name(spec.source).removeprefix("SOURCE_").lower().replace("_", " ")


def category_name(spec: EventSpec) -> str:
    if spec.category_from_fd:
        return "file, net or ipc (by the fd)"
    return event_pb2.Category.Name(spec.category).removeprefix("CATEGORY_").lower()


def _generic(catalog: Catalog) -> list[EventSpec]:
    return [s for s in catalog.specs if s.generic]


def catalog_text(catalog: Catalog = CATALOG, *, everything: bool = False) -> list[str]:
    """`kindling-probe catalog`: each event with its source, category and
    attributes; the generic syscalls only when `everything`."""
    lines = []
    for spec in catalog.specs:
        if spec.generic and not everything:
            continue
        context = ", fd context" if spec.fd_context else ""
        lines.append(f"{spec.name} ({source_name(spec)}, {category_name(spec)}{context})")
        lines.append(f"    {spec.description}")
        for attr in spec.attributes:
            lines.append(f"    {attr.key} ({attr.type.name.lower()}): {attr.description}")
    generic = _generic(catalog)
    if generic and not everything:
        examples = ", ".join(s.name for s in generic[:6])
        lines.append(
            f"and {len(generic)} other syscalls of this kernel by name ({examples}, ...), each "
            "with its raw arguments, return value and latency: `kindling-probe catalog --all` "
            "lists them"
        )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(spec: EventSpec) -> str:
    attributes = ", ".join(f"`{a.key}` {a.type.name.lower()}" for a in spec.attributes)
    what = _cell(spec.description) + (f" Attributes: {attributes}." if attributes else "")
    fd = "yes" if spec.fd_context else ""
    return f"| `{spec.name}` | {source_name(spec)} | {category_name(spec)} | {fd} | {what} |"


def catalog_markdown(catalog: Catalog = CATALOG) -> str:
    """The README's table: every event of the probe's own, then one row for
    any other syscall by name."""
    rows = [
        "| Event | Source | Category | Fd | What it is, and its attributes |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [_row(s) for s in catalog.specs if not s.generic]
    if _generic(catalog):
        rows.append(
            "| any other syscall, by its name (`getpid`, `uname`, `mmap`, ...) | syscall exit "
            "| by syscall (file, net, process, memory, ...; other) |  | Its return value, "
            "latency and raw arguments, as `uint64` attributes named after the kernel's "
            "parameters; `kindling-probe catalog --all` lists every one this kernel has. |"
        )
    return "\n".join(rows)


def with_table(readme: str, catalog: Catalog = CATALOG) -> str:
    """The README text with its catalogue table replaced by the current one."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + catalog_markdown(catalog) + "\n" + readme[end:]


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(with_table(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
