-- wrk script: GET with the bearer token from the TOKEN environment variable (none when
-- TOKEN is empty), and, when PAD is set, an X-Pad header of that many bytes (to send a
-- token's worth of bytes without a token).
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local pad = tonumber(os.getenv("PAD") or "0")
if pad > 0 then
  wrk.headers["X-Pad"] = string.rep("a", pad)
end
