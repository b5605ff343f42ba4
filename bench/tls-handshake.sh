#!/usr/bin/env bash
# TLS handshakes per second, ring (Keycard's provider) against aws-lc-rs (rustls's
# default), side by side in one process; writes bench/tls-handshake.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/bench/tls-handshake"
cargo build --release -q
line=$(taskset -c 0 ./target/release/tls-handshake 2>/dev/null || ./target/release/tls-handshake)
cat > "$root/bench/tls-handshake.md" <<MD
## TLS handshakes: ring against aws-lc-rs

Made by \`bash bench/tls-handshake.sh\` on $(nproc) cores, $(date -u +%F): full TLS 1.3
handshakes in memory (client and server in one thread, no sockets), X25519 and an
ECDSA P-256 certificate, each provider in turns, ${ROUNDS:-5} rounds, medians.

$line
MD
cat "$root/bench/tls-handshake.md"
