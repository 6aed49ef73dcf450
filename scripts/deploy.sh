#!/usr/bin/env bash
# `make deploy`: deploys what `make build` built (.aws-sam/build) with `sam deploy` and the
# settings of samconfig.toml (stack, parameters; docs/deploy.md says which to fill in first).
#
#   scripts/deploy.sh                                   # asks to confirm the change set
#   scripts/deploy.sh --no-confirm-changeset --no-fail-on-empty-changeset   # CI
#
# Extra arguments go to `sam deploy`. AWS credentials and region come from the usual places
# (AWS_PROFILE, AWS_REGION, ...). When scripts/build.sh had to build for another architecture
# than samconfig.toml's `Architecture=`, the samconfig parameters are passed again with that
# architecture, so the functions are never deployed with binaries of the wrong architecture.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_VENV="$ROOT/.venv/build"

die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

[[ -x "$BUILD_VENV/bin/sam" ]] || die "the SAM CLI is not installed: run \`make build\` first"
[[ -f .aws-sam/build/template.yaml ]] || die "nothing built: run \`make build\` first"
export PATH="$BUILD_VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0

built_arch="$(cat .aws-sam/build/architecture 2>/dev/null || echo arm64)"

# samconfig.toml's deploy parameter_overrides, with Architecture replaced by the built one when
# they differ; empty when they agree (then samconfig.toml applies unchanged).
mapfile -t overrides < <("$BUILD_VENV/bin/python" - "$built_arch" <<'PY'
import sys, tomllib
arch = sys.argv[1]
cfg = tomllib.load(open("samconfig.toml", "rb"))
params = cfg.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
if isinstance(params, str):
    params = params.split()
configured = next((p.split("=", 1)[1] for p in params if p.startswith("Architecture=")), "arm64")
if configured != arch:
    for p in params:
        if not p.startswith("Architecture="):
            print(p)
    print(f"Architecture={arch}")
PY
)

if ((${#overrides[@]})); then
    printf 'deploy: the functions were built for %s; deploying with Architecture=%s\n' "$built_arch" "$built_arch" >&2
    exec sam deploy --parameter-overrides "${overrides[@]}" "$@"
fi
exec sam deploy "$@"
