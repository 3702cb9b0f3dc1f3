"""`kindling-probe record`: save a running service's stream to a file.

It is a client like any other: it asks GetInfo for the header (node, boot
time, versions, catalogue), subscribes with the filters given, and writes
every response as it arrives (kindling.client.recording), flushed, so that
the file is a valid recording whenever the command stops. `kindling-probe
serve --replay FILE` serves it again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO

import kindling.client._grpc_logging  # noqa: F401  (must run before grpc is imported)
from kindling.client import (
    PAYLOAD_MODES,
    InvalidRequest,
    ProbeClient,
    RequestFailed,
    ServiceNotFound,
)
from kindling.client.cli import Stopper, stop_on_signals
from kindling.client.recording import FORMAT, RecordingWriter
from kindling.probe.v1 import probe_pb2, recording_pb2

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _request(args: argparse.Namespace) -> probe_pb2.SubscribeRequest:
    request = probe_pb2.SubscribeRequest(payload=PAYLOAD_MODES[args.payload])
    if args.names or args.pids:
        request.allow_list.add(names=args.names or [], pids=args.pids or [])
    # Not this command's own writes of the recording: each would be recorded.
    request.deny_list.add(pids=[os.getpid()])
    return request


def _header(
    info: probe_pb2.GetInfoResponse, request: probe_pb2.SubscribeRequest
) -> recording_pb2.RecordingHeader:
    header = recording_pb2.RecordingHeader(
        format=FORMAT,
        contract_versions=info.contract_versions,
        node_name=info.node_name,
        boot_time=info.boot_time,
        request=request,
        service_version=info.service_version,
        kernel_release=info.driver.kernel_release,
        events=info.events,
    )
    header.recorded_at.GetCurrentTime()
    return header


def _open(output: str) -> BinaryIO:
    if output == "-":
        return sys.stdout.buffer
    return Path(output).open("wb")


def record(args: argparse.Namespace, prog: str) -> int:
    """Run `record` with parsed arguments; returns the exit status."""

    def say(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    stop = Stopper()
    written = lost = 0
    try:
        with ProbeClient(args.socket) as client, stop_on_signals(stop):
            info = client.get_info(timeout=10)
            request = _request(args)
            try:
                file = _open(args.output)
            except OSError as error:
                say(f"cannot write {args.output}: {error.strerror}")
                return EXIT_ERROR
            timer = threading.Timer(args.timeout, stop.stop, args=("timeout",))
            timer.daemon = True
            if args.timeout > 0:
                timer.start()
            try:
                with file if args.output != "-" else contextlib.nullcontext(file):
                    writer = RecordingWriter(file, _header(info, request))
                    with client.subscribe(request) as subscription:
                        stop.attach(subscription)
                        try:
                            for response in subscription:
                                if args.count:
                                    del response.events[args.count - written :]
                                writer.write(response)
                                writer.flush()
                                written += len(response.events)
                                lost += sum(loss.count for loss in response.losses)
                                if args.count and written >= args.count:
                                    stop.stop("count")
                                    break
                        except RequestFailed:
                            if stop.reason is None:
                                raise
            finally:
                timer.cancel()
    except InvalidRequest as error:
        say(f"the service rejected the request: {error.details}")
        return EXIT_USAGE
    except ServiceNotFound as error:
        say(f"{error} or pass --socket" if error.missing else str(error))
        return EXIT_ERROR
    except RequestFailed as error:
        say(f"recording from the kindling probe service at {error.socket} failed: {error.details}")
        return EXIT_ERROR
    where = "stdout" if args.output == "-" else args.output
    say(f"recorded {written} events to {where}" + (f" ({lost} lost)" if lost else ""))
    if stop.reason is None:
        say("the service ended the stream (it stopped)")
        return EXIT_ERROR
    if stop.reason == "timeout" and args.count and written < args.count:
        say(f"timed out with {written} of {args.count} events")
        return EXIT_ERROR
    return EXIT_OK
