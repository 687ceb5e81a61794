#!/usr/bin/env bash
# Regenerate the documentation's screenshots (docs/screenshots/*.png): the browser tests take them as they
# walk the app, so the pictures and the tests never drift apart. Needs chromium (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
ARTIFACTS_DIR=docs/screenshots python -m pytest -q -p no:cacheprovider tests/test_browser.py "$@"
