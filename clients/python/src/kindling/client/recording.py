"""Recordings: a stream of kindling events saved to a file.

A recording is a sequence of length-delimited protobuf messages (each
preceded by its size as a varint, as protobuf's ``writeDelimitedTo`` and
``parseDelimitedFrom`` and Go's ``protodelim`` read and write them): one
:class:`~kindling.probe.v1.recording_pb2.RecordingHeader`, then the
``SubscribeResponse`` messages of the recorded stream as the service sent
them, events and losses. ``kindling-probe record`` writes them and
``kindling-probe serve --replay`` serves them again.

Example::

    from kindling.client.recording import read_recording

    with open("run.kindling", "rb") as file:
        header, responses = read_recording(file)
        for response in responses:
            for event in response.events:
                print(event.name)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, TypeVar

from google.protobuf.message import DecodeError, Message

from kindling.probe.v1 import probe_pb2, recording_pb2

FORMAT = "kindling.recording.v1"
# No message of a recording is larger: a response holds at most a few
# thousand events. Larger sizes mean a corrupt file, not a larger message.
MAX_MESSAGE_BYTES = 64 << 20

M = TypeVar("M", bound=Message)


class RecordingError(ValueError):
    """The file is not a recording, or is damaged; the message says where."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class RecordingWriter:
    """Writes a recording: the header first, then responses one by one."""

    def __init__(self, file: BinaryIO, header: recording_pb2.RecordingHeader) -> None:
        if header.format != FORMAT:
            header.format = FORMAT
        self._file = file
        self._write(header.SerializeToString())

    def write(self, response: probe_pb2.SubscribeResponse | bytes) -> None:
        """Append one response (a message, or its serialized bytes)."""
        raw = response if isinstance(response, bytes) else response.SerializeToString()
        self._write(raw)

    def _write(self, raw: bytes) -> None:
        self._file.write(_varint(len(raw)) + raw)

    def flush(self) -> None:
        self._file.flush()


def _read_size(file: BinaryIO, offset: int) -> int | None:
    """The next varint, or None at a clean end of the file."""
    value = shift = 0
    for count in range(10):
        byte = file.read(1)
        if not byte:
            if count == 0:
                return None
            raise RecordingError(f"the file ends inside a message size at byte {offset}")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    raise RecordingError(f"a message size at byte {offset} is not a varint")


def _read_message(file: BinaryIO, message: M, offset: int) -> tuple[M, int] | None:
    """The next message and where the one after it starts (None at the end)."""
    size = _read_size(file, offset)
    if size is None:
        return None
    if size > MAX_MESSAGE_BYTES:
        raise RecordingError(f"a message at byte {offset} claims {size} bytes: the file is damaged")
    start = offset + len(_varint(size))
    raw = file.read(size)
    if len(raw) < size:
        raise RecordingError(f"the file ends inside the message at byte {offset}")
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise RecordingError(f"the message at byte {offset} does not parse") from None
    return message, start + size


def read_recording(
    file: BinaryIO,
) -> tuple[recording_pb2.RecordingHeader, Iterator[probe_pb2.SubscribeResponse]]:
    """The header of the recording in ``file``, and its responses, read
    lazily. Raises :class:`RecordingError` when it is not a recording (at
    once) or is damaged (while iterating)."""
    found = _read_message(file, recording_pb2.RecordingHeader(), 0)
    if found is None:
        raise RecordingError("the file is empty: it is not a recording")
    header, offset = found
    if header.format != FORMAT:
        raise RecordingError(
            f"the file is not a recording (its first message names no {FORMAT!r} format)"
        )

    def responses() -> Iterator[probe_pb2.SubscribeResponse]:
        at = offset
        while True:
            found = _read_message(file, probe_pb2.SubscribeResponse(), at)
            if found is None:
                return
            response, at = found
            yield response

    return header, responses()
