#!/usr/bin/env bash
# The fleet on PostgreSQL against the file store, side by side in one run: logins/s at the
# default Argon2id cost and verified requests/s (each issuer pinned to core 0, wrk on
# core 1, in turns), then revocation propagation (p50/p99) from one issuer to a peer issuer
# (LISTEN/NOTIFY) and to a verify-only node (the signed feed, default 5 s polling).
#
#   bash bench/fleet.sh              # writes bench/fleet.md; bench/run includes it
#
# Needs a PostgreSQL server (KEYCARD_BENCH_POSTGRES, default
# postgres://postgres@127.0.0.1:5432/postgres; a throwaway database is made and dropped),
# psql, wrk, curl, python3. Everything talks to 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source bench/lib.sh
secs=${BENCH_SECONDS:-5}
samples=${FLEET_SAMPLES:-20}
admin=${KEYCARD_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
for tool in wrk curl psql python3; do
  command -v $tool >/dev/null || { echo "bench/fleet.sh needs $tool" >&2; exit 1; }
done
cargo build --release -q -p keycard-cli
bin=$root/target/release/keycard
work=$(mktemp -d)
db=keycard_bench_$$
url=${admin%/*}/$db
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
cd "$work"
password=fleet-bench-password
"$bin" keys generate --out k.pem >/dev/null 2>&1
echo "$password" | "$bin" users add alice --role admin --password-stdin 2>/dev/null
KEYCARD_DATABASE_URL=$url "$bin" users import users.json 2>/dev/null

start_issuer() { # PORT STORE(file|pg) [args]: an issuer pinned to core 0; its pid in $!
  local port=$1 store=$2
  shift 2
  if [ "$store" = pg ]; then
    SERVER_PIN=$pin_server KEYCARD_DATABASE_URL=$url spawn_keycard "$bin" "$port" serve.log --signing-key k.pem "$@"
  else
    SERVER_PIN=$pin_server spawn_keycard "$bin" "$port" serve.log --signing-key k.pem "$@"
  fi
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$port/healthz" && return; sleep 0.05; done
  echo "issuer on $port did not start: $(cat serve.log)" >&2; exit 1
}
median() { python3 -c 'import statistics,sys; print("%.0f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

# ---- Throughput: the file store and PostgreSQL, one issuer each, in turns.
fport=$(free_port); pport=$(free_port)
start_issuer $fport file
start_issuer $pport pg
TOKEN=$(curl -s "127.0.0.1:$fport/token" -H 'Accept: text/plain' -d username=alice -d password=$password)
export TOKEN
rps() { # URL SCRIPT [env]: requests/s of one wrk run
  $pin_wrk wrk -t1 -c"${CONNS:-16}" -d"${secs}s" -s "$root/bench/$2" "$1" 2>/dev/null \
    | awk '/Requests\/sec/ {print $2}'
}
declare -A acc=()
for round in 1 2 3 4; do
  # Every other round the other store goes first.
  [ $((round % 2)) = 1 ] && order="file pg" || order="pg file"
  for s in $order; do
    [ $s = file ] && port=$fport || port=$pport
    acc[$s.verify]+="$(rps "http://127.0.0.1:$port/me" bearer.lua) "
    acc[$s.login]+="$(PASSWORD=$password CONNS=4 rps "http://127.0.0.1:$port/token" login-flood.lua) "
  done
done
for k in file.verify pg.verify file.login pg.login; do printf -v "${k/./_}" '%s' "$(median ${acc[$k]})"; done

# ---- Propagation: issuers A and B on the database, a node following A's feed.
aport=$(free_port); bport=$(free_port); nport=$(free_port)
start_issuer $aport pg
start_issuer $bport pg
env -u AUTHENTICATION_SECRET RUST_LOG=warn "$bin" serve --listen 127.0.0.1:$nport \
  --jwks-url "http://127.0.0.1:$aport/.well-known/jwks.json" 2>>serve.log &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$nport/healthz" && break; sleep 0.05; done
read -r peer50 peer99 node50 node99 <<<"$(python3 "$root/bench/propagation.py" $aport $bport $nport $password $samples)"

cat > "$root/bench/fleet.md" <<MD
## Fleet

Made by \`bash bench/fleet.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d): one issuer on the
users file and one on PostgreSQL ($(psql -tA "$admin" -c 'SHOW server_version' | cut -d' ' -f1), on this machine), same key (EdDSA),
each pinned to one core with wrk on the other, four rounds in turns (the first store
alternating), medians.

| | file store | PostgreSQL | PostgreSQL / file |
|---|---|---|---|
| verified requests/s (\`GET /me\`, 16 connections) | $file_verify | $pg_verify | $(ratio $pg_verify $file_verify) |
| logins/s (default Argon2id, 4 connections) | $file_login | $pg_login | $(ratio $pg_login $file_login) |

Verification reads the revocations from memory on both stores, so the database costs it
nothing; a login adds four indexed statements (the user's row, the shared failed-login
bucket taken and refunded, the user's cut-off) to an Argon2id hash that dominates it.

Revocation propagation, $samples samples: a token revoked on issuer A (\`POST /revoke\`), then
polled every 2 ms until refused.

| to | p50 | p99 | bound |
|---|---|---|---|
| the peer issuer B (LISTEN/NOTIFY) | $peer50 ms | $peer99 ms | 2 s |
| a verify-only node (the signed feed, \`--revocation-refresh\` 5 s) | $node50 ms | $node99 ms | 15 s |
MD
cat "$root/bench/fleet.md"
