#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's chromium through Playwright, never a browser
# Playwright downloads (`playwright install` is not needed). Called by `make install`: installs
# the `chromium` package with apt-get when /usr/bin/chromium is missing and we may (root, or
# passwordless sudo). It never fails the install: when it cannot, it says so in one line and
# the browser tests skip (or fail, with KEELSON_REQUIRE_BROWSER=1, as in CI). With it, fonts
# for the portal's languages whose script a bare Debian lacks (Thai, Chinese), so that pages
# and screenshots in them show letters, not boxes.
set -u

CHROMIUM=/usr/bin/chromium
has_font_for() { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list ":lang=$1" family 2>/dev/null | head -n 1)" ]; }
packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
has_font_for th || packages+=(fonts-thai-tlwg)
has_font_for zh-cn || packages+=(fonts-noto-cjk)
[ ${#packages[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: ${packages[*]} missing and apt-get is not available: install Chromium at $CHROMIUM to run the browser tests (they skip meanwhile)."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-browser: ${packages[*]} missing: run 'sudo apt-get install -y ${packages[*]}' to run the browser tests (they skip meanwhile)."
  exit 0
fi

echo "install-browser: installing ${packages[*]} for the browser tests (apt-get, a few minutes)..."
log=$(mktemp -t keelson-install-browser.XXXXXX.log)
# Another apt run on the machine holds dpkg's lock: wait for it rather than fail.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)
if { "${apt[@]}" install --no-install-recommends "${packages[@]}" \
     || { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${packages[@]}"; }; } >"$log" 2>&1 \
   && [ -x "$CHROMIUM" ]; then
  echo "install-browser: $("$CHROMIUM" --version 2>/dev/null | head -n 1) and fonts ready (${packages[*]} installed)."
  rm -f "$log"
else
  echo "install-browser: apt-get could not install ${packages[*]} (see $log): without chromium the browser tests skip."
fi
exit 0
