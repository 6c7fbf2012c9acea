#!/usr/bin/env bash
# One-time (idempotent) set-up for building and testing medseal on a fresh machine.
# Every step checks whether it is already done and says so; a warm run takes seconds.
#
# What it provides (see README "Set-up" and ../shared/TOOLCHAIN.md for why):
#   - a Rust toolchain that can build wasm32-unknown-unknown: the rustup target if it can be
#     downloaded (short timeout), otherwise Debian's rustc-web with a wasm32 std built once
#     from rust-web-src, linked as the rustup toolchain "medseal-wasm";
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, and wasm-pack;
#   - Chromium + chromedriver (Debian), OpenSSL headers (for the reference server);
#   - Python's `cryptography` (the independent stream implementation, tests/interop/);
#   - the Node packages pinned in package-lock.json (npm ci), which include binaryen's wasm-opt,
#     and the demo's two browser bundles of them (scripts/vendor-web.mjs -> target/web-vendor/).
# It writes the name of the toolchain to use for wasm builds to target/.wasm-toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

step_start=0
step() { step_name="$1"; step_start=$(date +%s.%N); printf '==> %s\n' "$step_name"; }
done_step() { printf '    %s (%.1fs)\n' "$1" "$(echo "$(date +%s.%N) - $step_start" | bc)"; }

APT_UPDATED=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then return 1; fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "    need root to install: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2; exit 1
  fi
  if [ $APT_UPDATED -eq 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  return 0
}

mkdir -p target

# ---------------------------------------------------------------- base packages
step "system packages (bc, pkg-config, libssl-dev, chromium, chromium-driver, sqlite3)"
command -v bc >/dev/null 2>&1 || { apt-get update -qq && APT_UPDATED=1 && apt-get install -y -qq bc >/dev/null; }
if apt_install pkg-config libssl-dev chromium chromium-driver sqlite3; then done_step "installed"; else done_step "already installed"; fi

# ---------------------------------------------------------------- wasm32 toolchain
step "Rust toolchain with the wasm32-unknown-unknown target"
WASM_TC=""
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  WASM_TC=$(rustup show active-toolchain | cut -d' ' -f1)
  done_step "rustup target present on $WASM_TC"
elif [ -f /usr/lib/rustlib/wasm32-unknown-unknown/lib/.medseal-stamp ] \
     && [ "$(cat /usr/lib/rustlib/wasm32-unknown-unknown/lib/.medseal-stamp)" = "$(/usr/bin/rustc -V 2>/dev/null)" ] \
     && rustup toolchain list | grep -q '^medseal-wasm'; then
  WASM_TC=medseal-wasm
  done_step "Debian rustc-web with wasm32 std already built and linked as medseal-wasm"
elif [ "${MEDSEAL_SKIP_RUSTUP_TARGET:-0}" != 1 ] && timeout 90 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  WASM_TC=$(rustup show active-toolchain | cut -d' ' -f1)
  done_step "rustup target added to $WASM_TC"
else
  echo "    rustup could not download the wasm32 std; building it from Debian's rust-web-src"
  apt_install rustc-web cargo-web rust-web-src rust-web-clippy lld-22 || true
  SCRATCH="$ROOT/target/wasm-std-build"
  rm -rf "$SCRATCH"; mkdir -p "$SCRATCH/src"
  printf '[package]\nname = "wasm-std-build"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' > "$SCRATCH/Cargo.toml"
  printf '#![no_std]\n' > "$SCRATCH/src/lib.rs"
  ( cd "$SCRATCH" && RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
      RUSTFLAGS=-Cembed-bitcode=yes CARGO_TARGET_DIR="$SCRATCH/target" \
      /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort,test )
  LIBDIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib
  mkdir -p "$LIBDIR"
  find "$SCRATCH/target/wasm32-unknown-unknown/release/deps" -name 'lib*.rlib' ! -name 'libwasm_std_build*' -exec cp {} "$LIBDIR/" \;
  /usr/bin/rustc -V > "$LIBDIR/.medseal-stamp"
  rustup toolchain list | grep -q '^medseal-wasm' || rustup toolchain link medseal-wasm /usr
  rm -rf "$SCRATCH"
  WASM_TC=medseal-wasm
  done_step "built wasm32 std with $(/usr/bin/rustc -V) and linked it as medseal-wasm"
fi
echo "$WASM_TC" > target/.wasm-toolchain

# ---------------------------------------------------------------- wasm-bindgen-cli, wasm-pack
# Build tools, not shipped code: they need no speed (they process one small
# module per build), so no optimization, parallel codegen, no debug info, and
# one shared target directory for both installs (their dependency trees
# overlap) instead of full optimization twice.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_STRIP=true
TOOLS_TARGET="$ROOT/target/tools"
step "wasm-bindgen-cli (version from Cargo.lock)"
[ -f Cargo.lock ] || cargo generate-lockfile -q
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$WB_VERSION" ]; then echo "    no wasm-bindgen in Cargo.lock" >&2; exit 1; fi
if command -v wasm-bindgen >/dev/null 2>&1 && [ "$(wasm-bindgen --version | cut -d' ' -f2)" = "$WB_VERSION" ]; then
  done_step "wasm-bindgen $WB_VERSION already installed"
