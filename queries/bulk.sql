-- LockLeads locks the leads with ids (in id order, so two bulk actions over
-- the same leads queue rather than deadlock) and returns them; ids that name
-- no lead are missing from the result.
-- name: LockLeads :many
SELECT *
FROM leads
WHERE id = ANY(@ids::uuid[])
ORDER BY id
FOR UPDATE;

-- name: SetLeadOwner :one
UPDATE leads
SET owner_id = sqlc.narg(owner_id)::uuid
WHERE id = @id
RETURNING *;

-- name: InsertBulkOperation :one
INSERT INTO bulk_operations (action, leads, actor_user_id, actor_name)
VALUES (@action, @leads, sqlc.narg(actor_user_id)::uuid, @actor_name)
RETURNING id;

-- name: GetBulkOperationForUpdate :one
SELECT *
FROM bulk_operations
WHERE id = @id
FOR UPDATE;

-- name: MarkBulkOperationUndone :exec
UPDATE bulk_operations
SET undone_at = now()
WHERE id = @id;

-- name: UserNames :many
SELECT id, email AS name
FROM users
WHERE id = ANY(@ids::uuid[])
ORDER BY id
LIMIT 1000;
