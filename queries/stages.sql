-- name: ListStages :many
SELECT id, name, position, kind, probability, rot_days
FROM stages
ORDER BY position
LIMIT 100;

-- LockStages takes the row lock of each named stage, in id order so that two
-- transactions locking overlapping sets can never deadlock (ids never change;
-- positions do when stages are reordered, migration 00016). Every write that
-- changes which cards a column holds, or their order, holds the lock of that
-- column's stage until commit, exclusively (this query) or shared (a move:
-- move_lead; see store/leads.go).
-- name: LockStages :many
SELECT name
FROM stages
WHERE name = ANY(@names::text[])
ORDER BY id
FOR UPDATE;

-- LockAllStages takes every stage's row lock, in id order: editing the
-- pipeline (store/stages.go) waits for the writes in flight in any column and
-- holds new ones back until it commits. It returns the stages in board order.
-- name: LockAllStages :many
SELECT id, name, position, kind, probability, rot_days
FROM (SELECT * FROM stages ORDER BY id FOR UPDATE) s
ORDER BY position
LIMIT 100;

-- name: InsertStage :one
INSERT INTO stages (name, position, kind, probability, rot_days)
VALUES (@name, @position, @kind, @probability, @rot_days)
RETURNING id, name, position, kind, probability, rot_days;

-- name: UpdateStage :one
UPDATE stages
SET name = @name, kind = @kind, probability = @probability, rot_days = @rot_days
WHERE id = @id
RETURNING id, name, position, kind, probability, rot_days;

-- SetStagePosition sets one stage's position; the unique position is checked
-- at commit (migration 00011), so a reorder writes positions in any order.
-- name: SetStagePosition :execrows
UPDATE stages
SET position = @position
WHERE id = @id AND position <> @position;

-- name: DeleteStage :execrows
DELETE FROM stages
WHERE id = @id;

-- MoveStageLeads moves every lead of column from_status to the end of column
-- to_status, in their order, key_gap apart after the last key there (base),
-- recording a move in each lead's history in the same statement (the lead
-- snapshot given, so the trigger does not count each position). The caller
-- holds both columns' locks exclusively.
-- name: MoveStageLeads :execrows
WITH ranked AS (
    SELECT l.id, row_number() OVER (ORDER BY l.card_order) AS n
    FROM leads l
    WHERE l.status = sqlc.arg(from_status)::text
), moved AS (
    UPDATE leads l
    SET status = sqlc.arg(to_status)::text, card_order = sqlc.arg(base)::bigint + ranked.n * sqlc.arg(key_gap)::bigint, updated_at = now()
    FROM ranked
    WHERE l.id = ranked.id
    RETURNING l.id, to_jsonb(l) AS lead, ranked.n
)
INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name, lead)
SELECT m.id, 'move',
       jsonb_build_array(jsonb_build_object('field', 'status', 'old', sqlc.arg(from_status)::text, 'new', sqlc.arg(to_status)::text)),
       sqlc.arg(actor_kind), sqlc.arg(actor_user_id), sqlc.arg(actor_name),
       m.lead || jsonb_build_object('card_order', sqlc.arg(first_pos)::bigint + m.n - 1)
FROM moved m;

-- MoveTrashedLeads points the trashed leads of a stage at another, so a
-- restore puts them there.
-- name: MoveTrashedLeads :execrows
UPDATE trashed_leads
SET status = @to_status::text
WHERE status = @from_status::text;

-- name: InsertStageEvent :exec
INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name, stage, stages)
VALUES ('00000000-0000-0000-0000-000000000000', @action, @changes, @actor_kind, @actor_user_id, @actor_name, @stage, @stages);

-- SetStageLeadsClosed keeps closed_at true for the leads of a stage whose kind
-- changed: set (now, unless already closed) when it became won or lost,
-- cleared when it became open. The leads did not change stage, so migration
-- 00012's trigger (on status) does not run.
-- name: SetStageLeadsClosed :execrows
UPDATE leads
SET closed_at = CASE WHEN @open::boolean THEN NULL ELSE coalesce(closed_at, now()) END
WHERE status = @status::text
  AND (CASE WHEN @open::boolean THEN closed_at IS NOT NULL ELSE closed_at IS NULL END);

-- CountStageLeadsWithoutReason counts the leads of a stage with no lost reason.
-- name: CountStageLeadsWithoutReason :one
SELECT count(*)::integer FROM leads WHERE status = @status::text AND lost_reason = '';
