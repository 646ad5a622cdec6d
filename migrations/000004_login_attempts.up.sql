-- Failed password checks per account and source address, and per account from
-- anywhere (source ''). The database decides, atomically, whether an attempt
-- may be verified at all, so concurrent guesses are counted exactly and the
-- owner is never locked out by someone else's address: an address that keeps
-- failing is locked out of that account, while the account as a whole is only
-- slowed down. Replaces the per-account counter on users, which let anyone
-- lock any account.
CREATE TABLE login_attempts (
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source       text        NOT NULL,
    failures     integer     NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, source),
    CONSTRAINT login_attempts_failures_positive CHECK (failures > 0),
    CONSTRAINT login_attempts_source_len CHECK (length(source) <= 64)
);

ALTER TABLE users
    DROP COLUMN failed_logins,
    DROP COLUMN locked_until;