else
  # --locked first (reproducible); a lock that names a yanked crate falls back to a fresh resolve.
  CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q --locked wasm-bindgen-cli --version "$WB_VERSION" 2>/dev/null \
    || CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q wasm-bindgen-cli --version "$WB_VERSION"
  done_step "installed wasm-bindgen-cli $WB_VERSION"
fi

step "wasm-pack"
if command -v wasm-pack >/dev/null 2>&1; then
  done_step "$(wasm-pack --version) already installed"
else
  CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q --locked wasm-pack 2>/dev/null \
    || CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q wasm-pack
  done_step "installed $(wasm-pack --version)"
fi

# ---------------------------------------------------------------- Firefox (the second engine)
# Debian's Firefox ESR, driven headless by geckodriver (tests/firefox/). Debian has no
# geckodriver package and the npm/PyPI wrappers download binaries at install time, so it is
# built from crates.io once (about 3 minutes on 2 cores, with the build-tool profile above)
# into ~/.cargo/bin, and skipped while `geckodriver --version` says the pinned version.
GECKODRIVER_VERSION=0.37.1
step "Firefox ESR (Debian) and geckodriver $GECKODRIVER_VERSION"
ff_note="firefox-esr already installed"
if apt_install firefox-esr; then ff_note="installed firefox-esr"; fi
if command -v geckodriver >/dev/null 2>&1 && [ "$(geckodriver --version | head -1 | cut -d' ' -f2)" = "$GECKODRIVER_VERSION" ]; then
  done_step "$ff_note ($(firefox-esr --version 2>/dev/null)); geckodriver $GECKODRIVER_VERSION already installed"
else
  CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q --locked --force geckodriver --version "$GECKODRIVER_VERSION"
  done_step "$ff_note ($(firefox-esr --version 2>/dev/null)); built geckodriver $GECKODRIVER_VERSION"
fi

# ---------------------------------------------------------------- checks of the dependencies and parsers
# cargo-deny (licenses, bans, sources of the dependency graph: deny.toml) and cargo-fuzz
# (a short smoke run of every fuzz target: scripts/fuzz-smoke.sh), built once from crates.io
# like the tools above. cargo-fuzz needs a nightly toolchain; where there is none, the smoke
# run says so and is skipped.
DENY_VERSION=0.20.2
FUZZ_VERSION=0.13.2
step "cargo-deny $DENY_VERSION and cargo-fuzz $FUZZ_VERSION"
notes=()
if command -v cargo-deny >/dev/null 2>&1 && [ "$(cargo deny --version | cut -d' ' -f2)" = "$DENY_VERSION" ]; then
  notes+=("cargo-deny already installed")
else
  CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q --locked --force cargo-deny --version "$DENY_VERSION"
  notes+=("built cargo-deny")
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  notes+=("no nightly toolchain: cargo-fuzz not installed (the fuzz smoke run will say so)")
elif command -v cargo-fuzz >/dev/null 2>&1 && [ "$(cargo fuzz --version | cut -d' ' -f2)" = "$FUZZ_VERSION" ]; then
  notes+=("cargo-fuzz already installed")
else
  CARGO_TARGET_DIR="$TOOLS_TARGET" cargo install -q --locked --force cargo-fuzz --version "$FUZZ_VERSION"
  notes+=("built cargo-fuzz")
fi
done_step "$(IFS=';'; echo "${notes[*]}")"

# ---------------------------------------------------------------- Python's cryptography
# tests/interop/stream_c2sp.py checks the stream vectors (FORMAT.md §17) with a second
# implementation written from the format text alone, on the `cryptography` package.
CRYPTOGRAPHY_VERSION=48.0.0
step "Python package cryptography (tests/interop/)"
if python3 -c 'import cryptography' >/dev/null 2>&1; then
  done_step "cryptography $(python3 -c 'import cryptography; print(cryptography.__version__)') already installed"
else
  python3 -m pip install -q --disable-pip-version-check "cryptography==$CRYPTOGRAPHY_VERSION"
  done_step "installed cryptography $CRYPTOGRAPHY_VERSION"
fi

# ---------------------------------------------------------------- node packages
step "Node packages (npm ci)"
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json target/.npm-ci-stamp; then
  done_step "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json target/.npm-ci-stamp
  done_step "npm ci done"
fi
step "web app vendor bundles (qrcode, jsqr)"
node scripts/vendor-web.mjs
done_step "target/web-vendor/ built"
echo "set-up complete (wasm toolchain: $WASM_TC)"
