-- Settles one delivery: acknowledges it, schedules a retry, or dead-letters the job. Only
-- the delivery that holds the job counts: the job must be in flight and its attempt counter
-- must still equal the delivery's attempt. Otherwise (a lapsed lease whose job was taken
-- again, or a delivery already settled) nothing changes.
-- KEYS: jobs, attempts, in_flight, delayed, dead
-- ARGV: job id, attempt, action ('ack', 'retry' or 'dead'), then for 'retry' the delay (ms),
--       for 'dead' the dead letter (JSON) and how many dead letters to keep
-- Returns 1 if the delivery was settled, 0 if nothing changed.
local now = now_ms()
local id = ARGV[1]
local action = ARGV[3]
if action ~= 'ack' and action ~= 'retry' and action ~= 'dead' then
  return redis.error_reply('unknown settle action ' .. action)
end
if not redis.call('ZSCORE', KEYS[3], id) then
  return 0
end
if redis.call('HGET', KEYS[2], id) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[3], id)
if action == 'retry' then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), id)
  return 1
end
redis.call('HDEL', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
if action == 'dead' then
  local kept = tonumber(ARGV[5])
  if kept > 0 then
    redis.call('LPUSH', KEYS[5], ARGV[4])
    redis.call('LTRIM', KEYS[5], 0, kept - 1)
  end
end
return 1
