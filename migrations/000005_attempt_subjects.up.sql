-- Password checks are counted per subject and source address. A subject is an
-- account ('user:<id>') or, for a login that names no account, the login
-- itself ('login:<sha-256 of its lower-case form>'), so a login that does not
-- exist is throttled exactly like one that does and the answers never tell
-- which accounts exist. Counters are short-lived (an hour's window): the old
-- rows are dropped rather than converted. updated_at is indexed for pruning,
-- which keeps the table to about one window of attempts.
DROP TABLE login_attempts;

CREATE TABLE login_attempts (
    subject      text        NOT NULL,
    source       text        NOT NULL,
    failures     integer     NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (subject, source),
    CONSTRAINT login_attempts_failures_positive CHECK (failures > 0),
    CONSTRAINT login_attempts_subject_len CHECK (length(subject) <= 80),
    CONSTRAINT login_attempts_source_len CHECK (length(source) <= 64)
);

CREATE INDEX login_attempts_updated_at ON login_attempts (updated_at);
