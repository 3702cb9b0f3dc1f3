"""DNS messages (RFC 1035): the header and the first question.

Over UDP a payload is one message; over TCP each message follows a two-byte
length. A query and its response share the 16-bit id; the QR bit tells them
apart.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["RCODE_NAMES", "DnsMessage", "parse_message"]

#: Response codes by number (RFC 1035, 2136, 6895); others show as "RCODE<n>".
RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}

_HEADER = struct.Struct("!HHHHHH")
_QR = 0x8000
_OPCODE_SHIFT = 11
_MAX_NAME = 255
_MAX_LABEL = 63
# A real message asks one question, rarely a few; more is not DNS.
_MAX_QUESTIONS = 4
_MAX_RECORDS = 4096


@dataclass(frozen=True)
class DnsMessage:
    id: int
    response: bool  # the QR bit
    name: str  # the first question's name, lower-case, without the final dot
    rcode: int

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")


def _question_name(message: bytes, at: int) -> tuple[str, int] | None:
    labels: list[str] = []
    size = 0
    while True:
        if at >= len(message):
            return None
        length = message[at]
        at += 1
        if length == 0:
            break
        # A question's name is never compressed; a pointer here is not DNS.
        if length > _MAX_LABEL or at + length > len(message):
            return None
        label = message[at : at + length]
        at += length
        size += length + 1
        if size > _MAX_NAME or not all(32 < b < 127 for b in label):
            return None
        labels.append(label.decode("ascii").lower())
    return ".".join(labels) or ".", at


def parse_message(payload: bytes, tcp: bool = False) -> DnsMessage | None:
    """The message ``payload`` carries (after its length prefix over TCP), or None."""
    if tcp:
        if len(payload) < 2:
            return None
        (length,) = struct.unpack_from("!H", payload)
        payload = payload[2:]
        if length < _HEADER.size:
            return None
    if len(payload) < _HEADER.size + 5:
        return None
    ident, flags, questions, answers, authorities, additional = _HEADER.unpack_from(payload)
    if (flags >> _OPCODE_SHIFT) & 0xF not in (0, 1, 2, 4, 5, 6):
        return None
    if not 1 <= questions <= _MAX_QUESTIONS:
        return None
    if max(answers, authorities, additional) > _MAX_RECORDS:
        return None
    response = bool(flags & _QR)
    if not response and (answers or authorities):
        return None  # a query carries no answers
    question = _question_name(payload, _HEADER.size)
    if question is None:
        return None
    name, at = question
    if len(payload) < at + 4:
        return None
    qtype, qclass = struct.unpack_from("!HH", payload, at)
    if qtype == 0 or qclass not in (1, 3, 4, 254, 255):
        return None
    return DnsMessage(ident, response, name, flags & 0xF)
