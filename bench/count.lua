-- wrk script: the bearer token from TOKEN, or, when TOKENS names a file of tokens (one per
-- line), a different one each request, cycling (every token new to the server: the
-- verified-token cache's worst case); stops after COUNT responses (per thread).
local tokens_file = os.getenv("TOKENS")
if tokens_file and tokens_file ~= "" then
  local tokens = {}
  for line in io.lines(tokens_file) do
    tokens[#tokens + 1] = line
  end
  local i = 0
  request = function()
    i = i + 1
    local token = tokens[(i - 1) % #tokens + 1]
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end
else
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end
local limit = tonumber(os.getenv("COUNT") or "100000")
local n = 0
response = function(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
