#!/usr/bin/env bash
# Installs what renewtwin needs on a fresh Debian/Ubuntu machine. Idempotent: safe to re-run.
#   scripts/setup.sh          the build (wasm target for the viewer)
#   scripts/setup.sh --test   also what the tests need (headless Chromium + ChromeDriver, fonts,
#                             Mesa's software Vulkan/GL for `renewtwin render`'s golden images,
#                             axe-core from the npm registry for the browser test's audit, the
#                             standards validators (PyPI openapi-spec-validator and IfcOpenShell in
#                             a virtual environment, npm gltf-validator, and npm cesium for the 3D
#                             Tiles browser test, all in caches outside the
#                             repository), PostgreSQL 15 for the tests of the PostgreSQL backend
#                             (.ci/run starts a throw-away cluster with scripts/pg-throwaway.sh)
#                             and nats-server)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The viewer is Rust compiled to wasm; rustup's auto-install is off on some machines.
rustup target add wasm32-unknown-unknown

if [ "$want_test" = 1 ]; then
  pkgs=(chromium chromium-driver fonts-liberation fonts-noto-cjk
        mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri
        postgresql-15 nats-server)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi

  # axe-core, the accessibility audit the browser test runs in the page, from the npm registry
  # into a cache outside the repository; cli/tests/browser/a11y.rs reads axe.min.js there.
  axe_version=4.14.1
  axe_dir="${RENEWTWIN_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/renewtwin/npm}"
  if ! grep -qs "\"version\": \"$axe_version\"" "$axe_dir/node_modules/axe-core/package.json"; then
    if ! command -v npm >/dev/null; then
      echo "setup: installing npm" >&2
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends npm
    fi
    echo "setup: installing axe-core $axe_version into $axe_dir" >&2
    mkdir -p "$axe_dir"
    npm install --prefix "$axe_dir" --no-audit --no-fund --no-save --ignore-scripts --loglevel=error "axe-core@$axe_version"
  fi

  # The standards validators the export tests run (server/tests/openapi.rs, exporters' tests):
  # npm gltf-validator (the Khronos glTF Validator) beside axe-core, and PyPI
  # openapi-spec-validator and ifcopenshell in a virtual environment under the cache.
  # CesiumJS (npm cesium) beside them, for the browser test that loads the 3D Tiles export
  # (cli/tests/browser/cesium.rs serves its Build/Cesium locally: no network, no Ion token).
  # npm prunes what a --no-save install does not name, so each install names all three.
  gltf_validator_version=2.0.0-dev.3.10
  cesium_version=1.145.0
  ifcopenshell_version=0.9.0.post1
  if ! grep -qs "\"version\": \"$gltf_validator_version\"" "$axe_dir/node_modules/gltf-validator/package.json" \
     || ! grep -qs "\"version\": \"$cesium_version\"" "$axe_dir/node_modules/cesium/package.json"; then
    echo "setup: installing gltf-validator $gltf_validator_version and cesium $cesium_version into $axe_dir" >&2
    npm install --prefix "$axe_dir" --no-audit --no-fund --no-save --ignore-scripts --loglevel=error \
      "axe-core@$axe_version" "gltf-validator@$gltf_validator_version" "cesium@$cesium_version"
  fi
  command -v node >/dev/null || { as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs; }
  py_dir="${RENEWTWIN_PY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/renewtwin/python}"
  if ! "$py_dir/bin/python3" -c "import openapi_spec_validator, ifcopenshell.validate" 2>/dev/null; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv
    fi
    echo "setup: installing openapi-spec-validator and ifcopenshell into $py_dir" >&2
    python3 -m venv "$py_dir"
    "$py_dir/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==0.7.2" "ifcopenshell==$ifcopenshell_version"
  fi
fi
