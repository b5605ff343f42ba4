-- wrk script: POST /token for alice as fast as the connections allow, with a wrong
-- password, or with $PASSWORD when set (then every request is a real login).
wrk.method = "POST"
wrk.body = string.format('{"username":"alice","password":"%s"}',
  os.getenv("PASSWORD") or "not-the-password")
wrk.headers["Content-Type"] = "application/json"

local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  -- wrk runs response() in thread copies; the summary's counts are the reliable ones.
  io.write(string.format("flood: %d requests, %.0f/s, non-2xx %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), summary.errors.status))
end
