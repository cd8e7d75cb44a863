#!/usr/bin/env bash
# Build the documentation site and photograph what a reader sees, in headless Chromium: the
# landing page, one method's API page (SmoothTaylor: signature, docstring, formula, example) and
# one tutorial (figures from stored outputs).
#   needs: pip install -e '.[docs]'; apt-get install chromium fonts-dejavu-core
#   usage: docs/screenshot.sh [OUT]        (default build/screenshots; PNGs, 1280 px wide)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/screenshots}
sphinx-build -W --keep-going -q -b html -c docs . build/docs
mkdir -p "$out"
site="file://$PWD/build/docs"
shoot() {  # name, page, height in pixels
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" \
        --virtual-time-budget=5000 --screenshot="$out/$1.png" "$site/$2" 2>/dev/null
}
shoot index index.html 1400
shoot smoothtaylor docs/api/attr/SmoothTaylor.html 1600
shoot tutorial tutorials/1_smoothtaylor_vs_ig.html 9000
ls -1 "$out"/*.png
