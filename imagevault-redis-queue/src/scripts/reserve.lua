-- Moves due retries and lapsed leases to the ready list, then leases the oldest ready job.
-- KEYS: jobs, attempts, ready, delayed, in_flight, waiting
-- ARGV: lease (ms), most entries of each sorted set to move in one call
-- Returns {job id, attempt, job (JSON)}, or nil when nothing is ready.
local now = now_ms()
local batch = tonumber(ARGV[2])
for _, source in ipairs({KEYS[4], KEYS[5]}) do
  local due = redis.call('ZRANGEBYSCORE', source, '-inf', now, 'LIMIT', 0, batch)
  if #due > 0 then
    redis.call('ZREM', source, unpack(due))
    redis.call('LPUSH', KEYS[3], unpack(due))
  end
end
while true do
  local id = redis.call('RPOP', KEYS[3])
  if not id then
    return false
  end
  local job = redis.call('HGET', KEYS[1], id)
  if job then
    -- From now on the job may have read the state a later enqueue is for: it merges no more.
    if redis.call('HGET', KEYS[6], job) == id then
      redis.call('HDEL', KEYS[6], job)
    end
    local attempt = redis.call('HINCRBY', KEYS[2], id, 1)
    redis.call('ZADD', KEYS[5], now + tonumber(ARGV[1]), id)
    return {id, attempt, job}
  end
  -- An id without a job (removed by hand): drop it and look further.
  redis.call('HDEL', KEYS[2], id)
end
