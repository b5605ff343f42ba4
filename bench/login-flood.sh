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
source "$(dirname "$0")/lib.sh"
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

alone=$(verify)
wrk -t1 -c64 -d"$((secs + 4))s" -s "$here/login-flood.lua" "http://127.0.0.1:$port/token" > flood.out &
flood=$!
sleep 2
during=$(verify)
wait "$flood"
rss=$(awk '/VmHWM/ {print $2 " " $3}' /proc/$pid/status)

latency_table "GET /me (verified)" alone during
grep flood: flood.out
echo "peak RSS of the server: $rss"
a=$(echo "$alone" | pick 99% | to_us); d=$(echo "$during" | pick 99% | to_us)
awk -v a="$a" -v d="$d" 'BEGIN { printf "p99 during the flood / alone: %.2f\n", d / a }'
