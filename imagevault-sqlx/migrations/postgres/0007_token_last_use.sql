-- When a request last used an API token, for the account page: written at most once a
-- minute per token and process (the service decides), NULL until the first use.
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;

-- Recording a use changes nothing a cached account depends on, so the account-change
-- trigger of 0003 no longer fires for it: otherwise every recorded use would empty every
-- API process's account cache. It still fires for every other column and for deletes.
DROP TRIGGER api_tokens_changed_accounts ON api_tokens;
CREATE TRIGGER api_tokens_changed_accounts
    AFTER UPDATE OF hash, user_id, created_at, expires_at OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_account_change();
