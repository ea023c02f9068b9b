#!/usr/bin/env bash
# System packages behind `lgs metastore` (the shared Hive metastore in PostgreSQL):
# Debian's `postgresql` server and the PostgreSQL JDBC driver (`libpostgresql-jdbc-java`,
# /usr/share/java/postgresql.jar). The Spark standalone cluster and the Thrift server need
# nothing more: they run from the pyspark install.
#
# Idempotent and quick when everything is present (a few `test`s, no apt-get). Installs with
# apt-get when run as root; otherwise says in one sentence what to install.
set -euo pipefail

have_server() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null &&
        compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

missing=()
have_server || missing+=(postgresql)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: the shared metastore needs ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and retry." >&2
    exit 2
fi
echo "Installing ${missing[*]} with apt-get..."
export DEBIAN_FRONTEND=noninteractive
# `lgs metastore` runs its own private PostgreSQL cluster under the state folder: the package's
# default cluster (listening on port 5432) would only be an unused server to secure.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
fi
apt-get update -qq >/dev/null
# force-confold keeps the createcluster.conf written above when postgresql-common arrives.
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
