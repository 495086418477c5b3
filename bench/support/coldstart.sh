#!/usr/bin/env bash
# Cold start of fetching 10 secrets: `coffer fetch` (one process, one call) against the
# incumbents' way (one process per secret, as Flyte's init containers do): `bao kv get`, the AWS
# CLI against moto, and Flyte's exact Azure command against an HTTPS Key Vault-compatible stub.
# Prints TSV: name, mean s, stddev s, min s, max s, peak RSS KiB, runs, note.
#   coldstart.sh WORK COFFER_BIN COFFER_ADDR COFFER_TOKEN BAO_BIN BAO_ADDR BAO_TOKEN
set -euo pipefail
work="$1"; coffer="$2"; caddr="$3"; ctok="$4"; bao="$5"; baddr="$6"; btok="$7"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mkdir -p "$work"
out="$work/out"

value() { python3 -c "import random,sys; r=random.Random(int(sys.argv[1])); print(''.join(r.choice('abcdefghij0123456789') for _ in range(r.randint(64,512))), end='')" "$1"; }

measure() {  # measure NAME RUNS NOTE COMMAND...
  local name="$1" runs="$2" note="$3"; shift 3
  hyperfine -N --warmup 1 --runs "$runs" --prepare "rm -rf $out" --export-json "$work/$name.json" "$*" >/dev/null 2>&1 \
    || hyperfine --warmup 1 --runs "$runs" --prepare "rm -rf $out" --export-json "$work/$name.json" "$*" >/dev/null
  local rss=0 r
  for _ in 1 2 3; do
    rm -rf "$out"
    /usr/bin/time -o "$work/rss" -f '%M' "$@" >/dev/null 2>&1 || true
    r="$(tail -1 "$work/rss")"
    [ "$r" -gt "$rss" ] 2>/dev/null && rss="$r"
  done
  python3 - "$work/$name.json" "$name" "$rss" "$runs" "$note" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("\t".join([sys.argv[2], f"{r['mean']:.6f}", f"{r['stddev'] or 0:.6f}", f"{r['min']:.6f}", f"{r['max']:.6f}", sys.argv[3], sys.argv[4], sys.argv[5]]))
PY
}

# --- coffer fetch: one process, one batched call -------------------------------------------------
args=()
for i in $(seq 0 9); do
  value "$i" | COFFER_ADDR="$caddr" COFFER_TOKEN="$ctok" "$coffer" create secret "c$i" -p bench -d prod >/dev/null
  args+=(--secret "grp/c$i")
done
cat > "$work/coffer.sh" <<SH
#!/bin/sh
exec env COFFER_ADDR=$caddr COFFER_TOKEN=$ctok $coffer fetch -p bench -d prod --dir $out ${args[*]}
SH
chmod +x "$work/coffer.sh"
measure coffer-fetch 30 "one process, one call" "$work/coffer.sh"

# --- bao kv get, one process per secret ----------------------------------------------------------
for i in $(seq 0 9); do
  curl -sf -o /dev/null -H "X-Vault-Token: $btok" -X POST -d "{\"data\":{\"value\":\"$(value "$i")\"}}" "$baddr/v1/secret/data/k$i"
done
cat > "$work/bao.sh" <<SH
#!/bin/sh
set -e
mkdir -p $out
for i in 0 1 2 3 4 5 6 7 8 9; do
  BAO_ADDR=$baddr BAO_TOKEN=$btok $bao kv get -mount=secret -field=value k\$i > $out/k\$i
done
SH
chmod +x "$work/bao.sh"
measure bao-kv-get 10 "10 processes (bao kv get)" "$work/bao.sh"

# --- AWS CLI against moto, one process per secret ------------------------------------------------
aws_note="10 processes (aws secretsmanager get-secret-value) against moto"
if moto_py="$("$root/scripts/lib/venv.sh" moto 'moto[server]>=5,<6')" && aws_py="$("$root/scripts/lib/venv.sh" awscli 'awscli>=1.40,<2')"; then
  port=18340
  "$(dirname "$moto_py")/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break; sleep 0.1; done
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "$moto_py" - "$port" <<'PY'
import boto3, random, sys
c = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
for i in range(10):
    r = random.Random(i)
    c.create_secret(Name=f"a{i}", SecretString="".join(r.choice("abcdefghij0123456789") for _ in range(r.randint(64, 512))))
PY
  cat > "$work/aws.sh" <<SH
#!/bin/sh
set -e
mkdir -p $out
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
for i in 0 1 2 3 4 5 6 7 8 9; do
  $(dirname "$aws_py")/aws secretsmanager get-secret-value --secret-id a\$i --query SecretString --output text > $out/a\$i
done
SH
  chmod +x "$work/aws.sh"
  measure aws-cli 3 "$aws_note" "$work/aws.sh"
  kill "$moto_pid" 2>/dev/null || true
else
  printf 'aws-cli\t\t\t\t\t\t0\tnot measured: installing awscli/moto failed\n'
fi

# --- Flyte's Azure init-container command against an HTTPS Key Vault-compatible stub -------------
if az_run="$("$here/az.sh" "$work/az" "$out" 2>"$work/az.err")"; then
  measure az-cli 3 "10 init-container commands (az login --federated-token; az keyvault secret show)" "$az_run"
  kill "$(cat "$work/az/stub.pid")" 2>/dev/null || true
else
  printf 'az-cli\t\t\t\t\t\t0\tnot measured: %s\n' "$(tail -1 "$work/az.err" | tr '\t' ' ')"
fi
