#!/usr/bin/env bash
# Metrics on against off, side by side in one run: two issuers, the same HS256 secret and
# users file, one with --metrics-listen; each pinned to core 0 with wrk on core 1, taking
# turns for seven rounds (the first alternating), scraped every second during the load as
# a Prometheus server would (at 15 s it would scrape far less). Reports verified
# requests/s and p99 of each, the median of the per-round ratios, and each one's RSS
# after start and after the load.
#
#   bash bench/metrics.sh            # writes bench/metrics.md; bench/run includes it
#
# Needs wrk, curl, python3. Everything talks to 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source bench/lib.sh
secs=${BENCH_SECONDS:-5}
rounds=${ROUNDS:-7}
for tool in wrk curl python3; do
  command -v $tool >/dev/null || { echo "bench/metrics.sh needs $tool" >&2; exit 1; }
done
cargo build --release -q -p keycard-cli
bin=$root/target/release/keycard
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64)
password=metrics-bench-password
echo "$password" | "$bin" users add alice --password-stdin 2>/dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start() { # PORT [args]: an issuer pinned to core 0; its pid in $!
  local port=$1
  shift
  SERVER_PIN=$pin_server spawn_keycard "$bin" "$port" serve.log "$@"
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$port/healthz" && return; sleep 0.05; done
  echo "keycard on $port did not start: $(cat serve.log)" >&2; exit 1
}
offport=$(free_port); onport=$(free_port); mport=$(free_port)
start $offport; offpid=${pids[-1]}
start $onport --metrics-listen 127.0.0.1:$mport; onpid=${pids[-1]}
sleep 0.5
off_rss0=$(rss $offpid); on_rss0=$(rss $onpid)
export TOKEN=$(curl -s "127.0.0.1:$offport/token" -H 'Accept: text/plain' -d username=alice -d password=$password)
run() { # URL: "rps p99" (p99 in µs) of one wrk run
  local out
  out=$($pin_wrk wrk -t1 -c16 -d"${secs}s" --latency -s "$root/bench/bearer.lua" "$1" 2>/dev/null)
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | pick 99% | to_us)"
}
scraper() { while sleep 1; do curl -s -o /dev/null "127.0.0.1:$mport/metrics" || true; done; }
scraper & scraper_pid=$!; pids+=($scraper_pid)
off_all=""; on_all=""; off_p99=""; on_p99=""
for round in $(seq $rounds); do
  [ $((round % 2)) = 1 ] && order="off on" || order="on off"
  for s in $order; do
    [ $s = off ] && port=$offport || port=$onport
    read -r r p <<<"$(run "http://127.0.0.1:$port/me")"
    printf -v "${s}_all" '%s' "$(eval echo \$${s}_all) $r"
    printf -v "${s}_p99" '%s' "$(eval echo \$${s}_p99) $p"
  done
done
kill $scraper_pid 2>/dev/null || true
off_rss1=$(rss $offpid); on_rss1=$(rss $onpid)
valid=$(curl -s "127.0.0.1:$mport/metrics" | awk -F' ' '/^keycard_token_verifications_total\{outcome="valid"/ {print $2}')
median() { python3 -c 'import statistics,sys; print("%.0f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
paired() { python3 -c 'import statistics,sys; a,b=(list(map(float,x.split())) for x in sys.argv[1:]); print("%.2f" % statistics.median(x/y for x,y in zip(a,b)))' "$1" "$2"; }
mb() { python3 -c "print('%.1f MB' % ($1 / 1024))"; }
cat > "$root/bench/metrics.md" <<MD
## Metrics on against off

Made by \`bash bench/metrics.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d): two issuers with
the same secret and users, one with \`--metrics-listen\` (scraped every second during the
load), each pinned to one core with wrk on the other, $rounds rounds in turns, verified
\`GET /me\`, 16 connections, ${secs} s each; medians.

| | metrics off | metrics on | on / off |
|---|---|---|---|
| verified requests/s | $(median $off_all) | $(median $on_all) | **$(paired "$on_all" "$off_all")** (target ≥ 0.97) |
| p99 | $(median $off_p99) µs | $(median $on_p99) µs | |
| RSS after start | $(mb $off_rss0) | $(mb $on_rss0) | $(python3 -c "print('%+.0f KB' % ($on_rss0 - $off_rss0))") |
| RSS after the load | $(mb $off_rss1) | $(mb $on_rss1) | $(python3 -c "print('%+.0f KB' % ($on_rss1 - $off_rss1))") |

The metrics server counted $valid valid verifications (\`keycard_token_verifications_total\`).
The ratio is the median of the per-round ratios; ±3 % is this shared machine's noise.
MD
cat "$root/bench/metrics.md"
