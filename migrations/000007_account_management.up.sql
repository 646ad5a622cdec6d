-- Accounts that can be managed: paused, their sign-ins listed and revoked,
-- their API tokens scoped.

-- A disabled account cannot sign in and has no sessions or tokens; root can
-- never be disabled, whoever asks.
ALTER TABLE users
    ADD COLUMN disabled_at timestamptz,
    ADD CONSTRAINT users_root_never_disabled CHECK (NOT is_root OR disabled_at IS NULL);

-- What a sign-in's owner sees in its list: the browser it came from (user
-- agent) and the last address it was used from. name stays a token's name;
-- a browser session's user agent moves out of it. An API token carries
-- scopes: read (GET), write (any other method), admin (the admin role's
-- powers over other accounts); a browser session has them all.
ALTER TABLE sessions
    ADD COLUMN user_agent text   NOT NULL DEFAULT '',
    ADD COLUMN client_ip  text   NOT NULL DEFAULT '',
    ADD COLUMN scopes     text[] NOT NULL DEFAULT ARRAY['read', 'write', 'admin'],
    ADD CONSTRAINT sessions_user_agent_len CHECK (length(user_agent) <= 200),
    ADD CONSTRAINT sessions_client_ip_len CHECK (length(client_ip) <= 64),
    ADD CONSTRAINT sessions_scopes_valid CHECK (
        cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']::text[]);

UPDATE sessions SET user_agent = left(name, 200), name = '' WHERE kind = 'session';

-- Sign-ins from an identity provider: the provider's subject, linked once to
-- one account.
CREATE TABLE identities (
    issuer     text        NOT NULL,
    subject    text        NOT NULL,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject),
    CONSTRAINT identities_issuer_len CHECK (length(issuer) BETWEEN 1 AND 512),
    CONSTRAINT identities_subject_len CHECK (length(subject) BETWEEN 1 AND 255)
);

CREATE INDEX identities_user_id_idx ON identities (user_id);
