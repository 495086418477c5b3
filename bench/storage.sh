#!/usr/bin/env bash
# Read and write throughput of coffer on SQLite (embedded) and on PostgreSQL (a private local
# server), audit on for both, same binary, same load. Writes bench/results/storage.md.
#
#   bench/storage.sh [SECONDS] [CONNECTIONS]      (default 10 s, 16 connections)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
secs="${1:-10}"; conns="${2:-16}"
need wrk wrk
build_release

pg="$(mktemp -d /var/tmp/coffer-bench-pg-XXXXXX)"
pg_url="$("$root/scripts/lib/postgres.sh" start "$pg")"
trap '"$root/scripts/lib/postgres.sh" stop "$pg"; rm -rf "$pg"; cleanup' EXIT
psql "$pg_url" -qXc "CREATE DATABASE coffer_bench"
db_url="${pg_url%/*}/coffer_bench"

start_coffer sqlite
COFFER_DATABASE_URL="$db_url" start_coffer postgres

cat > "$work/write.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"string_value":"value-' .. n .. '-0123456789abcdef0123456789abcdef"}')
end
LUA

declare -A rows
for n in sqlite postgres; do
  addr="ADDR_$n"; tok="TOKEN_$n"
  head -c 256 /dev/urandom | base64 -w0 | COFFER_ADDR="${!addr}" COFFER_TOKEN="${!tok}" "$bin" create secret bench >/dev/null
  wrk_run "${!addr}/v1/secrets/bench/value" "${!tok}" 3 "$conns" >/dev/null   # warm-up
  rows["$n-read"]="$(wrk_run "${!addr}/v1/secrets/bench/value" "${!tok}" "$secs" "$conns")"
  rows["$n-write"]="$(wrk_run "${!addr}/v1/secrets/bench/versions" "${!tok}" "$secs" "$conns" "$work/write.lua")"
done

line() {  # line LABEL "rps p50 p99 bad"
  read -r rps p50 p99 bad <<<"$2"
  echo "| $1 | $rps | $p50 ms | $p99 ms | $bad |"
}
{
  echo "# Storage engines: SQLite and PostgreSQL"
  echo
  echo "Measured by \`bench/storage.sh $secs $conns\` on $(date -u +%F) at commit \`$(git -C "$root" rev-parse --short HEAD)\`."
  echo "Machine: $(machine). Release build; PostgreSQL $(psql "$pg_url" -tAXc 'show server_version') on loopback"
  echo "(fsync on) and the coffer data dir on the same ext4 disk. \`wrk -t2 -c$conns -d${secs}s\` runs on the same 2"
  echo "cores as coffer and PostgreSQL, so absolute figures understate dedicated machines. Audit on for both."
  echo
  echo "| engine / load | req/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|"
  line "SQLite: read one value (GET …/value)" "${rows[sqlite-read]}"
  line "PostgreSQL: read one value" "${rows[postgres-read]}"
  line "SQLite: new version of one secret (POST …/versions, durable)" "${rows[sqlite-write]}"
  line "PostgreSQL: new version of one secret" "${rows[postgres-write]}"
  echo
  echo "Writes to one secret serialize on it by design (consecutive versions); every read and"
  echo "write also appends a hash-chained audit record before the response."
} > "$root/bench/results/storage.md"
cat "$root/bench/results/storage.md"
