#!/usr/bin/env bash
# Sets up Flyte's Azure init-container fetch for 10 secrets against azstub.py and prints the path
# of a script that runs it, once per secret, exactly as the injector's `sh -ec` does (each run
# in a fresh Azure config dir, like a fresh container).   az.sh WORK OUT
set -euo pipefail
work="$1"; out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mkdir -p "$work"
py="$("$root/scripts/lib/venv.sh" azcli 'azure-cli>=2.60')"
az="$(dirname "$py")/az"
port=18350
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=coffer-bench-ca' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
cat "$("$py" -c 'import certifi; print(certifi.where())')" ca.pem > bundle.pem
python3 -c 'import json, random
d = {}
for i in range(10):
    r = random.Random(i)
    d["z%d" % i] = "".join(r.choice("abcdefghij0123456789") for _ in range(r.randint(64, 512)))
print(json.dumps(d))' > secrets.json
python3 "$here/azstub.py" "$port" server.pem server.key secrets.json > stub.log 2>&1 &
echo $! > stub.pid
trap 'kill "$(cat stub.pid)" 2>/dev/null' ERR
for _ in $(seq 100); do grep -q ready stub.log 2>/dev/null && break; sleep 0.1; done
echo "eyJhbGciOiJub25lIn0.eyJzdWIiOiJwb2QifQ.x" > federated-token
export REQUESTS_CA_BUNDLE="$work/bundle.pem" AZURE_CORE_INSTANCE_DISCOVERY=false AZURE_CORE_COLLECT_TELEMETRY=false
export AZURE_CONFIG_DIR="$work/template"
"$az" cloud register -n Local --endpoint-resource-manager "https://127.0.0.1:$port/" >/dev/null
"$az" cloud set -n Local >/dev/null
cat > run.sh <<SH
#!/bin/sh
# Ten init containers, one per secret, each with a fresh config dir.
set -e
export REQUESTS_CA_BUNDLE=$work/bundle.pem AZURE_CORE_INSTANCE_DISCOVERY=false AZURE_CORE_COLLECT_TELEMETRY=false
export AZURE_CLIENT_ID=00000000-0000-0000-0000-0000000c11e7 AZURE_TENANT_ID=00000000-0000-0000-0000-00000000c0ff
export AZURE_FEDERATED_TOKEN_FILE=$work/federated-token PATH=$(dirname "$az"):\$PATH
for i in 0 1 2 3 4 5 6 7 8 9; do
  rm -rf $work/cfg && cp -r $work/template $work/cfg
  AZURE_CONFIG_DIR=$work/cfg sh -ec 'az login --service-principal -u \$AZURE_CLIENT_ID -t \$AZURE_TENANT_ID --federated-token "\$(cat \$AZURE_FEDERATED_TOKEN_FILE)" >/dev/null; mkdir -p $out/z'\$i'; az keyvault secret show --id "https://127.0.0.1:$port/secrets/z'\$i'/" --query "value" -o tsv > $out/z'\$i'/value'
done
SH
chmod +x run.sh
# One dry run: fail here, with az's message, rather than inside the measurement.
if ! ./run.sh 2>run.err; then tail -3 run.err >&2; kill "$(cat stub.pid)"; exit 1; fi
grep -q . "$out/z9/value" || { echo "az wrote no value" >&2; kill "$(cat stub.pid)"; exit 1; }
echo "$work/run.sh"
