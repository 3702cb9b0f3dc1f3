"""The Python library against the real service, serving the shipped recording:
the request builders' filters and options take effect, and the asyncio
client makes every call the sync one makes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import SAMPLE, Service, start_service

from kindling.client import (
    InvalidRequest,
    ProbeClient,
    event_filter,
    include_fields,
    subscribe_request,
)
from kindling.client.aio import AsyncProbeClient
from kindling.event.v1 import event_pb2


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path, "--replay", str(SAMPLE), "--speed", "max")
    yield service
    assert service.stop() == 0, service.log()


def test_built_filters_and_masks_take_effect(replay: Service) -> None:
    request = subscribe_request(
        allow=[event_filter(names=["sendto", "recvfrom"], protocols=["udp"])],
        deny=[event_filter(names=["recvfrom"])],
        payload="sockets",
        fields=[include_fields(["payload", "fd.protocol"])],
    )
    with ProbeClient(replay.socket) as client, client.subscribe(request, timeout=20) as stream:
        first = next(item for item in stream.events() if isinstance(item, event_pb2.Event))
    assert first.name == "sendto" and first.payload
    assert first.fd.protocol == event_pb2.L4_PROTOCOL_UDP
    assert not first.thread.pid  # masked out


async def test_the_asyncio_client_makes_every_call(replay: Service) -> None:
    async with AsyncProbeClient(replay.socket) as client:
        info = await client.get_info(timeout=5)
        assert info.driver.name == "replay"
        assert await client.health(timeout=5) == "SERVING"
        config = await client.get_config(timeout=5)
        dry = await client.configure(disable=["read"], dry_run=True, timeout=5)
        # A dry run shows the generation it would leave, and changes nothing.
        assert not dry.applied and "read" not in dry.enabled_events
        assert "read" in (await client.get_config(timeout=5)).enabled_events
        assert dry.generation >= config.generation
        with pytest.raises(InvalidRequest, match=r"allow_list\[0\]\.names\[0\]"):
            await anext(client.subscribe(names=["no_such_event"]))
        async with client.subscribe(names=["connect"], timeout=20) as stream:
            response = await anext(stream)
        assert {e.name for e in response.events} == {"connect"}


def readme_examples() -> list[str]:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text[text.index("### Python\n") : text.index("### Go\n")]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


@pytest.mark.parametrize("example", [0, 1], ids=["sync", "asyncio"])
def test_the_readme_examples_follow_the_stream(replay: Service, example: int) -> None:
    code = readme_examples()[example]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10  # ten lines
    environment = {**os.environ, "KINDLING_SOCKET": str(replay.socket)}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, env=environment, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        time.sleep(0.5)
        assert proc.poll() is None, "the example stopped instead of following the stream"
    finally:
        proc.kill()
        proc.wait()
    # The connect of the recording's TCP client: its program, or the event itself.
    assert first.split()[0] == ("python" if example == 0 else "seq:"), first
