#!/usr/bin/env bash
# The portal's languages (README, "Languages"): Django's compilemessages needs GNU gettext's
# msgfmt, and the catalogue test (tests/portal/test_translations.py) also xgettext. Called by
# `make install`: installs Debian's `gettext` package with apt-get when msgfmt is missing and we
# may (root, or passwordless sudo). It never fails the install: when it cannot, it says so in one
# line (the portal then shows English, and the catalogue test skips unless
# KEELSON_REQUIRE_GETTEXT=1, as in CI).
set -u

command -v msgfmt >/dev/null 2>&1 && command -v xgettext >/dev/null 2>&1 && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-gettext: msgfmt is missing and apt-get is not available: install GNU gettext to see the portal in its languages (English meanwhile)."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-gettext: msgfmt is missing: run 'sudo apt-get install -y gettext' to see the portal in its languages (English meanwhile)."
  exit 0
fi

echo "install-gettext: installing GNU gettext for the portal's translations (apt-get)..."
log=$(mktemp -t keelson-install-gettext.XXXXXX.log)
# Another apt run on the machine holds dpkg's lock: wait for it rather than fail.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)
if { "${apt[@]}" install --no-install-recommends gettext \
     || { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends gettext; }; } >"$log" 2>&1 \
   && command -v msgfmt >/dev/null 2>&1; then
  echo "install-gettext: $(msgfmt --version | head -n 1) installed."
  rm -f "$log"
else
  echo "install-gettext: apt-get could not install gettext (see $log): the portal shows English until msgfmt exists."
fi
exit 0
