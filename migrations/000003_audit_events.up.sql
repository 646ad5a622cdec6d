-- Who changed which account, when, from where. Names are copied so the trail
-- stays readable after the actor or the target is deleted.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    actor_name  text        NOT NULL DEFAULT '',
    action      text        NOT NULL,
    target_id   bigint,
    target_name text        NOT NULL DEFAULT '',
    request_id  text        NOT NULL DEFAULT '',
    client_ip   text        NOT NULL DEFAULT '',
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_events_action_format CHECK (action ~ '^[a-z]+(\.[a-z_]+)+$'),
    CONSTRAINT audit_events_details_object CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX audit_events_recent_idx ON audit_events (id DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_id) WHERE target_id IS NOT NULL;
