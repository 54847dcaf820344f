-- +goose Up
-- users are the people who may sign in. There is no default account: while the
-- table is empty the app offers a one-time setup page for the first admin.
CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- password_hash is an argon2id hash in the PHC string format
    -- ($argon2id$v=19$m=...,t=...,p=...$salt$hash); never the password.
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role                text NOT NULL CHECK (role IN ('admin', 'member')),
    -- A deactivated user can neither sign in nor use a token; their history stays.
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique without regard to case: Ann@Example.com is ann@example.com.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- user_sessions is the server's own list of signed-in browser sessions. The scs
-- session (table sessions) carries only the id of its row here, and a request is
-- signed in only while that row exists: signing out deletes it, so a request of
-- the same session still in flight cannot bring the session back by saving its
-- scs data afterwards, and a password change deletes the user's other rows.
CREATE TABLE user_sessions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_at_idx ON user_sessions (expires_at);

-- api_tokens are personal API tokens (Authorization: Bearer <token>). Only the
-- SHA-256 of a token is kept: tokens are 256-bit random strings, so a fast hash
-- is enough to make a leaked table useless, and lets a request be checked with
-- one index lookup.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    UNIQUE (user_id, name)
);

-- A conversation with the assistant belongs to the user who started it; NULL for
-- conversations from before accounts existed, which nobody can read any more.
ALTER TABLE conversations ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX conversations_user_idx ON conversations (user_id);

-- +goose Down
DROP INDEX conversations_user_idx;
ALTER TABLE conversations DROP COLUMN user_id;
DROP TABLE api_tokens;
DROP TABLE user_sessions;
DROP TABLE users;
