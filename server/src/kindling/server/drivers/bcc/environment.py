"""What the BCC driver needs beyond the host checks: kernel headers to compile
against, and BCC's Python bindings."""

from __future__ import annotations

import os
from pathlib import Path

from kindling.server.errors import StartupError

SETUP_HINT = "run `make setup` in the kindling-probe source tree (or scripts/setup.sh)"


def check_kernel_headers() -> Path:
    build = Path("/lib/modules") / os.uname().release / "build"
    if not (build / "include").is_dir():
        raise StartupError(
            f"BCC needs kernel headers at {build} and there are none; {SETUP_HINT}, which "
            "installs them or links the closest available ones"
        )
    return build


def import_bcc() -> object:
    try:
        import bcc  # noqa: PLC0415  (bcc is optional: only this driver needs it)
    except ImportError:
        raise StartupError(
            "the BCC Python bindings (Debian package python3-bpfcc) are not importable; "
            f"{SETUP_HINT}"
        ) from None
    return bcc
