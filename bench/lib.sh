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
