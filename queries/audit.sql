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
