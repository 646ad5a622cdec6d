-- Back to counters per account id; unknown logins were not counted then.
DROP TABLE login_attempts;

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
