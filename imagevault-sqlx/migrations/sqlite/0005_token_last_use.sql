-- When a request last used an API token (microseconds, like every timestamp here), for
-- the account page: written at most once a minute per token and process (the service
-- decides), NULL until the first use.
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
