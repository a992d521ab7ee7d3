#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh machine:
# PostgreSQL reachable on 127.0.0.1:5432, Prometheus + Alertmanager binaries, headless Chromium.
# Idempotent: it only acts on what is missing.
set -euo pipefail

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "services: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps package post-install scripts from starting daemons on their default ports.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# PostgreSQL: started before the session on these machines; start it again if it stopped.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "services: starting PostgreSQL"
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
echo "services: ready (postgres, prometheus $(prometheus --version 2>&1 | head -n1 | awk '{print $3}'), chromium)"
