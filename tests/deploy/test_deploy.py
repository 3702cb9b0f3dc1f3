"""Every deploy artefact, validated offline: the Dockerfile (hadolint), the
Helm chart (helm lint, helm template) and the manifests rendered from it
(kubernetes-validate --strict for two Kubernetes versions), the systemd unit
(systemd-analyze verify); and, on the real kernel, that the capabilities the
DaemonSet grants are enough and the kernel-headers fallback works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.service import PROBE, ROOT, TOOLS, Service, health_status

from kindling.client import ProbeClient
from kindling.probe.v1 import probe_pb2

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
HELM = TOOLS / "helm"
CHART = DEPLOY / "helm" / "kindling"
# The oldest and the newest Kubernetes versions the manifests are checked for.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd,
                          timeout=120)  # fmt: skip


def render(tmp_path: Path, *values: str) -> Path:
    result = run(HELM, "template", "kindling", CHART, "--namespace", "kindling", *values)
    assert result.returncode == 0, result.stderr
    out = tmp_path / f"render-{len(list(tmp_path.iterdir()))}.yaml"
    out.write_text(result.stdout)
    return out


def test_the_dockerfile_passes_hadolint() -> None:
    result = run(VENV_BIN / "hadolint", DEPLOY / "docker" / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_lints() -> None:
    result = run(HELM, "lint", "--strict", CHART)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_plain_manifests_are_the_chart_rendered(tmp_path: Path) -> None:
    result = subprocess.run(["scripts/render-manifests.sh", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HELM": str(HELM)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("kindling.yaml", "kindling-privileged.yaml"):
        assert (tmp_path / name).read_text() == (DEPLOY / "kubernetes" / name).read_text(), (
            f"deploy/kubernetes/{name} differs from the chart: run make manifests"
        )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly(tmp_path: Path, version: str) -> None:
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    renders = [
        render(tmp_path, "--set", "adminGroup=2001", "--set", "config.transport=perf_buffer"),
        render(tmp_path, "--set", "privileged=true", "--set", "metrics.scrape=false"),
    ]
    result = run(VENV_BIN / "kubernetes-validate", "--strict", "--quiet", "-k", version,
                 *manifests, *renders)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_s_choices_reach_the_objects(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(render(tmp_path, "--set", "privileged=true",
                                          "--set", "collector.enabled=false",
                                          "--set", "socketGroup=3000").read_text()))  # fmt: skip
    kinds = sorted(d["kind"] for d in docs if d)
    assert kinds == ["ConfigMap", "DaemonSet"]  # no collector
    probe = next(d for d in docs if d and d["kind"] == "DaemonSet")
    security = probe["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert security["privileged"] is True and "capabilities" not in security
    config = yaml.safe_load(next(d for d in docs if d and d["kind"] == "ConfigMap")["data"]
                            ["kindling.yaml"])  # fmt: skip
    assert config["socket-group"] == "3000"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    # As installed: the project in /opt/kindling, here this checkout.
    unit = tmp_path / "kindling-probe.service"
    unit.write_text((DEPLOY / "systemd" / "kindling-probe.service").read_text()
                    .replace("/opt/kindling", str(ROOT)))  # fmt: skip
    result = run("systemd-analyze", "verify", unit)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def daemonset_capabilities() -> list[str]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "kindling.yaml").read_text())
    probe = next(d for d in docs if d and d["metadata"]["name"] == "kindling-probe"
                 and d["kind"] == "DaemonSet")  # fmt: skip
    added: list[str] = probe["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "capabilities"]["add"]  # fmt: skip
    return added


def unit_capabilities() -> list[str]:
    for line in (DEPLOY / "systemd" / "kindling-probe.service").read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            return [c.removeprefix("CAP_") for c in line.split("=", 1)[1].split()]
    raise AssertionError("the unit sets no CapabilityBoundingSet")


OTHER_USER_FILE = r"""
import os, sys, time
f = open(sys.argv[1], "w")
print(os.getpid(), flush=True)
for _ in range(int(float(sys.argv[2]) * 10)):
    f.write("a"); f.flush(); time.sleep(0.1)
