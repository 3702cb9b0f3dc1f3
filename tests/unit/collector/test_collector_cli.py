"""The kindling-collector command's settings and its one-sentence errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kindling.collector import cli
from kindling.collector.cli import main
from kindling.collector.config import ConfigError, load_config
from kindling.collector.http_server import parse_listen


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(list(args))
    return status, capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--socket", "--listen", "--config", "--otlp-endpoint", "--route-limit"):
        assert flag in out
    assert "--kubernetes-node" in out and "--kubernetes-pods-file" in out


def test_no_service(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, err = run(capsys, "--socket", str(tmp_path / "none.sock"))
    assert status == 1
    assert err == (
        f"kindling-collector: no kindling probe service at {tmp_path / 'none.sock'}: the socket "
        'does not exist; start the service with "kindling-probe serve"\n'
    )


def test_a_socket_nobody_listens_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A starting service is waited for; one that never answers fails after the wait.
    monkeypatch.setattr(cli, "SERVICE_WAIT_SECONDS", 1.0)
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    status, err = run(capsys, "--socket", str(path))
    assert status == 1
    assert err.startswith(
        f"kindling-collector: the kindling probe service is not reachable at {path}"
    )
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "listen: 'nowhere' is not HOST:PORT"),
        (["--listen", ":70000"], "listen: ':70000': port 70000 is out of range"),
    ],
)
def test_bad_flags(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    status, err = run(capsys, *args)
    assert status == 1
    assert err.startswith(f"kindling-collector: {message}")


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--kubernetes-node", "a", "--kubernetes-pods-file", "b"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--route-limit", "0"])
    assert "--route-limit: 0 is less than 1" in capsys.readouterr().err


def test_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(
        "socket: /tmp/k.sock\nlisten: 127.0.0.1:9999\n"
        "otlp: {endpoint: http://localhost:4317, interval_seconds: 5}\n"
        "limits: {routes_per_service: 7, dns_names: 3, connections: 100}\n"
        "kubernetes: {node: node-a}\n"
    )
    config = load_config(str(path))
    assert config.socket == "/tmp/k.sock"
    assert config.listen == "127.0.0.1:9999"
    assert config.otlp_endpoint == "http://localhost:4317"
    assert config.otlp_interval_s == 5.0
    assert config.limits.routes_per_service == 7
    assert config.limits.dns_names == 3
    assert config.max_connections == 100
    assert config.kubernetes_node == "node-a"
    flagged = config.with_flags(route_limit=2, listen=None)
    assert flagged.limits.routes_per_service == 2
    assert flagged.listen == "127.0.0.1:9999"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sockets: x\n", "sockets: unknown setting (expected one of kubernetes, limits, listen"),
        ("limits: {dns_names: 0}\n", "limits.dns_names: expected a whole number of 1 or more"),
        ("limits: [1]\n", "limits: expected a mapping, not list"),
        ("listen: [\n", "is not valid YAML (line 2)"),
        ("otlp: {interval_seconds: -1}\n", "otlp.interval_seconds: expected a number of seconds"),
        (
            "kubernetes: {node: a, pods_file: b}\n",
            "give the node (to watch the API) or a pods file",
        ),
        ("- a\n", "expected a mapping of settings, not list"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value).startswith(f"{path}:") or str(error.value).startswith(f"{path} ")
    assert message in str(error.value)


def test_a_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, err = run(capsys, "--config", str(tmp_path / "nope.yaml"))
    assert status == 1
    assert (
        err
        == f"kindling-collector: cannot read {tmp_path / 'nope.yaml'}: No such file or directory\n"
    )


def test_listen_addresses() -> None:
    assert parse_listen(":9464") == ("", 9464)
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
