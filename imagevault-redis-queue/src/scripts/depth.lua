-- Counts the jobs in each state, as a reserve at this moment would see them: due retries and
-- lapsed leases count as ready. Changes nothing.
-- KEYS: ready, delayed, in_flight, dead
-- Returns {ready, delayed, in flight, dead}.
local now = now_ms()
local due = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local lapsed = redis.call('ZCOUNT', KEYS[3], '-inf', now)
return {
  redis.call('LLEN', KEYS[1]) + due + lapsed,
  redis.call('ZCARD', KEYS[2]) - due,
  redis.call('ZCARD', KEYS[3]) - lapsed,
  redis.call('LLEN', KEYS[4]),
}
