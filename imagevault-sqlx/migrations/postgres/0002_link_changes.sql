-- Link changes: every statement that can alter what an expiring-link URL resolves to sends
-- a notification on channel `imagevault_link_changes` when its transaction commits, so
-- that API processes can cache link resolutions and drop them when anything changes,
-- whichever process (or psql session) made the change. Inserts are left out: a missing
-- link is never cached. Notifications from one transaction are delivered once.

CREATE FUNCTION imagevault_notify_link_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('imagevault_link_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER links_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_link_change();

CREATE TRIGGER images_changed
    AFTER UPDATE OF owner, storage_key, format OR DELETE OR TRUNCATE ON images
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_link_change();

CREATE TRIGGER users_changed
    AFTER UPDATE OF plan_id OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_link_change();

CREATE TRIGGER plans_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_link_change();
