#!/usr/bin/env bash
# Where a verified request's time goes: `perf` on `keycard serve` under wrk.
#
#   bash bench/profile.sh [SECONDS]
#
# Builds the release binary with symbols (its own target directory, same profile
# otherwise), starts it on 127.0.0.1 pinned to core 0 (wrk on core 1, with two cores or
# more), drives verified GET /me with an HS256 token, samples the server with
# `perf record` for SECONDS (5), and writes bench/profile.md: the time by binary
# (kernel, libc, keycard) and the top symbols. Needs perf (Debian: linux-perf) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source bench/lib.sh
secs=${1:-5}
for tool in perf wrk curl taskset; do
  command -v $tool >/dev/null || { echo "bench/profile.sh needs $tool" >&2; exit 1; }
done
echo "building with symbols…" >&2
CARGO_TARGET_DIR=$root/target/profile CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 \
  cargo build --release -q -p keycard-cli
bin=$root/target/profile/release/keycard

work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
echo profile-password | "$bin" users add alice --role admin --password-stdin 2>/dev/null
port=$(free_port)
AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64) RUST_LOG=warn \
  $pin_server "$bin" serve --listen 127.0.0.1:$port 2>serve.log &
pid=$!
for _ in $(seq 250); do curl -s -o /dev/null "127.0.0.1:$port/healthz" && break; sleep 0.02; done
TOKEN=$(curl -s "127.0.0.1:$port/token" -H 'Accept: text/plain' -d username=alice -d password=profile-password)
export TOKEN
$pin_wrk wrk -t1 -c16 -d"$((secs + 3))s" -s "$root/bench/bearer.lua" "http://127.0.0.1:$port/me" > wrk.out &
wrk_pid=$!
sleep 1
perf record -q -F 2000 -p "$pid" -o perf.data -- sleep "$secs" 2>/dev/null
wait $wrk_pid

by_dso=$(perf report -i perf.data --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | awk 'NR <= 6')
top=$(perf report -i perf.data --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | awk 'NR <= 30' | cut -c1-140)
rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' wrk.out)
cat > "$root/bench/profile.md" <<MD
# Profile of a verified request

Made by \`bash bench/profile.sh $secs\` on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d), at
$(git -C "$root" rev-parse --short HEAD): \`keycard serve\`$([ -n "$pin_server" ] && echo " pinned to core 0, wrk on core 1"),
verified \`GET /me\` with an HS256 token at $rps requests/s, sampled by \`perf record\` for
${secs} s.

Time by binary:

\`\`\`
$by_dso
\`\`\`

Top symbols (the verify path is \`sha2\`, \`base64\`, \`serde_json\`, \`keycard::keys\`,
\`keycard::verifier\` and \`bearer_token\`; most of the rest is the kernel's TCP, hyper and
the allocator):

\`\`\`
$top
\`\`\`
MD
echo "wrote bench/profile.md ($rps requests/s while sampled)" >&2
