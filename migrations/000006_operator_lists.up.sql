-- The operator's lists: users in natural order, and an audit trail that
-- keeps which program made each change and can be filtered.

-- Names sort as people read them: "gunnar6" before "gunnar58", "Alice" next
-- to "alice". The ICU collation with numeric ordering (kn) compares runs of
-- digits by their value and letters by the root locale's rules (case only
-- breaks ties). PostgreSQL's own "C" order compares bytes ("gunnar58" before
-- "gunnar6", every capital before every lower-case letter), and a sort key
-- computed in Go could not be indexed or paged in SQL. ICU is built into the
-- PostgreSQL of Debian, of the official images and of RDS; the collation is
-- deterministic, so equal names still compare equal only when identical.
CREATE COLLATION natural_order (provider = icu, locale = 'und-u-kn-true');

CREATE INDEX users_username_natural_idx ON users ((username COLLATE natural_order), id);
CREATE INDEX users_email_natural_idx ON users ((email COLLATE natural_order), id);
CREATE INDEX users_created_at_idx ON users (created_at, id);

-- The program that sent the request (the browser's user agent, or a
-- script's), cut to 256 bytes.
ALTER TABLE audit_events
    ADD COLUMN user_agent text NOT NULL DEFAULT '',
    ADD CONSTRAINT audit_events_user_agent_len CHECK (length(user_agent) <= 256);

-- The audit page filters by actor, action and time, and a user's page shows
-- what they did and what was done to them.
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_action_idx ON audit_events (action, id DESC);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC, id DESC);
