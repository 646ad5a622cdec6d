-- Accounts. The rules that keep the table consistent live here, not only in Go,
-- so that no client (psql, a future service, a buggy release) can break them.
CREATE TABLE users (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username              text        NOT NULL,
    email                 text        NOT NULL,
    password_hash         text        NOT NULL,
    role                  text        NOT NULL DEFAULT 'user',
    is_root               boolean     NOT NULL DEFAULT false,
    force_password_change boolean     NOT NULL DEFAULT false,
    avatar_key            text,
    version               integer     NOT NULL DEFAULT 1,
    failed_logins         integer     NOT NULL DEFAULT 0,
    locked_until          timestamptz,
    last_login_at         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9._-]{3,50}$'),
    CONSTRAINT users_email_lower CHECK (email = lower(email)),
    CONSTRAINT users_email_format CHECK (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT users_role_valid CHECK (role IN ('admin', 'user')),
    CONSTRAINT users_root_is_admin CHECK (NOT is_root OR role = 'admin'),
    CONSTRAINT users_version_positive CHECK (version > 0),
    CONSTRAINT users_failed_logins_nonnegative CHECK (failed_logins >= 0),
    CONSTRAINT users_password_hash_set CHECK (length(password_hash) > 0),
    CONSTRAINT users_avatar_key_format CHECK (avatar_key IS NULL OR avatar_key ~ '^[a-z0-9/._-]{1,200}$')
);

-- Usernames are unique whatever their case, so "Alice" cannot impersonate "alice".
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email);
-- At most one root user can ever exist.
CREATE UNIQUE INDEX users_single_root ON users (is_root) WHERE is_root;

-- The root account can be neither deleted nor demoted, whoever asks.
CREATE FUNCTION users_protect_root() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.is_root THEN
        RAISE EXCEPTION 'the root user cannot be deleted' USING ERRCODE = 'GOP01';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.is_root AND (NOT NEW.is_root OR NEW.role <> 'admin') THEN
        RAISE EXCEPTION 'the root user cannot be demoted' USING ERRCODE = 'GOP02';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_protect_root
    BEFORE UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_protect_root();
