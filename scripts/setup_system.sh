#!/usr/bin/env bash
# Install the system packages the course uses, where this machine allows it (Debian/Ubuntu, as root or
# with password-less sudo). Idempotent: does nothing when they are already there.
#   scripts/setup_system.sh data      Debian's dataset-fashion-mnist (Fashion-MNIST, offline)
#   scripts/setup_system.sh browser   what the tests need: Debian's chromium (the book rendered headless), a
#                                     font with Chinese glyphs (the Chinese edition's screenshots) and
#                                     the grader's sandbox (below)
#   scripts/setup_system.sh fonts     a font with Chinese glyphs (fonts-wqy-microhei): the book's figures are
#                                     drawn in Chinese too (book/figure_language.py), and `make book` checks
#                                     that matplotlib finds one
#   scripts/setup_system.sh sandbox   Debian's bubblewrap, the sandbox the grader runs each submission in (with
#                                     setpriv and prlimit from util-linux)
# Where apt cannot be used it says what to do and exits 0: Fashion-MNIST is then downloaded on first use
# (needs a network), the browser tests say what is missing, and class grading refuses to run without a sandbox
# (python -m grader says why).
set -euo pipefail

want=()
for what in "$@"; do
  case "$what" in
    data)    [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || want+=(dataset-fashion-mnist) ;;
    fonts)   fc-list :lang=zh 2>/dev/null | grep -q . || want+=(fonts-wqy-microhei) ;;
    browser) command -v chromium >/dev/null 2>&1 || want+=(chromium)
             # a font with Chinese glyphs: without one, headless Chromium draws the Chinese edition as boxes
             fc-list :lang=zh 2>/dev/null | grep -q . || want+=(fonts-wqy-microhei) ;&
    sandbox) command -v bwrap >/dev/null 2>&1 || want+=(bubblewrap)
             { command -v setpriv && command -v prlimit; } >/dev/null 2>&1 || want+=(util-linux) ;;
    *) echo "setup_system: unknown component '$what' (expected: data, fonts, browser, sandbox)" >&2; exit 2 ;;
  esac
done
[ ${#want[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_system: no apt-get here; not installing ${want[*]}." >&2
  echo "  Fashion-MNIST will be downloaded on first use (python -m book.data download fashion-mnist)." >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "setup_system: not root; to install ${want[*]} run:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${want[*]}" >&2
  exit 0
fi
echo "setup_system: apt-get install ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
