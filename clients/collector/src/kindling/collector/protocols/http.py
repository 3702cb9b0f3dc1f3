"""HTTP/1.x request and status lines.

Only the start of a message is parsed: a request line ``METHOD SP target SP
HTTP/1.x`` or a status line ``HTTP/1.x SP code``. Headers and bodies are
not needed for RED metrics, and a payload is often cut by the probe's
snaplen anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "KNOWN_METHODS",
    "HttpRequest",
    "HttpResponse",
    "looks_like_response",
    "parse_request",
    "parse_response",
]

#: Methods reported as themselves; any other token becomes "_OTHER", as
#: OpenTelemetry's semantic conventions ask, so that junk cannot grow the label set.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)

# A method is an upper-case token; the target has no spaces or control bytes.
_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{0,19}) ([\x21-\x7e]+) HTTP/1\.([01])\r?\n")
# A request line cut by the snaplen before its end: the target so far, and
# perhaps the start of the version.
_CUT_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{0,19}) ([\x21-\x7e]+)(?: [\x21-\x7e]{0,8})?\Z")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5][0-9][0-9])(?:[ \r\n]|\Z)")


@dataclass(frozen=True)
class HttpRequest:
    method: str  # as sent
    target: str  # the request target, undecoded

    @property
    def reported_method(self) -> str:
        """The method as a metric attribute: a known method or "_OTHER"."""
        return self.method if self.method in KNOWN_METHODS else "_OTHER"


@dataclass(frozen=True)
class HttpResponse:
    status: int

    @property
    def interim(self) -> bool:
        """A 1xx response other than 101: the final response is still to come."""
        return 100 <= self.status < 200 and self.status != 101


def parse_request(payload: bytes, cut: bool = False) -> HttpRequest | None:
    """The request whose line starts ``payload``, or None.

    ``cut`` says the payload is shorter than what the call moved: then a
    request line without its end (a long target) is accepted too.
    """
    match = _REQUEST_LINE.match(payload)
    if match is None and cut and b"\n" not in payload:
        match = _CUT_REQUEST_LINE.match(payload)
    if match is None:
        return None
    return HttpRequest(match.group(1).decode("ascii"), match.group(2).decode("ascii"))


def parse_response(payload: bytes) -> HttpResponse | None:
    """The response whose status line starts ``payload``, or None."""
    match = _STATUS_LINE.match(payload)
    if match is None:
        return None
    return HttpResponse(int(match.group(2)))


def looks_like_response(payload: bytes) -> bool:
    """Whether ``payload`` starts like a status line (to tell a malformed one)."""
    return payload.startswith(b"HTTP/")
