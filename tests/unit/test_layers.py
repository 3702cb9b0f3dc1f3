"""The layers stay apart: only the API imports grpc, only the BCC driver bcc."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from kindling.server.pipeline.encode import mask, masked
from kindling.server.pipeline.fanout import filters


def test_drivers_and_pipeline_import_neither_grpc_nor_bcc() -> None:
    code = (
        "import sys\n"
        "import kindling.server.catalog, kindling.server.drivers.bcc.driver\n"
        "import kindling.server.pipeline.fanout.broker, kindling.server.capture\n"
        "import kindling.server.pipeline.builder, kindling.server.pipeline.plan\n"
        "import kindling.server.drivers.transports.ringbuf\n"
        "import kindling.server.drivers.transports.perfbuf\n"
        "print(sorted(m for m in ('grpc', 'bcc') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


def test_the_filters_never_see_the_api_messages() -> None:
    """api/requests.py translates a SubscribeRequest into plain values: the
    filters and the field masks compile and evaluate those, not the request."""
    masks = [Path(mask.__file__), Path(masked.__file__)]
    for path in [*Path(filters.__file__).parent.glob("*.py"), *masks]:
        tree = ast.parse(path.read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom | ast.Import)
            for alias in node.names
        }
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "probe_pb2" not in imported, path
        assert "kindling.probe.v1" not in modules, path
