-- name: InsertLeadEvent :exec
INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name)
VALUES (@lead_id, @action, @changes, @actor_kind, @actor_user_id, @actor_name);

-- ListLeadEvents reads a lead's history, newest first.
-- name: ListLeadEvents :many
SELECT *
FROM lead_events
WHERE lead_id = @lead_id
ORDER BY id DESC
LIMIT @row_limit::integer;

-- SequenceLeadEvents numbers the committed events not numbered yet (migration
-- 00008) and returns the last number assigned.
-- name: SequenceLeadEvents :one
SELECT sequence_lead_events()::bigint AS last_seq;

-- LastLeadEventSeq is the last stream position assigned.
-- name: LastLeadEventSeq :one
SELECT last_seq
FROM lead_event_sequencer;

-- ListStreamEvents reads the stream after position after, in stream order.
-- name: ListStreamEvents :many
SELECT seq::bigint AS seq, lead_id, at, action, changes, actor_kind, actor_user_id, actor_name,
       coalesce(lead, 'null')::jsonb AS lead
FROM lead_events
WHERE seq > @after::bigint
ORDER BY seq
LIMIT @row_limit::integer;
