DROP TABLE IF EXISTS identities;

UPDATE sessions SET name = left(user_agent, 100) WHERE kind = 'session';

ALTER TABLE sessions
    DROP CONSTRAINT IF EXISTS sessions_scopes_valid,
    DROP CONSTRAINT IF EXISTS sessions_client_ip_len,
    DROP CONSTRAINT IF EXISTS sessions_user_agent_len,
    DROP COLUMN IF EXISTS scopes,
    DROP COLUMN IF EXISTS client_ip,
    DROP COLUMN IF EXISTS user_agent;

ALTER TABLE users
    DROP CONSTRAINT IF EXISTS users_root_never_disabled,
    DROP COLUMN IF EXISTS disabled_at;
