#!/usr/bin/env bash
# Debian's `chromium` for the browser tests (tests/browser): Playwright drives this
# executable (its own browser download is not used). Installs it when missing and we are
# root with apt-get (CI runs as root on a fresh Debian machine); prints its path.
set -euo pipefail
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q --no-install-recommends chromium \
      || { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }; } >&2
fi
if [ -x /usr/bin/chromium ]; then
  echo /usr/bin/chromium
  exit 0
fi
echo "ensure-chromium: chromium is not installed and could not be installed" >&2
exit 1
