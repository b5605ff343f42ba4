#!/usr/bin/env bash
# Token verification latency alone vs during a login flood, side by side, in one run.
#
#   bash bench/login-flood.sh [SECONDS]
#
# Builds the release binary, starts `keycard serve` on 127.0.0.1 (rate limits off, so
# the flood reaches the hashing queue), and drives it with wrk (Debian package `wrk`):
#   1. verified GET /me alone;
#   2. the same while another wrk floods POST /token with wrong passwords.
# Prints both latency distributions and the p99 ratio. Load goes to 127.0.0.1 only and
# every phase is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p keycard-cli
bin=$PWD/target/release/keycard
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir"
echo "login-flood-password" | "$bin" users add alice --role admin --password-stdin 2>/dev/null
port=$((20000 + RANDOM % 20000))
AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64) RUST_LOG=warn \
  "$bin" serve --listen 127.0.0.1:$port --rate-limit-user 0 --rate-limit-ip 0 2>serve.log &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:$port/healthz && break; sleep 0.1; done
TOKEN=$(curl -s 127.0.0.1:$port/token -H 'Accept: text/plain' -d username=alice -d password=login-flood-password)
export TOKEN
here=$(cd - >/dev/null && pwd)/bench

verify() { wrk -t1 -c8 -d"${secs}s" --latency -s "$here/bearer.lua" "http://127.0.0.1:$port/me"; }
pick() { awk -v k="$1" '$1 == k {print $2}'; }

alone=$(verify)
wrk -t1 -c64 -d"$((secs + 4))s" -s "$here/login-flood.lua" "http://127.0.0.1:$port/token" > flood.out &
flood=$!
sleep 2
during=$(verify)
wait "$flood"
rss=$(awk '/VmHWM/ {print $2 " " $3}' /proc/$pid/status)

printf '%-22s %10s %10s %10s %12s\n' "GET /me (verified)" p50 p90 p99 "requests/s"
for name in alone during; do
  out=${!name}
  printf '%-22s %10s %10s %10s %12s\n' "$name" \
    "$(echo "$out" | pick 50%)" "$(echo "$out" | pick 90%)" "$(echo "$out" | pick 99%)" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
done
grep flood: flood.out
echo "peak RSS of the server: $rss"
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1000000}}'; }
a=$(echo "$alone" | pick 99% | to_us); d=$(echo "$during" | pick 99% | to_us)
awk -v a="$a" -v d="$d" 'BEGIN { printf "p99 during the flood / alone: %.2f\n", d / a }'
