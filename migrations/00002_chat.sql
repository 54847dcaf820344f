-- +goose Up
-- fuzzystrmatch gives levenshtein(), the assistant's fallback for typos that
-- trigrams miss in short words ("jnae" for "jane").
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- sessions is the table scs's pgxstore keeps browser sessions in.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- conversations holds one assistant conversation per owner: a browser session or
-- a bearer token. owner_key is opaque ("session:<random>", "bearer:<sha256>").
CREATE TABLE conversations (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_key          text NOT NULL UNIQUE CHECK (length(owner_key) BETWEEN 1 AND 200),
    -- pending is what the next message may answer (a delete waiting for "yes", a
    -- choice among several leads), NULL when nothing is waiting. Its shape is the
    -- assistant's business.
    pending            jsonb,
    pending_expires_at timestamptz,
    -- pending_version counts every change of pending: a turn writes pending only
    -- when the version is the one it read, so a confirmation is used exactly once.
    pending_version    bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_updated_at_idx ON conversations (updated_at);

-- chat_messages holds what the person wrote and the assistant's replies. A reply is
-- also the job that produces it: its id is the task id of the chat API, and state
-- is the job's state (user messages are SUCCESS from the start).
CREATE TABLE chat_messages (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq               bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    -- reply_to is the user message a reply answers; deleting it deletes the reply.
    reply_to          uuid REFERENCES chat_messages (id) ON DELETE CASCADE,
    content           text NOT NULL DEFAULT '' CHECK (length(content) <= 20000),
    state             text NOT NULL CHECK (state IN ('PENDING', 'PROCESSING', 'SUCCESS', 'FAILURE')),
    operations        jsonb NOT NULL DEFAULT '[]',
    error             text NOT NULL DEFAULT '' CHECK (length(error) <= 2000),
    leads_changed     boolean NOT NULL DEFAULT false,
    -- attempts counts claims by a worker; a worker's result is kept only when
    -- attempts still has the value its claim set (a later claim supersedes it).
    attempts          integer NOT NULL DEFAULT 0,
    lease_until       timestamptz,
    -- enqueues counts how often the job was put on the queue (the sweeper adds one
    -- each time it enqueues a reply Redis lost).
    enqueues          integer NOT NULL DEFAULT 1,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'assistant') = (reply_to IS NOT NULL))
);
CREATE INDEX chat_messages_conversation_seq_idx ON chat_messages (conversation_id, seq);
CREATE INDEX chat_messages_reply_to_idx ON chat_messages (reply_to);
-- One unfinished reply per conversation: a second message sent while the first is
-- still being answered is refused (the unique violation is the lock).
CREATE UNIQUE INDEX chat_messages_one_in_flight_idx ON chat_messages (conversation_id)
    WHERE state IN ('PENDING', 'PROCESSING');
-- The sweeper's scan for replies the queue lost.
CREATE INDEX chat_messages_unfinished_idx ON chat_messages (updated_at)
    WHERE state IN ('PENDING', 'PROCESSING');

-- +goose Down
DROP TABLE chat_messages;
DROP TABLE conversations;
DROP TABLE sessions;
DROP EXTENSION IF EXISTS fuzzystrmatch;
