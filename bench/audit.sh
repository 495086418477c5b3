#!/usr/bin/env bash
# What the audit log costs on the read path: reads of one value per second with every read
# recorded (group commit, the default) and with `dangerously_skip_read_audit = true`, same
# binary, same machine, same load. Writes bench/results/audit.md.
#
#   bench/audit.sh [SECONDS] [CONNECTIONS]      (default 10 s, 16 connections)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
secs="${1:-10}"; conns="${2:-16}"
need wrk wrk
build_release

start_coffer audited
start_coffer unaudited 'dangerously_skip_read_audit = true'
for n in audited unaudited; do
  addr="ADDR_$n"; tok="TOKEN_$n"
  head -c 256 /dev/urandom | base64 -w0 | COFFER_ADDR="${!addr}" COFFER_TOKEN="${!tok}" "$bin" create secret bench >/dev/null
done

row() {
  local n="$1" addr="ADDR_$1" tok="TOKEN_$1"
  wrk_run "${!addr}/v1/secrets/bench/value" "${!tok}" "$secs" "$conns" >/dev/null  # warm-up
  wrk_run "${!addr}/v1/secrets/bench/value" "${!tok}" "$secs" "$conns"
}
read -r a_rps a_p50 a_p99 a_bad <<<"$(row audited)"
read -r u_rps u_p50 u_p99 u_bad <<<"$(row unaudited)"
audit_rows=$(COFFER_ADDR="$ADDR_audited" COFFER_TOKEN="$TOKEN_audited" "$bin" audit list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

cat > "$root/bench/results/audit.md" <<MD
# Cost of auditing reads

Measured by \`bench/audit.sh $secs $conns\` on $(date -u +%F) at commit \`$(git -C "$root" rev-parse --short HEAD)\`.
Machine: $(machine). Release build, SQLite, \`wrk -t2 -c$conns -d${secs}s\` on the same 2 cores
as the server (so absolute numbers understate a dedicated server; the ratio is the point).

Load: \`GET /v1/secrets/bench/value\` (one 256-byte value, decrypted per request) with a valid admin token.

| configuration | req/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| every read audited (default; group commit, fsync per batch) | $a_rps | ${a_p50} ms | ${a_p99} ms | $a_bad |
| \`dangerously_skip_read_audit = true\` | $u_rps | ${u_p50} ms | ${u_p99} ms | $u_bad |

Audited/unaudited throughput: $(python3 -c "print(f'{$a_rps / max($u_rps, 1):.2f}')"). The audited server wrote $audit_rows records, all
chained and durable before each response left (fail closed).

How: each request hands its record to one committer task and waits; the committer drains
everything queued while the previous transaction was committing into the next one, so under load
one fsync (\`synchronous=FULL\`) covers many reads.
MD
cat "$root/bench/results/audit.md"
