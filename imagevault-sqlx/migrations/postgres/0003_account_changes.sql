-- Account changes: every statement that can alter which user and plan an API token stands
-- for sends a notification on channel `imagevault_account_changes` when its transaction
-- commits, so that API processes can cache token lookups and drop them when anything
-- changes, whichever process (or psql session) made the change: a token revoked, a user
-- changed (plan, admin flag, name, password) or deleted, a plan changed or deleted.
-- Inserts are left out: a missing token is never cached. Notifications from one
-- transaction are delivered once.

CREATE FUNCTION imagevault_notify_account_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('imagevault_account_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed_accounts
    AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_account_change();

CREATE TRIGGER users_changed_accounts
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_account_change();

CREATE TRIGGER plans_changed_accounts
    AFTER UPDATE OR DELETE OR TRUNCATE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_account_change();
