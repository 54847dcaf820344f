-- Won and lost as outcomes, and owners: the team's pipeline settings, the
-- admin-kept list of lost reasons, and the users leads are owned by.

-- name: GetPipelineSettings :one
SELECT lost_reason_required
FROM pipeline_settings;

-- name: UpdatePipelineSettings :execrows
UPDATE pipeline_settings
SET lost_reason_required = @lost_reason_required;

-- name: ListLostReasons :many
SELECT id, name, position, active
FROM lost_reasons
ORDER BY position, id
LIMIT 200;

-- name: InsertLostReason :one
INSERT INTO lost_reasons (name, position)
VALUES (@name, (SELECT coalesce(max(position), -1) + 1 FROM lost_reasons))
RETURNING id, name, position, active;

-- name: UpdateLostReason :one
UPDATE lost_reasons
SET name = @name, active = @active
WHERE id = @id
RETURNING id, name, position, active;

-- LostReasonByName finds a reason of the list, active or not, without regard
-- to case.
-- name: LostReasonByName :one
SELECT id, name, position, active
FROM lost_reasons
WHERE lower(name) = lower(@name::text);

-- LeadOwners reads the users that own the given leads.
-- name: LeadOwners :many
SELECT id, name, email, active
FROM users
WHERE id = ANY(@ids::uuid[])
LIMIT 1000;

-- LockLeadsOfOwner locks and reads the leads of owner_id, as they were before a
-- reassignment, for the audit trail.
-- name: LockLeadsOfOwner :many
SELECT *
FROM leads
WHERE owner_id = @owner_id
ORDER BY id
FOR UPDATE;

-- SetLeadOwners gives the leads ids to owner_id.
-- name: SetLeadOwners :many
UPDATE leads
SET owner_id = sqlc.narg(owner_id), updated_at = now()
WHERE id = ANY(@ids::uuid[])
RETURNING *;

-- CountLeadsByOwner counts the leads of each user who owns some.
-- name: CountLeadsByOwner :many
SELECT owner_id::uuid AS owner_id, count(*)::integer AS leads
FROM leads
WHERE owner_id IS NOT NULL
GROUP BY owner_id
ORDER BY owner_id
LIMIT 10000;
