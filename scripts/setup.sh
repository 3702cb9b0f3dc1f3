#!/usr/bin/env bash
# Set up everything the kindling probe service needs on a Debian machine:
# system packages (BCC, kernel headers), the toolchain (uv, buf, Go protoc
# plugins, grpcurl), the Python environment (.venv with a narrow link to
# Debian's bcc) and the Go command. Idempotent: a second run only checks.
#
#   scripts/setup.sh            # everything
#   scripts/setup.sh --no-system  # skip the steps that need root
#   scripts/setup.sh --runtime    # only what the service needs to run (the
#                                 # container image): BCC, fallback headers,
#                                 # .venv without the dev tools, C helpers
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# Pinned tool versions. Python and Go library versions are pinned by uv.lock
# and clients/go/go.sum.
UV_VERSION=0.13.8
BUF_VERSION=1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GRPCURL_VERSION=v1.9.4
HELM_VERSION=v3.22.0       # renders and lints deploy/helm (make test)
GO_MIN_MINOR=26            # clients/go/go.mod says go 1.26
GO_FALLBACK_VERSION=1.26.8 # fetched from the Go module proxy when go is missing or older

TOOLS="$ROOT/.tools"
STAMPS="$TOOLS/stamps"
SYSTEM=1
RUNTIME=0
case "${1:-}" in
    --no-system) SYSTEM=0 ;;
    --runtime) RUNTIME=1 ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--no-system | --runtime]" >&2; exit 2 ;;
