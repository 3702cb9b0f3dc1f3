"""The ``kindling-collector`` command.

Exit statuses: 0 after SIGINT or SIGTERM (or when the service ends the
stream for good); 1 when something it needs is wrong or missing (the
service, the config file, the listen address, the pods); 2 for usage errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from prometheus_client import CollectorRegistry, ProcessCollector

from kindling.client import (
    DeadlineExceeded,
    KindlingError,
    ProbeClient,
    Reconnect,
    ServiceUnavailable,
    default_socket,
)
from kindling.collector import __version__
from kindling.collector.collector import Collector
from kindling.collector.config import DEFAULT_LISTEN, Config, ConfigError, load_config
from kindling.collector.http_server import MetricsServer, parse_listen
from kindling.collector.kubernetes import PodDirectory
from kindling.collector.kubernetes.api import ApiServer, KubernetesError, NodePods
from kindling.collector.kubernetes.static import PodsFileError, StaticPods
from kindling.collector.metrics import Metrics, meter_provider
from kindling.collector.subscription import subscription_request

__all__ = ["main"]

PROG = "kindling-collector"
EXIT_OK = 0
EXIT_FAILURE = 1

log = logging.getLogger("kindling.collector")


class StartError(Exception):
    """Ends the command with its message (one sentence) and exit status 1."""


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Turn the kindling probe service's event stream into RED and TCP metrics:\n"
            "HTTP/1.x server and client requests, Redis commands and DNS lookups (count\n"
            "and duration, by route, status, command, name), other TCP request/response\n"
            "exchanges, and TCP connects, retransmits, resets, drops and round-trip times.\n"
            "Prometheus scrapes them from --listen (/metrics); /healthz answers 200 once\n"
            "the collector is subscribed."
        ),
        epilog=(
            "examples:\n"
            f"  {PROG}                              # /run/kindling.sock, metrics on :9464\n"
            f"  {PROG} --socket /tmp/kindling.sock --listen 127.0.0.1:9464\n"
            f"  {PROG} --config /etc/kindling/collector.yaml\n"
            "  curl -s localhost:9464/metrics | grep http_server_request_duration\n"
            "\n"
            "SIGINT and SIGTERM stop it cleanly. Flags override the config file."
        ),
    )
    result.add_argument(
        "--socket",
        metavar="PATH",
        help=f"the probe service's socket (default: $KINDLING_SOCKET or {default_socket()})",
    )
    result.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"where to serve /metrics and /healthz (default: {DEFAULT_LISTEN}, every address)",
    )
    result.add_argument("--config", metavar="FILE", help="a YAML file of settings (see the README)")
    result.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="also export the metrics over OTLP/gRPC to this endpoint (http:// for plaintext)",
    )
    result.add_argument(
        "--route-limit",
        metavar="N",
        type=_positive,
        help="distinct http.route values per service (executable and port), then _other "
        "(default: 100)",
    )
    kubernetes = result.add_mutually_exclusive_group()
    kubernetes.add_argument(
        "--kubernetes-node",
        metavar="NAME",
        help="add pod, namespace and workload to containers' metrics, from the Kubernetes "
        "API (in-cluster), watching this node's pods only",
    )
    kubernetes.add_argument(
        "--kubernetes-pods-file",
        metavar="FILE",
        help="the same from a file of pods (kubectl get pods -o json)",
    )
    result.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="what to log on stderr (default: info)",
    )
    result.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return result


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def settings(args: argparse.Namespace) -> Config:
    """The config file's settings (if any) with the flags over them."""
    try:
        base = load_config(args.config) if args.config else Config()
        return base.with_flags(
            socket=args.socket,
            listen=args.listen,
            otlp_endpoint=args.otlp_endpoint,
            route_limit=args.route_limit,
            kubernetes_node=args.kubernetes_node,
            kubernetes_pods_file=args.kubernetes_pods_file,
        )
    except ConfigError as error:
        raise StartError(str(error)) from None


