#!/usr/bin/env bash
# Prints the command to run uv, installing uv from PyPI first when it is missing.
set -euo pipefail
UV_VERSION="${UV_VERSION:-0.13.8}"
if command -v uv >/dev/null 2>&1; then
  echo uv
  exit 0
fi
if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "ensure-uv: installing uv $UV_VERSION from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
fi
echo "python3 -m uv"
