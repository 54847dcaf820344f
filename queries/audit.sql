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
