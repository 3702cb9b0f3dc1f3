#!/usr/bin/env bash
# Give BCC kernel headers for the running kernel at /lib/modules/$(uname -r)
# (build and source), when it has none there yet:
#
#   scripts/kernel-headers.sh [HOST_ROOT]
#
# 1. the node's own headers, when HOST_ROOT is where the node's / is mounted
#    (a container: /host, with the node's /lib/modules and /usr/src under it);
# 2. otherwise the closest headers under /usr/src (Debian's linux-headers-*),
#    as Pixie does: the eBPF programs only use tracepoint arguments and
#    helpers, never kernel structs, so mismatched headers are safe for them.
#
# Used by scripts/setup.sh and by the container's entrypoint. Exits 1 with a
# sentence when there are no headers at all.
set -euo pipefail

host="${1:-}"
release="$(uname -r)"
target="/lib/modules/$release"

say() { printf 'kernel-headers: %s\n' "$*" >&2; }

[[ -d "$target/build/include" ]] && exit 0

# The node's link, followed inside HOST_ROOT: its absolute target names a
# path of the node, not of this container.
node_link() { # name
    local link="$host/lib/modules/$release/$1" to
    if [[ ! -L "$link" ]]; then
        [[ -d "$link" ]] && echo "$link"
        return 0
    fi
    to="$(readlink "$link")"
    [[ "$to" == /* ]] && echo "$host$to" || echo "$(dirname "$link")/$to"
}

build="" source=""
if [[ -n "$host" ]]; then
    build="$(node_link build)"
    source="$(node_link source)"
    [[ -n "$build" && -d "$build/include" ]] || build=""
fi
if [[ -z "$build" ]]; then
    arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    build="$(ls -d /usr/src/linux-headers-*-"$arch" 2>/dev/null | sort -V | tail -n1 || true)"
    [[ -n "$build" ]] || build="$(ls -d /usr/src/linux-headers-*-generic 2>/dev/null | sort -V | tail -n1 || true)"
    [[ -n "$build" ]] || { say "no kernel headers for $release, and none under /usr/src to use instead"; exit 1; }
    source="${build%-"$arch"}-common"
    say "no headers for kernel $release: using $(basename "$build")"
fi
[[ -n "$source" && -d "$source" ]] || source="$build"
mkdir -p "$target"
ln -sfn "$build" "$target/build"
ln -sfn "$source" "$target/source"
