-- Adds a job.
-- KEYS: jobs, ready
-- ARGV: job id, job (JSON)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
