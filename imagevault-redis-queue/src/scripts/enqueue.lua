-- Adds a job, unless an equal job is waiting for its first delivery: then the waiting one
-- stands for both (jobs carry ids only, so it does the work of either). Jobs that were
-- reserved are not in `waiting` and absorb nothing.
-- KEYS: jobs, ready, waiting
-- ARGV: job id, job (JSON)
-- Returns 1 if the job was added, 0 if it was merged into a waiting one.
local waiting = redis.call('HGET', KEYS[3], ARGV[2])
-- An entry whose job is gone (removed by hand) merges nothing.
if waiting and redis.call('HEXISTS', KEYS[1], waiting) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
