ALTER TABLE users
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until  timestamptz,
    ADD CONSTRAINT users_failed_logins_nonnegative CHECK (failed_logins >= 0);

DROP TABLE login_attempts;
