# Shared helpers for the benchmark scripts (sourced, not run).
# Each script builds coffer in release, starts what it measures on 127.0.0.1, and writes a
# markdown report under bench/results/. Benchmarks are not tests: nothing fails on timing.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/coffer"
pids=()
# On disk, not tmpfs: durable writes and audit fsyncs must cost what they cost.
work="$(mktemp -d /var/tmp/coffer-bench-XXXXXX)"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

need() {  # need CMD PACKAGE: install a Debian package if the command is missing
  command -v "$1" >/dev/null && return
  echo "installing $2" >&2
  apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
}

build_release() { (cd "$root" && cargo build --release -p coffer >&2); }

# start_coffer NAME [CONFIG-TOML]: starts `coffer serve` with its own data dir; sets
# ADDR_<NAME> and TOKEN_<NAME>.
start_coffer() {
  local name="$1" cfg="${2:-}" dir="$work/$1"
  mkdir -p "$dir"
  local args=(serve --data-dir "$dir/data" --listen 127.0.0.1:0 --log-level warn)
  if [ -n "$cfg" ]; then printf '%s\n' "$cfg" > "$dir/coffer.toml"; args+=(--config "$dir/coffer.toml"); fi
  "$bin" "${args[@]}" 2>"$dir/serve.log" &
  pids+=($!)
  for _ in $(seq 400); do [ -s "$dir/data/endpoint" ] && break; sleep 0.05; done
  printf -v "ADDR_$name" '%s' "$(cat "$dir/data/endpoint")"
  printf -v "TOKEN_$name" '%s' "$(cat "$dir/data/admin.token")"
}

# wrk_run URL TOKEN SECONDS CONNECTIONS [LUA]: prints "rps p50_ms p99_ms non2xx"
wrk_run() {
  local url="$1" tok="$2" secs="$3" conns="$4" lua="${5:-}"
  local args=(-t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $tok")
  [ -n "$lua" ] && args+=(-s "$lua")
  wrk "${args[@]}" "$url" > "$work/wrk.out" 2>&1
  python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = dict((p, ms(v, u)) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{rps:.0f} {lat.get('50', 0):.2f} {lat.get('99', 0):.2f} {bad.group(1) if bad else 0}")
PY
}

machine() {
  local cpu; cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "$(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r)"
}
