"""`kindling-probe health`: ask a running service's gRPC health service over
its socket, for container HEALTHCHECKs and Kubernetes exec probes (whose own
gRPC probes reach TCP ports only)."""

from __future__ import annotations

import sys
from pathlib import Path

from kindling.client import KindlingError, ProbeClient


def health(socket: Path, service: str, timeout: float, prog: str) -> int:
    """Print the status; 0 when SERVING, 1 otherwise."""
    if not socket.exists():
        print(f"{prog}: no service at {socket}: the socket does not exist", file=sys.stderr)
        return 1
    try:
        with ProbeClient(str(socket)) as client:
            status = client.health(service, timeout=timeout)
    except KindlingError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1
