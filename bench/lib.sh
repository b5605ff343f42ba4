# Shared by the wrk-driven bench scripts: reading `wrk --latency` output.

# pick PERCENTILE: that percentile's latency from wrk output on stdin (e.g. "2.10ms").
pick() { awk -v k="$1" '$1 == k {print $2}'; }

# to_us: a wrk duration on stdin ("830.00us", "2.10ms", "1.2s") in microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1000000}}'; }

# latency_table TITLE VAR...: p50/p90/p99 and requests/s of the wrk outputs held in the
# shell variables VAR..., one row each.
latency_table() {
  local title=$1 name out
  shift
  printf '%-26s %10s %10s %10s %12s\n' "$title" p50 p90 p99 "requests/s"
  for name in "$@"; do
    out=${!name}
    printf '%-26s %10s %10s %10s %12s\n' "$name" \
      "$(echo "$out" | pick 50%)" "$(echo "$out" | pick 90%)" "$(echo "$out" | pick 99%)" \
      "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  done
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# With two cores or more, servers run pinned to core 0 and wrk to core 1 (prefixes for a
# command line, empty on one core): a server's time per request is then 1 / (requests/s),
# and side-by-side runs are steadier.
if [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_wrk="taskset -c 1"; else pin_server=""; pin_wrk=""; fi

# spawn_keycard BIN PORT LOG ARGS...: starts `BIN serve ARGS` on 127.0.0.1:PORT in the
# background (its pid in $!), rate limits off, stderr appended to LOG, prefixed by
# $SERVER_PIN when set. A --signing-key replaces the HS256 secret: the two together are
# refused, so AUTHENTICATION_SECRET is dropped from its environment.
spawn_keycard() {
  local bin=$1 port=$2 log=$3 env=()
  shift 3
  [[ " $* " == *" --signing-key "* ]] && env=(-u AUTHENTICATION_SECRET)
  ${SERVER_PIN:-} env "${env[@]}" RUST_LOG=warn "$bin" serve --listen 127.0.0.1:$port \
    --rate-limit-ip 0 --rate-limit-user 0 "$@" 2>>"$log" &
}