"""


def fd_context_with(capabilities: list[str], where: Path) -> tuple[str, str]:
    """A service holding only these capabilities: the fd path and exe it
    gives to writes of another user's file opened before it started."""
    shared = Path(tempfile_dir(where))
    writer = subprocess.Popen(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3",
         "-c", OTHER_USER_FILE, str(shared / "written"), "60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout is not None
    pid = int(writer.stdout.readline())
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in capabilities)])
    socket = where / "kindling.sock"
    log = (where / "service.log").open("wb")
    proc = subprocess.Popen(
        ["setpriv", "--bounding-set", bounding, str(PROBE), "serve", "--socket", str(socket),
         "--socket-group", "4242"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    service = Service(socket=socket, proc=proc, log_path=where / "service.log")
    try:
        service.wait_serving()
        request = probe_pb2.SubscribeRequest(
            allow_list=[probe_pb2.EventFilter(names=["write"], pids=[pid])]
        )
        with ProbeClient(socket) as client, client.subscribe(request, timeout=40) as stream:
            for response in stream:
                if response.events:
                    event = response.events[0]
                    return event.fd.path, event.thread.exe
        raise AssertionError("no write came")
    finally:
        writer.kill()
        writer.wait()
        assert service.stop() == 0, service.log()
        shutil.rmtree(shared)


def tempfile_dir(where: Path) -> str:
    shared = Path("/tmp") / f"kindling-deploy-{where.name}-{time.monotonic_ns()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # the other user's file goes there
    return str(shared)


@pytest.mark.kernel
def test_the_daemonset_s_capabilities_are_enough_and_each_is_needed(tmp_path: Path) -> None:
    granted = daemonset_capabilities()
    assert sorted(granted) == sorted(unit_capabilities())  # the systemd unit grants the same
    (tmp_path / "all").mkdir()
    path, exe = fd_context_with(granted, tmp_path / "all")
    assert path.endswith("/written") and exe.startswith("/usr/bin/python3"), (path, exe)
    # Without the two /proc capabilities the service runs, blind to other
    # users' descriptors.
    (tmp_path / "less").mkdir()
    fewer = [c for c in granted if c not in ("SYS_PTRACE", "DAC_READ_SEARCH")]
    assert fd_context_with(fewer, tmp_path / "less") == ("", "")


@pytest.mark.kernel
def test_without_chown_a_socket_group_is_refused_with_a_sentence(tmp_path: Path) -> None:
    without = ",".join(["-all", *(f"+{c.lower()}" for c in daemonset_capabilities()
                                  if c != "CHOWN")])  # fmt: skip
    result = subprocess.run(
        ["setpriv", "--bounding-set", without, str(PROBE), "serve", "--socket",
         str(tmp_path / "k.sock"), "--socket-group", "4242", "--replay",
         str(ROOT / "tests" / "data" / "sample.kindling")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "needs the CAP_CHOWN capability" in result.stderr
    assert health_status(tmp_path / "k.sock") is None


HEADERS = r"""
set -e
release=$(uname -r)
mkdir -p "$HOST/lib/modules/$release" "$HOST/usr/src"
mount --bind /usr/src "$HOST/usr/src"
build=$(ls -d /usr/src/linux-headers-*-amd64 | sort -V | tail -n1)
ln -s "$build" "$HOST/lib/modules/$release/build"
ln -s "${build%-amd64}-common" "$HOST/lib/modules/$release/source"
mount -t tmpfs none /lib/modules
scripts/kernel-headers.sh "$HOST" 2>/dev/null
echo "node $(readlink /lib/modules/$release/build)"
mount -t tmpfs none /lib/modules
scripts/kernel-headers.sh /nowhere 2>/dev/null
echo "fallback $(readlink /lib/modules/$release/build)"
"""


@pytest.mark.kernel
def test_kernel_headers_come_from_the_node_or_the_closest(tmp_path: Path) -> None:
    if not list(Path("/usr/src").glob("linux-headers-*-amd64")):
        pytest.skip("no Debian amd64 headers under /usr/src")
    host = tmp_path / "host"
    # A mount namespace of its own: the machine's /lib/modules is untouched.
    result = subprocess.run(["unshare", "-m", "bash", "-c", HEADERS], cwd=ROOT,
                            env={**os.environ, "HOST": str(host)},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    node, fallback = result.stdout.splitlines()
    assert node.startswith(f"node {host}/usr/src/linux-headers-")  # the node's, under /host
    assert fallback.startswith("fallback /usr/src/linux-headers-")
