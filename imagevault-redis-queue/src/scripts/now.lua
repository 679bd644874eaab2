-- The server's clock in milliseconds: every process shares it, so leases and delays do not
-- depend on the workers' clocks agreeing.
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
