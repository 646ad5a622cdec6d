-- Server-side sessions (browser cookies) and API bearer tokens. Only a SHA-256
-- of the secret is stored, so a database dump cannot be replayed as a login.
CREATE TABLE sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash  bytea       NOT NULL,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    name         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_secret_hash_len CHECK (length(secret_hash) = 32),
    CONSTRAINT sessions_kind_valid CHECK (kind IN ('session', 'token')),
    CONSTRAINT sessions_name_len CHECK (length(name) <= 100),
    CONSTRAINT sessions_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE UNIQUE INDEX sessions_secret_hash_key ON sessions (secret_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
