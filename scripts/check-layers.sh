#!/usr/bin/env bash
# The crate invariants of ARCHITECTURE.md, checked on the dependency graph (`cargo tree`):
# a crate that must not know a technology must not depend on it, even indirectly.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# forbid PACKAGE REGEX WHY [cargo tree options...]
forbid() {
  local package=$1 pattern=$2 why=$3
  shift 3
  local found
  found=$(cargo tree --locked -p "$package" -e normal --prefix none "$@" | awk '{print $1}' | sort -u | grep -E "^($pattern)$" || true)
  if [ -n "$found" ]; then
    echo "check-layers: $package depends on $(echo "$found" | tr '\n' ' ')— $why" >&2
    fail=1
  fi
}

forbid renewtwin-importers 'bevy_.*|tokio|wgpu|axum' "importers use no Bevy, tokio or wgpu"
forbid renewtwin-protocol 'bevy_.*|wgpu|axum|tokio' "protocol knows no ECS, wgpu or server"
forbid renewtwin-twin 'axum|hyper|http|rusqlite|postgres|tokio-postgres|wgpu|renewtwin-civic|renewtwin-server|renewtwin-store' "the twin knows no HTTP or SQL"
# Only the store talks to a database driver; the civic domain and the server go through its
# SQL layer (renewtwin_store::db), which translates one dialect for SQLite and PostgreSQL.
forbid renewtwin-civic 'rusqlite|postgres|tokio-postgres' "civic uses the store's SQL layer, not a driver" --depth 1
forbid renewtwin-server 'rusqlite|postgres|tokio-postgres' "the server uses the store, not a driver" --depth 1
forbid renewtwin-exporters 'axum|hyper|http|rusqlite|postgres|tokio-postgres|wgpu|renewtwin-civic|renewtwin-server|renewtwin-store|renewtwin-render' "the exporters know no HTTP, SQL or GPU"
forbid renewtwin-civic 'axum|hyper|http|wgpu|renewtwin-server' "the civic domain knows no HTTP"
forbid renewtwin-store 'axum|hyper|http|wgpu' "the store knows no HTTP"
forbid renewtwin-server 'wgpu|renewtwin-render' "a server build links no renderer"
forbid renewtwin 'wgpu|renewtwin-render' "renewtwin --no-default-features links no renderer" --no-default-features
forbid renewtwin-render 'renewtwin-twin|renewtwin-server|renewtwin-civic|renewtwin-store|bevy_.*|axum' "the renderer never depends on the engine crates"
forbid renewtwin-web-viewer 'renewtwin-twin|renewtwin-server|renewtwin-civic|renewtwin-store|bevy_.*|axum' "the viewer never depends on the engine crates" --target wasm32-unknown-unknown

if [ "$fail" = 0 ]; then
  echo "check-layers: every crate invariant holds"
fi
exit "$fail"
