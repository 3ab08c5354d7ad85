#!/usr/bin/env bash
# Back up a salesfolio installation: the app store, the warehouse and the workspace folder (docs/deploy.md).
#
# Usage:  backup.sh [ENV_FILE]          ENV_FILE defaults to /etc/salesfolio/salesfolio.env
# Cron:   15 2 * * *  salesfolio  /opt/salesfolio/deploy/backup.sh
#
# From the env file (and the environment): SALESFOLIO_WORKSPACE (the workspace folder), and optionally
# SALESFOLIO_STORE_URL / SALESFOLIO_WAREHOUSE_URL (else the URLs in salesfolio.toml), plus
#   BACKUP_DIR         where to write; one folder per run, named by UTC time (default /var/backups/salesfolio)
#   BACKUP_KEEP_DAYS   runs older than this many days are deleted (default 14)
#   SALESFOLIO_PYTHON  the venv's python (default /opt/salesfolio/venv/bin/python)
#
# What it writes into BACKUP_DIR/<YYYYmmddTHHMMSSZ>/:
#   app-store.dump         pg_dump --format=custom of a PostgreSQL app store (restore: pg_restore), or
#   app-store.sqlite       an online copy of a SQLite app store (sqlite3 backup API)
#   warehouse.dump         pg_dump of a PostgreSQL warehouse, or
#   warehouse-export/      DuckDB EXPORT DATABASE (Parquet + schema.sql + load.sql; restore: IMPORT DATABASE).
#                          It opens the file read-only, so it fails rather than copy a file another process is
#                          writing (an import or an analysis): run it when none is running.
#   workspace.tar.gz       the workspace folder without its databases (salesfolio.toml, .secret_key, mappings)
#   SHA256SUMS
# A Spark warehouse is not copied: back up its storage with the tools of the cluster (or stop the jobs and copy
# the workspace's spark-warehouse/ and spark-metastore/ folders).
set -euo pipefail
umask 077

env_file="${1:-/etc/salesfolio/salesfolio.env}"
if [[ -f "$env_file" ]]; then
    set -a
    # shellcheck source=/dev/null
    . "$env_file"
    set +a
fi

python="${SALESFOLIO_PYTHON:-/opt/salesfolio/venv/bin/python}"
workspace="${SALESFOLIO_WORKSPACE:?set SALESFOLIO_WORKSPACE (in $env_file) to the workspace folder}"
backup_dir="${BACKUP_DIR:-/var/backups/salesfolio}"
keep_days="${BACKUP_KEEP_DAYS:-14}"

fail() {
    echo "backup: $*" >&2
    exit 1
}

dump_postgres() {  # URL FILE
    command -v pg_dump >/dev/null || fail "pg_dump not found (apt-get install postgresql-client)"
    # libpq takes postgresql:// and postgres:// URLs, not SQLAlchemy's postgresql+psycopg://
    pg_dump --format=custom --no-owner --file="$2" "postgresql://${1#*://}"
}

[[ -x "$python" ]] || fail "no python at $python (set SALESFOLIO_PYTHON)"
[[ -f "$workspace/salesfolio.toml" ]] || fail "$workspace is not a salesfolio workspace (no salesfolio.toml)"

# The URLs in force, resolved by salesfolio itself (environment first, then salesfolio.toml).
mapfile -t urls < <("$python" - "$workspace" <<'PY'
import sys
from pathlib import Path

from salesfolio.workspace import Workspace

ws = Workspace.open(Path(sys.argv[1]))
print(ws.store_url)
print(ws.warehouse_url)
PY
)
store_url="${urls[0]}"
warehouse_url="${urls[1]}"

# A relative SQLite or DuckDB path in a URL is relative to the workspace folder; four slashes mean absolute.
local_path() {
    local rest="${1#*://}"
    rest="${rest#/}"
    if [[ "$rest" == /* ]]; then echo "$rest"; else echo "$workspace/$rest"; fi
}

final="$backup_dir/$(date -u +%Y%m%dT%H%M%SZ)"
target="$final.partial"  # renamed when complete; a failed run leaves nothing that looks like a backup
trap 'rm -rf "$target"' EXIT
mkdir -p "$target"
echo "backup: writing $final"

case "$store_url" in
    postgresql*|postgres://*)
        dump_postgres "$store_url" "$target/app-store.dump"
        echo "backup: app store   -> app-store.dump (pg_dump)"
        ;;
    sqlite:///*)
        "$python" - "$(local_path "$store_url")" "$target/app-store.sqlite" <<'PY'
import sqlite3
import sys

source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
with sqlite3.connect(sys.argv[2]) as copy:
    source.backup(copy)
source.close()
PY
        echo "backup: app store   -> app-store.sqlite (online copy)"
        ;;
    *) fail "app store URL not supported by this script: ${store_url%%://*}://..." ;;
esac

case "$warehouse_url" in
    postgres://*|postgresql://*)
        dump_postgres "$warehouse_url" "$target/warehouse.dump"
        echo "backup: warehouse   -> warehouse.dump (pg_dump)"
        ;;
    duckdb:///*)
        "$python" - "$(local_path "$warehouse_url")" "$target/warehouse-export" <<'PY'
import sys

import duckdb

try:
    con = duckdb.connect(sys.argv[1], read_only=True)
except duckdb.IOException as exc:
    sys.exit(f"backup: cannot open the DuckDB warehouse read-only ({exc}); is an import or analysis running?")
target = sys.argv[2].replace("'", "''")
con.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet)")
con.close()
PY
        echo "backup: warehouse   -> warehouse-export/ (DuckDB EXPORT DATABASE)"
        ;;
    pyspark://*|spark://*)
        echo "backup: warehouse   -> not copied: Spark ($warehouse_url); see the comment at the top of $0"
        ;;
    *) fail "warehouse URL not supported by this script: ${warehouse_url%%://*}://..." ;;
esac

tar --create --gzip --file="$target/workspace.tar.gz" \
    --exclude='*.duckdb' --exclude='*.duckdb.wal' --exclude='*.sqlite' --exclude='*.sqlite-wal' \
    --exclude='*.sqlite-shm' --exclude='spark-warehouse' --exclude='spark-metastore' \
    --directory="$(dirname "$workspace")" "$(basename "$workspace")"
echo "backup: workspace   -> workspace.tar.gz"

sums="$(cd "$target" && find . -type f -print0 | sort -z | xargs -0 sha256sum)"
printf '%s\n' "$sums" > "$target/SHA256SUMS"
mv "$target" "$final"

find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name '????????T??????Z' -mtime "+$keep_days" \
    -printf "backup: removing %p (older than $keep_days days)\n" -exec rm -rf {} +
echo "backup: done ($(du -sh "$final" | cut -f1))"
