"""The layers stay apart: only the API imports grpc, only the BCC driver bcc."""

from __future__ import annotations

import subprocess
import sys


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
