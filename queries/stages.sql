-- name: ListStages :many
SELECT id, name, position, kind
FROM stages
ORDER BY position
LIMIT 100;

-- LockStages takes the row lock of each named stage, in board order so that two
-- transactions locking overlapping sets can never deadlock. Every write that
-- changes which cards a column holds, or their order, holds the lock of that
-- column's stage until commit, exclusively (this query) or shared (a move: move_lead in
-- migration 00006; see store/leads.go).
-- name: LockStages :many
SELECT name
FROM stages
WHERE name = ANY(@names::text[])
ORDER BY position
FOR UPDATE;
