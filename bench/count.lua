-- wrk script: the bearer token from TOKEN, and stop after COUNT responses (per thread).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local limit = tonumber(os.getenv("COUNT") or "100000")
local n = 0
response = function(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
