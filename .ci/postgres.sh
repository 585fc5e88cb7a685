#!/usr/bin/env bash
# Installs and starts a local PostgreSQL for the store test suite, and prints
# the URL to export as CUSTOS_TEST_POSTGRES_URL. Idempotent.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
pg_ctlcluster "$version" main status >/dev/null 2>&1 || pg_ctlcluster "$version" main start
for _ in $(seq 1 30); do
  su postgres -c "pg_isready -q -h 127.0.0.1" && break
  sleep 1
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname = 'custos'\"" | grep -q 1 \
  || su postgres -c "psql -q -c \"CREATE ROLE custos LOGIN CREATEDB PASSWORD 'custos-test-only'\""
echo "postgres://custos:custos-test-only@127.0.0.1:5432/postgres"
