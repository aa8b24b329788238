#!/usr/bin/env bash
# Install MathJax 3, require.js and the ipywidgets HTML manager from npm into .web_assets/static/,
# where scripts/offline_assets.py serves them from. Idempotent; without npm it explains and exits 0
# (the book then loads these from CDNs and needs a network to show math and widgets).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.web_assets
stamp=$out/static/.installed
if [ -f "$stamp" ] && cmp -s scripts/web_assets.json "$stamp"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install_web_assets: npm not found; the book will load MathJax and widgets from CDNs (online only)." >&2
  echo "  Install Node.js/npm (e.g. apt-get install npm) and run 'make web-assets' for an offline book." >&2
  exit 0
fi
echo "install_web_assets: installing MathJax, require.js and the widget manager from npm into $out/"
rm -rf "$out"
mkdir -p "$out/static"
cp scripts/web_assets.json "$out/package.json"
npm install --prefix "$out" --no-audit --no-fund --no-package-lock --ignore-scripts --loglevel=error >/dev/null
nm=$out/node_modules
cp -r "$nm/mathjax/es5" "$out/static/mathjax"
cp "$nm/requirejs/require.js" "$out/static/require.js"
mkdir -p "$out/static/html-manager"
# the widget manager's bundle, its lazily loaded chunks and icon fonts (source maps left out: 20 MB)
find "$nm/@jupyter-widgets/html-manager/dist" -maxdepth 1 -type f ! -name '*.map' \
  -exec cp {} "$out/static/html-manager/" \;
cp scripts/web_assets.json "$stamp"
echo "install_web_assets: done ($(du -sh "$out/static" | cut -f1))"
