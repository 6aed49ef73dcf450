#!/usr/bin/env bash
# `make build`: builds every function in template.yaml into .aws-sam/build/<LogicalId>/bootstrap
# with `sam build` (rust-cargolambda build method), ready for `make deploy`.
#
#   scripts/build.sh                     # arm64 (the template's default), x86_64 if arm64 cannot be had
#   ARCHITECTURE=x86_64 scripts/build.sh # pick the architecture
#   CARGO_BUILD_JOBS=1 scripts/build.sh  # be gentle on a shared machine
#
# What it does:
# 1. installs the pinned tools of requirements-build.txt (SAM CLI, cargo-lambda, zig) into their
#    own environment inside the project's .venv (.venv/build): the SAM CLI pins boto3, pydantic
#    and cfn-lint ranges of its own, which must not move the test tools in .venv;
# 2. makes sure the Rust target of the architecture is installed (rustup target add), falling
#    back to x86_64 when the arm64 target cannot be fetched and no architecture was asked for;
# 3. runs `sam build --no-cached` (see below) for that architecture;
# 4. checks that every function of template.yaml got a bootstrap of the right architecture and
#    lists them with their sizes. The architecture used is written to
#    .aws-sam/build/architecture, where scripts/deploy.sh reads it.
#
# Why --no-cached: samconfig.toml says `cached = true`, but SAM keys its cache on a checksum of the
# function's CodeUri, which is the whole work tree here (.git, .venv, target/): hashing takes
# long and a hit is rare. Cargo's own incremental build in CARGO_TARGET_DIR is the cache that
# works; SAM resolves the workspace's target directory itself (cargo metadata), and an explicit
# CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
BUILD_VENV="$ROOT/.venv/build"
REQS="$ROOT/requirements-build.txt"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'build: %s\n' "$*" >&2; exit 1; }

# 1. tools ----------------------------------------------------------------------------------
stamp="$BUILD_VENV/.installed-$(sha1sum "$REQS" | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
    say "installing build tools from requirements-build.txt into .venv/build"
    "$PYTHON" -m venv "$BUILD_VENV"
    "$BUILD_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
    rm -f "$BUILD_VENV"/.installed-*
    touch "$stamp"
fi
export PATH="$BUILD_VENV/bin:$PATH"          # sam, cargo-lambda, and python3 -m ziglang for zig
export SAM_CLI_TELEMETRY=0
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup)"
sam --version >&2
cargo lambda --version >&2

# 2. architecture and Rust target ----------------------------------------------------------
rust_target() { case "$1" in arm64) echo aarch64-unknown-linux-gnu ;; x86_64) echo x86_64-unknown-linux-gnu ;; *) die "unknown architecture $1 (arm64 or x86_64)" ;; esac; }
have_target() {
    # Without rustup (a distribution's Rust), only the host target is there.
    if command -v rustup >/dev/null; then
        rustup target list --installed | grep -qx "$1"
    else
        [[ "$(rustc -vV | sed -n 's/^host: //p')" == "$1" ]]
    fi
}
ensure_target() {
    have_target "$1" && return 0
    command -v rustup >/dev/null || return 1
    say "rustup target add $1"
    timeout 300 rustup target add "$1" >&2
}

requested="${ARCHITECTURE:-}"
arch="${requested:-arm64}"
if ! ensure_target "$(rust_target "$arch")"; then
    if [[ -n "$requested" ]]; then
        die "the Rust target $(rust_target "$arch") for $arch cannot be installed here"
    fi
    say "the arm64 Rust target cannot be installed here: building for x86_64 instead"
    say "(scripts/deploy.sh deploys with Architecture=x86_64 to match)"
    arch=x86_64
    ensure_target "$(rust_target "$arch")" || die "no Rust target for x86_64 either"
fi

# 3. sam build -----------------------------------------------------------------------------
say "sam build for $arch"
rm -f .aws-sam/build/architecture
started=$SECONDS
sam build --no-cached --parameter-overrides "Architecture=$arch" "$@"
say "sam build took $((SECONDS - started)) s"
printf '%s\n' "$arch" > .aws-sam/build/architecture

# 4. check and list ------------------------------------------------------------------------
"$BUILD_VENV/bin/python" - "$arch" <<'PY'
import os, sys, yaml

arch = sys.argv[1]
machine = {"arm64": 0xB7, "x86_64": 0x3E}[arch]

class Loader(yaml.SafeLoader):
    pass

# CloudFormation short forms (!Ref, !Sub, ...) are irrelevant here: read them as plain values.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)

template = yaml.load(open("template.yaml"), Loader=Loader)
functions = [
    (name, (res.get("Metadata") or {}).get("BuildProperties", {}).get("Binary", name))
    for name, res in (template.get("Resources") or {}).items()
    if res.get("Type") == "AWS::Serverless::Function"
    and (res.get("Metadata") or {}).get("BuildMethod") == "rust-cargolambda"
]
if not functions:
    sys.exit("build: template.yaml has no rust-cargolambda function")

missing = []
print(f"\n{'function':<28} {'binary':<16} {'bootstrap':>11}  arch")
total = 0
for name, binary in sorted(functions):
    path = os.path.join(".aws-sam", "build", name, "bootstrap")
    if not os.path.isfile(path):
        missing.append(f"{name} ({path} missing)")
        print(f"{name:<28} {binary:<16} {'MISSING':>11}")
        continue
    with open(path, "rb") as f:
        head = f.read(20)
    ok = head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == machine
    size = os.path.getsize(path)
    total += size
    print(f"{name:<28} {binary:<16} {size / 2**20:>7.2f} MiB  {arch if ok else 'WRONG'}")
    if not ok:
        missing.append(f"{name} (not an {arch} ELF executable)")
print(f"{len(functions)} functions, {total / 2**20:.1f} MiB in all, in .aws-sam/build/")
if missing:
    sys.exit("build: " + "; ".join(missing))
PY
