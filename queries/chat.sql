-- name: UpsertConversation :one
INSERT INTO conversations (owner_key)
VALUES (@owner_key)
ON CONFLICT (owner_key) DO UPDATE SET updated_at = now()
RETURNING *;

-- name: GetConversationByKey :one
SELECT *
FROM conversations
WHERE owner_key = @owner_key;

-- name: GetConversation :one
SELECT *
FROM conversations
WHERE id = @id;

-- name: LockConversation :one
SELECT id
FROM conversations
WHERE id = @id
FOR UPDATE;

-- name: DeleteConversationByKey :execrows
DELETE FROM conversations
WHERE owner_key = @owner_key;

-- SetConversationPending replaces what the next message may answer, only when
-- nobody changed it since the caller read pending_version (compare and set).
-- name: SetConversationPending :execrows
UPDATE conversations
SET pending = @pending, pending_expires_at = @pending_expires_at,
    pending_version = pending_version + 1, updated_at = now()
WHERE id = @id AND pending_version = @seen_version;

-- name: InsertChatMessage :one
INSERT INTO chat_messages (conversation_id, role, reply_to, content, state)
VALUES (@conversation_id, @role, @reply_to, @content, @state)
RETURNING *;

-- TrimConversation keeps the newest keep messages of a conversation.
-- name: TrimConversation :execrows
DELETE FROM chat_messages
WHERE chat_messages.conversation_id = @conversation_id
  AND chat_messages.seq < (SELECT m.seq
             FROM chat_messages m
             WHERE m.conversation_id = @conversation_id
             ORDER BY m.seq DESC
             OFFSET @keep::integer LIMIT 1);

-- ListChatMessages reads the newest messages of a conversation before before_seq,
-- newest first.
-- name: ListChatMessages :many
SELECT *
FROM chat_messages
WHERE conversation_id = @conversation_id AND seq < @before_seq::bigint
ORDER BY seq DESC
LIMIT @row_limit::integer;

-- name: GetChatMessage :one
SELECT *
FROM chat_messages
WHERE id = @id;

-- name: GetChatMessageForUpdate :one
SELECT *
FROM chat_messages
WHERE id = @id
FOR UPDATE;

-- DeleteUnstartedTurn removes a user message and its reply while the reply is
-- still pending (the reply goes with it through reply_to's cascade).
-- name: DeleteUnstartedTurn :execrows
DELETE FROM chat_messages
WHERE chat_messages.id = @message_id
  AND EXISTS (SELECT 1 FROM chat_messages r
              WHERE r.id = @reply_id AND r.reply_to = @message_id AND r.state = 'PENDING');

-- ClaimChatReply marks a reply as being worked on by the caller: a pending reply,
-- or one whose previous worker's lease ran out.
-- name: ClaimChatReply :one
UPDATE chat_messages
SET state = 'PROCESSING', attempts = attempts + 1,
    lease_until = now() + make_interval(secs => @lease_seconds::double precision),
    updated_at = now()
WHERE id = @id AND role = 'assistant'
  AND (state = 'PENDING' OR (state = 'PROCESSING' AND lease_until < now()))
RETURNING *;

-- ReleaseChatReply hands a claimed reply back to the queue (a worker shutting
-- down), so the next delivery can claim it at once.
-- name: ReleaseChatReply :execrows
UPDATE chat_messages
SET state = 'PENDING', lease_until = NULL, updated_at = now()
WHERE id = @id AND state = 'PROCESSING' AND attempts = @attempts;

-- FinishChatReply writes a reply's result, only for the worker whose claim is the
-- latest (attempts) and while the reply is still being worked on.
-- name: FinishChatReply :execrows
UPDATE chat_messages
SET state = @state, content = @content, operations = @operations, error = @error,
    leads_changed = @leads_changed, prompt_tokens = @prompt_tokens,
    completion_tokens = @completion_tokens, lease_until = NULL, updated_at = now()
WHERE id = @id AND state = 'PROCESSING' AND attempts = @attempts;

-- ListStaleChatReplies finds replies the queue seems to have lost: pending since
-- before pending_before, or claimed by a worker whose lease ran out.
-- name: ListStaleChatReplies :many
SELECT id, enqueues
FROM chat_messages
WHERE state IN ('PENDING', 'PROCESSING')
  AND ((state = 'PENDING' AND updated_at < @pending_before)
       OR (state = 'PROCESSING' AND lease_until < now()))
ORDER BY updated_at
LIMIT @row_limit::integer;

-- name: MarkChatReplyEnqueued :execrows
UPDATE chat_messages
SET enqueues = enqueues + 1, updated_at = now()
WHERE id = @id AND enqueues = @enqueues AND state IN ('PENDING', 'PROCESSING');

-- AbandonChatReplies fails the replies no worker finished since created_before.
-- name: AbandonChatReplies :many
UPDATE chat_messages
SET state = 'FAILURE', error = @error, lease_until = NULL, updated_at = now()
WHERE state IN ('PENDING', 'PROCESSING')
  AND created_at < @created_before
  AND (state = 'PENDING' OR lease_until < now())
RETURNING id;

-- name: DeleteIdleConversations :execrows
DELETE FROM conversations
WHERE updated_at < @idle_before;

-- SetConversationUser makes a conversation the user's, unless it is another
-- user's already (then it changes nothing).
-- name: SetConversationUser :execrows
UPDATE conversations
SET user_id = @user_id
WHERE id = @id AND (user_id IS NULL OR user_id = @user_id);

-- GetChatMessageOwner returns the user whose conversation a message is in.
-- name: GetChatMessageOwner :one
SELECT conversations.user_id
FROM chat_messages
JOIN conversations ON conversations.id = chat_messages.conversation_id
WHERE chat_messages.id = @id;

-- AdoptConversation gives an API client the conversation it started before it
-- had a client cookie: the token's shared conversation becomes the client's own
-- (owner_key to_key), when its newest message is the one whose reply issued the
-- cookie and the client has no conversation yet.
-- name: AdoptConversation :execrows
UPDATE conversations
SET owner_key = @to_key, updated_at = now()
WHERE conversations.owner_key = @from_key
  AND (SELECT m.id FROM chat_messages m
       WHERE m.conversation_id = conversations.id AND m.role = 'user'
       ORDER BY m.seq DESC LIMIT 1) = @message_id::uuid
  AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.owner_key = @to_key);
