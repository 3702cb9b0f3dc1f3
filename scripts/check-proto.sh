#!/usr/bin/env bash
# Fail when the contract is badly formatted or linted, when the committed
# generated code differs from what `make proto` would produce, or when the
# protos break compatibility with main.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUF="$ROOT/.tools/node/node_modules/.bin/buf"

"$BUF" format --diff --exit-code
"$BUF" lint

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
scripts/gen-proto.sh "$scratch" >/dev/null
drift=0
for dir in clients/python/src/kindling/event clients/python/src/kindling/probe clients/go/gen; do
    if ! diff -r "$scratch/$dir" "$dir" >/dev/null; then
        diff -r "$scratch/$dir" "$dir" | head -n 20 >&2 || true
        echo "check-proto: $dir differs from the generated code; run \`make proto\` and commit" >&2
        drift=1
    fi
done
((drift == 0)) || exit 1

# Compatibility with main, once main has a contract to compare against.
if git rev-parse --git-dir >/dev/null 2>&1; then
    against=""
    for ref in origin/main main; do
        if git rev-parse --verify --quiet "$ref:proto" >/dev/null; then against="$ref"; break; fi
    done
    if [[ -n "$against" ]]; then
        "$BUF" breaking --against ".git#ref=$against"
    else
        echo "check-proto: main has no proto/ yet; skipping buf breaking"
    fi
fi
echo "check-proto: contract formatted, linted, generated code in sync"
