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

-- UnsequencedEvents says whether committed events (or the transaction's own)
-- are waiting for a stream position.
-- name: UnsequencedEvents :one
SELECT EXISTS (SELECT 1 FROM lead_events WHERE seq IS NULL);

-- LastLeadEventSeq is the last stream position assigned.
-- name: LastLeadEventSeq :one
SELECT last_seq
FROM lead_event_sequencer;

-- ListStreamEvents reads the stream after position after, in stream order.
-- name: ListStreamEvents :many
SELECT seq::bigint AS seq, lead_id, at, action, changes, actor_kind, actor_user_id, actor_name,
       coalesce(lead, 'null')::jsonb AS lead,
       coalesce(stage, 'null')::jsonb AS stage, coalesce(stages, 'null')::jsonb AS stages
FROM lead_events
WHERE seq > @after::bigint
ORDER BY seq
LIMIT @row_limit::integer;

-- LastFieldChanges returns, for each field, the newest event of the lead that
-- changed it (an update, a move or a create), newest first.
-- name: LastFieldChanges :many
SELECT DISTINCT ON (c.field) c.field::text AS field, e.at, e.actor_name, e.id
FROM lead_events e
CROSS JOIN LATERAL jsonb_to_recordset(e.changes) AS c (field text)
WHERE e.lead_id = @lead_id AND e.action IN ('create', 'update', 'move')
ORDER BY c.field, e.id DESC
LIMIT 50;

-- LastLeadEvent returns the newest event of a lead: who last changed it, how
-- and when (the board names them when it refuses a stale drop).
-- name: LastLeadEvent :one
SELECT *
FROM lead_events
WHERE lead_id = @lead_id
ORDER BY id DESC
LIMIT 1;
