#!/usr/bin/env bash
# Brings a fresh machine (Debian 12, Node 20) to the point where the engine runs, its tests run,
# or its benchmarks run. Idempotent and quick once done: each step checks before it acts.
#
# Usage: scripts/setup.sh start|test|bench
#   1. Debian packages (apt-get), only those missing
#   2. npm ci, when package-lock.json changed since the last install
#   3. the mediasoup worker (built once, cached outside the clone)
#   4. the TypeScript build (incremental), and the dashboard's bundle (skipped when web/ is unchanged)
set -euo pipefail

profile=${1:-start}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { printf '[setup] %s\n' "$*" >&2; }

# --- 1. system packages ---------------------------------------------------------------------
# The mediasoup worker build needs these (see DESIGN.md, "Media facts").
pkgs=(g++ make python3 pkg-config meson ninja-build libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev)
case "$profile" in
  start) ;;
  # Real peers for the tests: SIPp and baresip (SIP), SIPVicious (scanners), Debian chromium (docs pages, softphone).
  test) pkgs+=(sip-tester baresip-core chromium sipvicious) ;;
  # Peers for the benchmarks: Kamailio (SIP), wrk (HTTP); plus the test peers.
  bench) pkgs+=(sip-tester baresip-core chromium sipvicious kamailio wrk) ;;
  *) log "unknown profile '$profile' (start|test|bench)"; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || {
      log "need root to run: apt-get install -y ${missing[*]}"; exit 1; }
    sudo=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Package lists may be empty on a fresh machine: update once, then install.
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >/tmp/agent-studio-apt.log 2>&1; then
    "${sudo[@]}" apt-get update </dev/null >>/tmp/agent-studio-apt.log 2>&1
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >>/tmp/agent-studio-apt.log 2>&1 \
      || { tail -20 /tmp/agent-studio-apt.log >&2; log "apt-get install failed"; exit 1; }
  fi
fi

# --- 2. npm dependencies --------------------------------------------------------------------
# mediasoup's own install step would try to download a prebuilt worker; pointing it at our
# cached build skips that (step 3 builds it).
worker_version=$(node -p "require('./package-lock.json').packages['node_modules/mediasoup'].version")
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/agent-studio"
export MEDIASOUP_WORKER_BIN="$cache_root/mediasoup-worker-$worker_version/mediasoup-worker"

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.agent-studio-lock
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  log "npm ci (dependencies changed or not installed; takes a minute or two)"
  npm ci --no-audit --no-fund </dev/null >&2
  echo "$lock_hash" > "$stamp"
fi

# --- 3. mediasoup worker (cached) -----------------------------------------------------------
mkdir -p "$cache_root"
# Two commands started at once (start and test) must not build twice into the same place.
(
  flock 9
  scripts/build-mediasoup-worker.sh >/dev/null
) 9>"$cache_root/.build.lock"

# --- 4. TypeScript --------------------------------------------------------------------------
# An incremental build leaves output of deleted sources behind (a deleted test would still run).
if [ -d dist ]; then
  # dist/web/ is the dashboard's bundle (scripts/build-web.mjs), not tsc's output.
  find dist -path dist/web -prune -o -name '*.js' -print | while read -r js; do
    src=${js#dist/}; src=${src%.js}.ts
    [ -f "$src" ] || rm -f "$js" "$js.map"
  done
fi
if ! npx --no-install tsc -p . >&2; then
  log "TypeScript build failed"
  exit 1
fi
# The dashboard (web/ -> dist/web/): type-checked and bundled, skipped when its sources are unchanged.
if ! node scripts/build-web.mjs; then
  log "dashboard build failed"
  exit 1
fi
