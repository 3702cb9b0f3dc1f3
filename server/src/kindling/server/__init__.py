"""kindling-probe: a node-local gRPC service streaming eBPF-captured kernel events.

Layers, bottom up: drivers/ (capture from the kernel) -> pipeline/ (records to
kindling events, fan-out) -> api/ (gRPC). app.py wires them together.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kindling-probe")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
