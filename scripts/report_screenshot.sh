#!/usr/bin/env bash
# Renders a clipzs report page in headless Chromium and saves a screenshot, to look at it as a reader
# would (Debian: apt-get install chromium). Not used by the tests, which need no browser.
#   scripts/report_screenshot.sh REPORT_DIR OUT.png [WIDTH [HEIGHT]]
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: $0 REPORT_DIR OUT.png [WIDTH [HEIGHT]]" >&2; exit 2; fi
page=$(realpath "$1/report.html")
[ -f "$page" ] || { echo "$1 has no report.html" >&2; exit 3; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found: apt-get install chromium" >&2; exit 4; }
# --no-sandbox: root in a container has no user namespaces for the sandbox; the page is our own file.
"$browser" --headless --disable-gpu --no-sandbox --hide-scrollbars --window-size="${3:-1200},${4:-4000}" \
  --screenshot="$(realpath -m "$2")" "file://$page" 2>/dev/null
echo "wrote $2" >&2
