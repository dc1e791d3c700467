#!/usr/bin/env bash
# Builds mediasoup's C++ worker from the npm package's own sources against Debian's libraries,
# and caches the binary outside the clone, keyed by mediasoup version.
#
# Why: mediasoup's install step downloads a prebuilt worker or, failing that, subproject sources
# through meson .wrap files. Neither works offline. mediasoup 3.12.16's dependencies match
# Debian 12 packages, so each subproject is replaced by a stub that exposes the system library
# under the variable names the worker's meson.build asks for.
#
# Usage: scripts/build-mediasoup-worker.sh            (prints the cached binary's path)
# Env:   AS_CACHE_DIR   cache root (default: $XDG_CACHE_HOME or ~/.cache, + /agent-studio)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/node_modules/mediasoup/worker"
version=$(node -p "require('$here/node_modules/mediasoup/package.json').version")
cache_root="${AS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-studio}"
out_dir="$cache_root/mediasoup-worker-$version"
bin="$out_dir/mediasoup-worker"

log() { printf '[mediasoup-worker] %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
[ -d "$src" ] || { log "mediasoup sources not found at $src (run npm ci first)"; exit 1; }

log "building mediasoup $version worker (takes ~4 min on 2 cores; cached afterwards in $out_dir)"
work=$(mktemp -d "${TMPDIR:-/tmp}/mediasoup-worker-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/worker"
cd "$work/worker"

# Debian 12 ships meson 1.0.1; nothing in this file needs 1.1.
sed -i "s/meson_version: '>= 1.1.0'/meson_version: '>= 1.0.0'/" meson.build

# One stub subproject per dependency: the system library as *_dep, an empty static library as
# *_lib (meson.build link_whole's them, which only works with build targets).
rm -rf subprojects && mkdir subprojects
stub() { # name, body, [option names the worker passes to it]
  mkdir -p "subprojects/$1"
  printf "project('%s', 'c')\n%s\n" "$1" "$2" > "subprojects/$1/meson.build"
  : > "subprojects/$1/empty.c"
  for opt in ${3:-}; do
    printf "option('%s', type: 'string', value: '')\n" "$opt" >> "subprojects/$1/meson_options.txt"
  done
}
stub openssl "openssl_dep = dependency('openssl')
libcrypto_lib = static_library('crypto_stub', 'empty.c')
libssl_lib = static_library('ssl_stub', 'empty.c')"
stub nlohmann_json "nlohmann_json_dep = dependency('nlohmann_json')"
stub libuv "libuv_dep = dependency('libuv')
libuv = static_library('uv_stub', 'empty.c')" "build_tests build_benchmarks"
# Debian installs srtp.h under include/srtp2/, and its .pc file does not say so.
stub libsrtp2 "libsrtp2_dep = declare_dependency(dependencies: dependency('libsrtp2'), include_directories: include_directories('/usr/include/srtp2'))
libsrtp2 = static_library('srtp_stub', 'empty.c')" "crypto-library crypto-library-kdf tests"
stub usrsctp "usrsctp_dep = dependency('usrsctp')
usrsctp = static_library('usrsctp_stub', 'empty.c')" "sctp_build_programs"
stub abseil-cpp "absl_container_dep = declare_dependency(dependencies: [dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set'), dependency('absl_btree'), dependency('absl_inlined_vector')])
absl_container_lib = static_library('absl_stub', 'empty.c')
absl_strings_dep = dependency('absl_strings')
absl_types_dep = declare_dependency(dependencies: [dependency('absl_optional'), dependency('absl_variant'), dependency('absl_span'), dependency('absl_memory')])"
stub catch2 "catch2_dep = declare_dependency()"

jobs=$(nproc)
log "configuring (meson, buildtype=release)"
meson setup build --buildtype=release -Db_ndebug=true --wrap-mode=nodownload >"$work/meson.log" 2>&1 \
  || { tail -40 "$work/meson.log" >&2; exit 1; }
log "compiling with $jobs jobs"
# ninja prints one [n/total] line per step: show every 10th, keep the rest (warnings) in the log.
set +e
ninja -C build -j "$jobs" mediasoup-worker 2>&1 | tee "$work/ninja.log" | awk '
  /^\[[0-9]+\/[0-9]+\]/ { split($1, a, /[\[\/\]]/); if (a[2] % 10 == 0 || a[2] == a[3]) { printf "[mediasoup-worker] step %s/%s\n", a[2], a[3]; fflush() } }' >&2
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  grep -E "error|Error" "$work/ninja.log" | head -40 >&2
  log "compile failed (exit $status)"
  exit 1
fi

mkdir -p "$out_dir"
install -m 0755 build/mediasoup-worker "$bin.tmp"
mv "$bin.tmp" "$bin"
log "done in $((SECONDS / 60))m$((SECONDS % 60))s: $bin"
echo "$bin"
