#!/usr/bin/env bash
# The TypeScript client and the integrations console (`make frontend`; `make test` runs it after
# the Rust tests):
#
#   1. npm ci in clients/typescript (pinned by its package-lock.json; skipped when unchanged)
#   2. regenerates the client's types from docs/openapi.yaml and fails when the committed
#      src/generated/api.ts differs (the document and the client cannot drift)
#   3. tsc --noEmit, then the build (dist/, which the devstack's console serves)
#   4. starts a devstack (no walk-through) on free ports and runs, against it, the client's
#      tests (node's test runner) and the console's test in headless Chromium, which saves its
#      screenshots under target/frontend/screenshots/
#   5. stops the devstack.
#
# Chromium comes from Debian's `chromium` package, installed here when missing (as root, or
# through sudo). CHROMIUM=/path/to/chrome uses another build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT="$ROOT/clients/typescript"
OUT="$ROOT/target/frontend"
PYTHON="${PYTHON:-python3}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'frontend: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null || die "Node.js 20+ and npm are needed (apt-get install nodejs npm)"
[[ -x "$ROOT/.venv/bin/python" ]] || die "the project venv is missing (moto): run \`make venv\` first"

if [[ ! -x "$CHROMIUM" ]]; then
    say "installing Debian's chromium (headless browser for the console test)"
    sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
        || die "could not install chromium; install it or set CHROMIUM"
    [[ -x "$CHROMIUM" ]] || die "no $CHROMIUM after installing chromium"
fi

cd "$CLIENT"
stamp="node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
    say "npm ci in clients/typescript"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    touch "$stamp"
fi

say "regenerating the client's types from docs/openapi.yaml"
mkdir -p "$OUT"
fresh="$OUT/api.generated.ts"
npx --no-install openapi-typescript ../../docs/openapi.yaml --default-non-nullable false --output "$fresh" >/dev/null
if ! cmp -s "$fresh" src/generated/api.ts; then
    diff -u src/generated/api.ts "$fresh" | head -40 >&2 || true
    die "clients/typescript/src/generated/api.ts is out of date with docs/openapi.yaml: run \`make client-generate\` and commit it"
fi

say "tsc --noEmit, then the build"
npx --no-install tsc -p tsconfig.json --noEmit
rm -rf dist
npx --no-install tsc -p tsconfig.json

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
log="$OUT/devstack.log"
say "starting the devstack on 127.0.0.1:$port (log: ${log#"$ROOT"/})"
: >"$log"
cd "$ROOT"
# DEVSTACK_BIN runs a devstack binary built beforehand instead of `cargo run`.
devstack=(cargo run -q -p devstack)
[[ -z "${DEVSTACK_BIN:-}" ]] || devstack=("$DEVSTACK_BIN")
DEVSTACK_PORT="$port" SANDBOX_PORT=0 MOTO_PORT=0 DEVSTACK_WALKTHROUGH=0 \
    DEVSTACK_PYTHON="$ROOT/.venv/bin/python" DEVSTACK_CONSOLE_DIR="$CLIENT" \
    setsid "${devstack[@]}" >"$log" 2>&1 </dev/null &
devstack_pid=$!
stop() {
    if kill -0 "$devstack_pid" 2>/dev/null; then
        kill -TERM -- "-$devstack_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$devstack_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$devstack_pid" 2>/dev/null || true
    fi
}
trap stop EXIT
deadline=$((SECONDS + ${DEVSTACK_START_TIMEOUT:-900}))
until grep -q 'The stack keeps running' "$log" 2>/dev/null; do
    kill -0 "$devstack_pid" 2>/dev/null || { cat "$log" >&2; die "the devstack stopped"; }
    ((SECONDS < deadline)) || { cat "$log" >&2; die "the devstack did not come up in time"; }
    sleep 0.5
done

export API_URL="http://127.0.0.1:$port"
export SCREENSHOT_DIR="$OUT/screenshots"
rm -rf "$SCREENSHOT_DIR"
cd "$CLIENT"
say "the client's tests against $API_URL"
node --test --test-reporter=spec dist/test/client.test.js
say "the console in headless Chromium ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
node --test --test-reporter=spec dist/test/console.browser.test.js
say "screenshots in ${SCREENSHOT_DIR#"$ROOT"/}/: $(cd "$SCREENSHOT_DIR" && echo *.png)"
