-- TrashLead moves a lead from leads to trashed_leads in one statement. The
-- caller holds the lock of the lead's stage.
-- name: TrashLead :one
WITH gone AS (
    DELETE FROM leads
    WHERE leads.id = @id
    RETURNING leads.*
)
INSERT INTO trashed_leads (id, name, company, email, phone, value, notes, status, source,
                           created_at, updated_at, deleted_by,
                           owner_id, closed_at, lost_reason, lost_note, stage_entered_at)
SELECT gone.id, gone.name, gone.company, gone.email, gone.phone, gone.value, gone.notes,
       gone.status, gone.source, gone.created_at, gone.updated_at, @deleted_by,
       gone.owner_id, gone.closed_at, gone.lost_reason, gone.lost_note, gone.stage_entered_at
FROM gone
RETURNING *;

-- name: GetTrashedLead :one
SELECT *
FROM trashed_leads
WHERE id = @id;

-- name: GetTrashedLeadForUpdate :one
SELECT *
FROM trashed_leads
WHERE id = @id
FOR UPDATE;

-- name: ListTrash :many
SELECT *
FROM trashed_leads
ORDER BY deleted_at DESC, id
LIMIT @row_limit::integer;

-- RestoreLead moves a lead from the trash back to leads, at the sort key
-- card_order (the end of its column: the caller holds the stage's lock).
-- name: RestoreLead :one
WITH back AS (
    DELETE FROM trashed_leads
    WHERE trashed_leads.id = @id
    RETURNING trashed_leads.*
)
INSERT INTO leads (id, name, company, email, phone, value, notes, status, source,
                   card_order, created_at, updated_at,
                   owner_id, closed_at, lost_reason, lost_note, stage_entered_at)
SELECT back.id, back.name, back.company, back.email, back.phone, back.value, back.notes,
       back.status, back.source, @card_order, back.created_at, now(),
       back.owner_id, back.closed_at, back.lost_reason, back.lost_note, back.stage_entered_at
FROM back
RETURNING *;

-- PurgeTrash deletes the leads trashed before deleted_before, and their history.
-- name: PurgeTrash :many
WITH gone AS (
    DELETE FROM trashed_leads
    WHERE deleted_at < @deleted_before
    RETURNING id
), events AS (
    DELETE FROM lead_events
    WHERE lead_id IN (SELECT gone.id FROM gone)
)
SELECT gone.id
FROM gone;
