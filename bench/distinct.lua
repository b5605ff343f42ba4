-- wrk script: GET with a different bearer token each request, read from the file named
-- by TOKENS (one per line), cycling; stops after COUNT responses (per thread). For the
-- verified-token cache's bound: every token is new to the server.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line
end
local i = 0
request = function()
  i = i + 1
  local token = tokens[(i - 1) % #tokens + 1]
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end
local limit = tonumber(os.getenv("COUNT") or "100000")
local n = 0
response = function(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
