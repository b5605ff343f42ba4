#!/usr/bin/env bash
# The gateway's added latency: the same upstream called directly and through
# `keycard serve --upstream` (with a verified token), side by side in one run, plus the
# gateway's memory under that load.
#
#   bash bench/gateway.sh [SECONDS]
#
# The upstream is nginx answering `200 ok` (Debian package `nginx`), so the difference is
# Keycard's. Load comes from wrk (Debian package `wrk`), to 127.0.0.1 only, bounded in time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
secs=${1:-10}
for tool in wrk nginx; do command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "needs $tool: apt-get install $tool" >&2; exit 1; }; done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p keycard-cli
bin=$PWD/target/release/keycard
here=$PWD/bench
dir=$(mktemp -d)
up=$((20000 + RANDOM % 10000)); gw=$((up + 1))
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
events {}
http {
  access_log off;
  server { listen 127.0.0.1:$up; location / { return 200 "ok\n"; } }
}
NGINX
mkdir -p "$dir/logs"
"$nginx" -p "$dir" -c nginx.conf -g "daemon off; pid $dir/nginx.pid; error_log $dir/error.log;" &
npid=$!
cd "$dir"
echo "gateway-bench-password" | "$bin" users add alice --role admin --password-stdin 2>/dev/null
AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64) RUST_LOG=warn \
  "$bin" serve --listen 127.0.0.1:$gw --upstream http://127.0.0.1:$up 2>serve.log &
kpid=$!
trap 'kill $kpid $npid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:$gw/healthz && curl -s -o /dev/null 127.0.0.1:$up/ && break; sleep 0.1; done
TOKEN=$(curl -s 127.0.0.1:$gw/token -H 'Accept: text/plain' -d username=alice -d password=gateway-bench-password)
export TOKEN
rss0=$(awk '/VmRSS/ {print $2}' /proc/$kpid/status)

run() { wrk -t1 -c16 -d"${secs}s" --latency -s "$here/bearer.lua" "$1"; }
direct=$(run "http://127.0.0.1:$up/api/orders")
gateway=$(run "http://127.0.0.1:$gw/api/orders")
rss1=$(awk '/VmRSS/ {print $2}' /proc/$kpid/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$kpid/status)

latency_table "GET /api/orders" direct gateway
echo "$gateway" | grep -q "Non-2xx" && echo "warning: non-2xx answers through the gateway" >&2
for p in 50% 99%; do
  d=$(echo "$direct" | pick $p | to_us); g=$(echo "$gateway" | pick $p | to_us)
  awk -v p="$p" -v d="$d" -v g="$g" 'BEGIN { printf "added latency at %s: %.0f us\n", p, g - d }'
done
echo "gateway RSS: ${rss0} kB idle, ${rss1} kB after the run, peak ${hwm} kB"