esac

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
stamp() { mkdir -p "$STAMPS"; touch "$STAMPS/$1"; }
stamped() { [[ -e "$STAMPS/$1" ]]; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "this step needs root: $*"; fi
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
        || { as_root apt-get update >/dev/null && \
             as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
}

apt_has() { apt-cache show "$1" >/dev/null 2>&1; }

# --- kernel side: BCC, kernel headers, tracefs -----------------------------

setup_system() {
    command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian and Ubuntu"
    apt_install python3-bpfcc python3-venv ca-certificates curl unzip make
    if ((RUNTIME)); then
        # The kernel's headers come from the node at start (kernel-headers.sh);
        # the distribution's current ones are the fallback.
        apt_install "linux-headers-$(dpkg --print-architecture)"
        return
    fi
    # bpftool: the kernel tests ask the kernel which programs are attached;
    # iproute2 (ip, tc): they build a network namespace with a lossy link.
    # The rest is for `make bench`: the workloads (nginx, wrk) and the tools
    # it compares the probe with (bpftrace, strace).
    apt_install bpftool iproute2 bpftrace strace nginx-light wrk

    local release build
    release="$(uname -r)"
    build="/lib/modules/$release/build"
    if [[ ! -d "$build/include" ]]; then
        if apt_has "linux-headers-$release"; then
            apt_install "linux-headers-$release"
        fi
    fi
    if [[ ! -d "$build/include" ]]; then
        # No headers package matches this kernel (custom or cloud kernels):
        # install the distribution's current ones for kernel-headers.sh to
        # link (the same script the container runs at start).
        local arch meta
        arch="$(dpkg --print-architecture)"
        meta="linux-headers-$arch"
        apt_has "$meta" || meta="linux-headers-generic"
        apt_install "$meta"
        as_root scripts/kernel-headers.sh || die "no kernel headers found under /usr/src after installing $meta"
    fi

    if [[ ! -d /sys/kernel/tracing/events && ! -d /sys/kernel/debug/tracing/events ]]; then
        say "mounting tracefs at /sys/kernel/tracing"
        as_root mount -t tracefs tracefs /sys/kernel/tracing
    fi
}

# --- toolchain --------------------------------------------------------------

python_bin() {
    local py
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$py"; return
        fi
    done
    return 1
}

setup_uv() {
    [[ -x "$TOOLS/uv/bin/uv" ]] && "$TOOLS/uv/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION" && return
    local py
    py="$(python_bin)" || { ((SYSTEM)) && apt_install python3 python3-venv; py="$(python_bin)"; } \
        || die "Python 3.11 or newer with the venv module is needed"
    say "installing uv $UV_VERSION"
    rm -rf "$TOOLS/uv"
    "$py" -m venv "$TOOLS/uv"
    "$TOOLS/uv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
}

go_ok() {
    command -v "$1" >/dev/null || return 1
    local minor
    minor="$("$1" env GOVERSION 2>/dev/null | sed -E 's/^go1\.([0-9]+).*/\1/')"
    [[ "$minor" =~ ^[0-9]+$ ]] && ((minor >= GO_MIN_MINOR))
}

setup_go() {
    if go_ok go; then GO="$(command -v go)"; return; fi
    GO="$TOOLS/go/bin/go"
    go_ok "$GO" && return
    # Debian's golang-go is too old for go.mod; the Go module proxy serves
    # the official toolchain as a module zip (this is what GOTOOLCHAIN uses).
    local arch zip
    arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
    zip="$TOOLS/go-toolchain.zip"
    say "fetching Go $GO_FALLBACK_VERSION from the Go module proxy"
    mkdir -p "$TOOLS"
    curl -fsSL -o "$zip" \
        "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_FALLBACK_VERSION.linux-$arch.zip"
    rm -rf "$TOOLS/go" "$TOOLS/go-unzip"
    unzip -q "$zip" -d "$TOOLS/go-unzip"
    mv "$TOOLS/go-unzip/golang.org/toolchain@v0.0.1-go$GO_FALLBACK_VERSION.linux-$arch" "$TOOLS/go"
    rm -rf "$TOOLS/go-unzip" "$zip"
    chmod +x "$TOOLS/go/bin/"* "$TOOLS/go/pkg/tool/"*/* 2>/dev/null || true
}

setup_buf() {
    stamped "buf-$BUF_VERSION" && [[ -x "$TOOLS/node/node_modules/.bin/buf" ]] && return
    if ! command -v npm >/dev/null; then
        ((SYSTEM)) || die "npm is needed to install buf"
        apt_install nodejs npm
    fi
    say "installing buf $BUF_VERSION"
    mkdir -p "$TOOLS/node"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "@bufbuild/buf@$BUF_VERSION" >/dev/null
    stamp "buf-$BUF_VERSION"
}

go_install() { # name module version
    stamped "$1-$3" && [[ -x "$TOOLS/bin/$1" ]] && return
    say "installing $1 $3"
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod "$GO" install "$2@$3"
    stamp "$1-$3"
}

# --- project environments ---------------------------------------------------

setup_venv() {
    say "syncing .venv from uv.lock"
    # Bytecode compiled now: where PYTHONDONTWRITEBYTECODE is set, every start
    # would otherwise compile numpy and grpc again (seconds, and stalls at the
    # first use of a lazily imported module).
    local dev=()
    ((RUNTIME)) && dev=(--no-dev)
    UV_PYTHON_DOWNLOADS=never "$TOOLS/uv/bin/uv" sync --frozen --quiet --compile-bytecode \
        --python "$(python_bin)" "${dev[@]}"
    # Expose Debian's bcc (python3-bpfcc) and nothing else from the system
    # site-packages: a .pth entry for a folder that holds only a bcc link.
    local site link_dir
    site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    link_dir="$ROOT/.venv/bcc-only"
    mkdir -p "$link_dir"
    if [[ -d /usr/lib/python3/dist-packages/bcc ]]; then
        ln -sfn /usr/lib/python3/dist-packages/bcc "$link_dir/bcc"
    fi
    echo "$link_dir" > "$site/kindling-bcc.pth"
}

# The service's C helpers, plain C without Python headers, loaded with ctypes
# or preloaded: the event encoder's (encode.c; numpy does the same without it)
# and the peer-name library that lets the service tell callers apart
# (peername.c; without it nobody may Configure).
build_library() {
    local source="$1" lib="$2"
    [[ -f "$lib" && "$lib" -nt "$source" ]] && return
    say "building $lib"
    cc -O2 -Wall -Wextra -Werror -fPIC -shared -o "$lib.tmp" "$source" -ldl
    mv "$lib.tmp" "$lib"
}

setup_native() {
    local server="server/src/kindling/server"
    if ! command -v cc >/dev/null; then
        ((SYSTEM)) && apt_install gcc libc6-dev
        command -v cc >/dev/null || {
            say "no C compiler: the event encoder uses numpy only, and nobody may Configure"
            return
        }
    fi
    build_library "$server/pipeline/encode/native/encode.c" \
        "$server/pipeline/encode/native/libkindling_native.so"
    build_library "$server/api/native/peername.c" "$server/api/native/libkindling_peername.so"
}

setup_go_command() {
    local bin="$TOOLS/bin/kindling-events"
    if [[ -x "$bin" ]] && [[ -z "$(find clients/go -name '*.go' -newer "$bin" -o -name go.mod -newer "$bin" | head -n1)" ]]; then
        return
    fi
    say "building clients/go/cmd/kindling-events"
    (cd clients/go && "$GO" build -o "$bin" ./cmd/kindling-events)
}

main() {
    ((SYSTEM)) && setup_system
    if ((RUNTIME)); then
        setup_uv
        setup_venv
        setup_native
        say "ready (runtime only)"
        return
    fi
    setup_uv
    setup_go
    setup_buf
    go_install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
    go_install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
    go_install grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
    go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
    setup_venv
    setup_native
    setup_go_command
    # The Go toolchain in use, for the Makefile and tests.
    ln -sfn "$GO" "$TOOLS/bin/go"
    say "ready"
}

main
