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
for dir in clients/python/src/kindling/event clients/python/src/kindling/probe clients/go/gen \
    clients/java/src/generated/java; do
    if ! diff -r "$scratch/$dir" "$dir" >/dev/null; then
        diff -r "$scratch/$dir" "$dir" | head -n 20 >&2 || true
        echo "check-proto: $dir differs from the generated code; run \`make proto\` and commit" >&2
        drift=1
    fi
done
((drift == 0)) || exit 1

# Compatibility: against the point this branch left main, or on main itself
# against the previous commit (or HEAD, when proto/ has uncommitted changes).
against=""
if git rev-parse --git-dir >/dev/null 2>&1; then
    main_ref=""
    for ref in origin/main main; do
        if git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then main_ref="$ref"; break; fi
    done
    head="$(git rev-parse HEAD)"
    fork="$(git merge-base HEAD "${main_ref:-HEAD}" 2>/dev/null || echo "$head")"
    if [[ "$fork" != "$head" ]]; then
        against="$fork"
    elif ! git diff --quiet HEAD -- proto; then
        against="$head"
    else
        against="$(git rev-parse --verify --quiet HEAD~1 || true)"
    fi
fi
if [[ -n "$against" ]] && git rev-parse --verify --quiet "$against:proto" >/dev/null; then
    # The one exception: against a contract that set no java_package (before
    # clients/java existed), giving the files their Java options for the first
    # time trips the FILE_SAME_JAVA_* rules, yet breaks no Java code, since
    # none was generated from that contract. Against any later contract the
    # rules apply in full.
    config=()
    if ! git grep -q '^option java_package' "$against" -- proto; then
        config=(--config "$("$ROOT/.venv/bin/python" -c '
import json, sys, yaml
config = yaml.safe_load(open("buf.yaml"))
config["breaking"].setdefault("except", []).extend(sys.argv[1:])
print(json.dumps(config))' FILE_SAME_JAVA_PACKAGE FILE_SAME_JAVA_MULTIPLE_FILES FILE_SAME_JAVA_OUTER_CLASSNAME)")
        echo "check-proto: ${against:0:12} has no Java options: FILE_SAME_JAVA_* not checked against it"
    fi
    "$BUF" breaking "${config[@]}" --against ".git#ref=$against"
    echo "check-proto: no breaking change against ${against:0:12}"
else
    echo "check-proto: no earlier contract to compare with; buf breaking skipped"
fi
echo "check-proto: contract formatted, linted, generated code in sync"
