#!/usr/bin/env bash
# The scale-out tests start their own Redis (tests/integration/test_redis_scale_out.py: two
# qclusters on django-q2's Redis broker) and PgBouncer (tests/tenants/test_transaction_pooling.py:
# the tenant scope behind transaction pooling) from Debian's `redis-server` and `pgbouncer`.
# Called by `make install`: installs the packages with apt-get when a binary is missing and we
# may (root, or passwordless sudo); the services are not enabled or started (the tests run
# their own, on free loopback ports). It never fails the install: when it cannot, it says so in
# one line and those tests skip.
set -u

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-services: ${missing[*]} missing and apt-get is not available: install them to run the scale-out tests (they skip meanwhile)."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-services: ${missing[*]} missing: run 'sudo apt-get install -y ${missing[*]}' to run the scale-out tests (they skip meanwhile)."
  exit 0
fi

echo "install-services: installing ${missing[*]} for the scale-out tests (apt-get)..."
log=$(mktemp -t keelson-install-services.XXXXXX.log)
# Do not start the daemons the packages ship (policy-rc.d answers "not now" to invoke-rc.d).
policy=/usr/sbin/policy-rc.d
placed_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null && "${as_root[@]}" chmod +x "$policy" && placed_policy=1
fi
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)
if { "${apt[@]}" install --no-install-recommends "${missing[@]}" \
     || { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"; }; } >"$log" 2>&1; then
  echo "install-services: ${missing[*]} installed."
  rm -f "$log"
else
  echo "install-services: apt-get could not install ${missing[*]} (see $log): the scale-out tests skip until they exist."
fi
[ "$placed_policy" -eq 1 ] && "${as_root[@]}" rm -f "$policy"
exit 0