def pod_directory(config: Config) -> PodDirectory | None:
    try:
        if config.kubernetes_pods_file:
            pods = StaticPods(config.kubernetes_pods_file)
            log.info("kubernetes: %d containers from %s", len(pods), config.kubernetes_pods_file)
            return pods
        if config.kubernetes_node:
            watcher = NodePods(config.kubernetes_node, ApiServer.in_cluster())
            watcher.start()
            return watcher
    except (PodsFileError, KubernetesError) as error:
        raise StartError(f"kubernetes: {error}") from None
    return None


def enrichment(pods: PodDirectory | None) -> Callable[[str], Mapping[str, str]] | None:
    if pods is None:
        return None

    def enrich(container_id: str) -> Mapping[str, str]:
        pod = pods.pod_for(container_id)
        return pod.attributes() if pod is not None else {}

    return enrich


#: How long the service keeps the collector's stream after a break. The
#: stream resumes within a second of a broken connection (the reconnect
#: backoff starts at 0.1 s); a service restart or a new collector process
#: cannot resume it anyway, and until the window passes the kernel goes on
#: capturing for a stream nobody reads.
RESUME_WINDOW_SECONDS = 5.0

#: How long a starting collector waits for a service that is still starting.
SERVICE_WAIT_SECONDS = 60.0


def wait_for_service(client: ProbeClient, stop: threading.Event) -> None:
    """Until the service says SERVING. A service starts listening before it has
    compiled its programs (seconds), so an answerless socket is given time;
    one that still does not answer then is an error. Once subscribed, the
    stream reconnects by itself."""
    deadline = time.monotonic() + SERVICE_WAIT_SECONDS
    waiting_said = False
    while not stop.is_set():
        try:
            status = client.health(timeout=2)
            if status == "SERVING":
                return
            problem: str = f"the service at {client.socket} says {status}"
        except (ServiceUnavailable, DeadlineExceeded) as error:
            # Not there yet, or too busy to answer at once (attaching the
            # programs another client asked for): given time too.
            problem = str(error)
        except KindlingError as error:
            raise StartError(str(error)) from None
        if time.monotonic() > deadline:
            raise StartError(problem)
        if not waiting_said:
            log.info("waiting for the service at %s to serve", client.socket)
            waiting_said = True
        stop.wait(0.5)


def run(config: Config, stop: threading.Event) -> int:
    socket = config.socket or default_socket()
    host, port = parse_listen(config.listen)
    try:
        client = ProbeClient(socket)
    except KindlingError as error:
        raise StartError(str(error)) from None
    pods: PodDirectory | None = None
    try:
        wait_for_service(client, stop)
        if stop.is_set():
            return EXIT_OK
        pods = pod_directory(config)
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # the collector's own CPU and memory
        provider = meter_provider(registry, config.otlp_endpoint, config.otlp_interval_s)
        metrics = Metrics(provider, config.limits, enrichment(pods))
        collector = Collector(metrics, max_connections=config.max_connections)
        try:
            server = MetricsServer((host, port), registry, collector.subscribed)
        except OSError as error:
            raise StartError(f"cannot listen on {config.listen}: {error.strerror}") from None
        server.start()
        shown_host = server.address[0] or "0.0.0.0"
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        log.info(
            "serving metrics on http://%s:%d/metrics; reading events from %s",
            shown_host,
            server.address[1],
            socket,
        )
        try:
            stream = client.subscribe(
                subscription_request(os.getpid()),
                reconnect=Reconnect(resume_window=RESUME_WINDOW_SECONDS),
            )

            def cancel_on_stop() -> None:
                # A signal handler runs inside whatever the main thread does
                # (grpc included): the stream is cancelled from here instead.
                stop.wait()
                stream.cancel()

            threading.Thread(target=cancel_on_stop, name="stopper", daemon=True).start()
            collector.consume(stream)
        except KindlingError as error:
            raise StartError(str(error)) from None
        finally:
            server.close()
            provider.shutdown()
        log.info("stopped")
        return EXIT_OK
    finally:
        if pods is not None:
            pods.close()
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"{PROG}: %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    try:
        config = settings(args)
        if stop.is_set():
            return EXIT_OK
        return run(config, stop)
    except StartError as failure:
        print(f"{PROG}: {failure}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
