DROP INDEX IF EXISTS audit_events_occurred_at_idx;
DROP INDEX IF EXISTS audit_events_action_idx;
DROP INDEX IF EXISTS audit_events_actor_idx;
ALTER TABLE audit_events
    DROP CONSTRAINT IF EXISTS audit_events_user_agent_len,
    DROP COLUMN IF EXISTS user_agent;
DROP INDEX IF EXISTS users_created_at_idx;
DROP INDEX IF EXISTS users_email_natural_idx;
DROP INDEX IF EXISTS users_username_natural_idx;
DROP COLLATION IF EXISTS natural_order;
