"""Settings of `kindling-probe serve` from the command line, KINDLING_*
variables and a YAML file, in that order, checked like the options."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kindling.server import settings
from kindling.server.cli import _command, build_parser
from kindling.server.errors import StartupError


def resolved(argv: list[str], environ: dict[str, str], config: str | None = None,
             tmp: Path | None = None) -> dict[str, object]:  # fmt: skip
    parser = build_parser()
    serve = _command(parser, "serve")
    path = None
    if config is not None:
        assert tmp is not None
        path = tmp / "kindling.yaml"
        path.write_text(config)
    settings.apply(serve, path, environ)
    args = parser.parse_args(["serve", *argv])
    return dict(yaml.safe_load(settings.as_yaml(args, serve)))


def test_the_command_line_wins_over_the_environment_over_the_file(tmp_path: Path) -> None:
    config = "max-subscribers: 10\nmax-batch-events: 100\nsnaplen: 64\nlog-format: json\n"
    environ = {"KINDLING_MAX_BATCH_EVENTS": "200", "KINDLING_SNAPLEN": "128"}
    got = resolved(["--snaplen", "256"], environ, config, tmp_path)
    assert (got["max-subscribers"], got["max-batch-events"], got["snaplen"]) == (10, 200, 256)
    assert got["log-format"] == "json"
    assert got["queue-memory-mb"] == 256  # the default


def test_every_option_is_a_setting_with_a_variable() -> None:
    serve = _command(build_parser(), "serve")
    names = settings.settings_of(serve)
    assert "config" not in names and "print-config" not in names
    assert settings.env_name("socket-group") == "KINDLING_SOCKET_GROUP"
    for option in ("socket", "socket-group", "admin-group", "log-format", "metrics-address",
                   "otlp-endpoint", "max-subscribers", "transport"):  # fmt: skip
        assert option in names


def test_a_file_may_give_the_switches_and_paths_as_yaml_values(tmp_path: Path) -> None:
    got = resolved([], {}, "socket: /tmp/x.sock\nspeed: max\nsocket-group: 4242\n", tmp_path)
    assert (got["socket"], got["speed"], got["socket-group"]) == ("/tmp/x.sock", "max", "4242")


@pytest.mark.parametrize(
    ("config", "environ", "message"),
    [
        ("max-subscriber: 3\n", {}, "'max-subscriber' is not a setting (did you mean "
         "max-subscribers?)"),
        ("transport: fast\n", {}, "transport: 'fast' is not one of auto, ring_buffer, perf_buffer"),
        ("max-subscribers: 0\n", {}, "max-subscribers: 0 must be greater than zero"),
        ("max-subscribers: [1, 2]\n", {}, "max-subscribers: give one value"),
        ("a: [1\n", {}, "is not valid YAML at line 2"),
        ("- 1\n", {}, "must map setting names to values"),
        ("", {"KINDLING_MAX_SUBSCRIBERS": "abc"}, "KINDLING_MAX_SUBSCRIBERS: 'abc' is not a "
         "whole number"),
        ("", {"KINDLING_RING_BUFFER_PAGES": "1000"}, "KINDLING_RING_BUFFER_PAGES: 1000 is not a "
         "power of two"),
    ],
)  # fmt: skip
def test_wrong_settings_say_where_they_came_from(
    tmp_path: Path, config: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(StartupError) as raised:
        resolved([], environ, config, tmp_path)
    assert message in str(raised.value)


def test_the_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("max-subscribers: 7\n")
    assert resolved([], {"KINDLING_CONFIG": str(path)})["max-subscribers"] == 7
    with pytest.raises(StartupError, match="cannot read the config file"):
        resolved([], {"KINDLING_CONFIG": str(tmp_path / "missing.yaml")})
