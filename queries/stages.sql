-- name: ListStages :many
SELECT id, name, position, kind
FROM stages
ORDER BY position
LIMIT 100;

-- LockStages takes the row lock of each named stage, in board order so that two
-- transactions locking overlapping sets can never deadlock. Every write that
-- changes which cards a column holds, or their order, holds the lock of that
-- column's stage until commit, exclusively (this query) or shared (ShareMoveStages;
-- see store/leads.go for who takes which).
-- name: LockStages :many
SELECT name
FROM stages
WHERE name = ANY(@names::text[])
ORDER BY position
FOR UPDATE;

-- ShareMoveStages takes the shared row locks a move needs, in board order: the
-- stage of the column lead id is in and the target stage, named exactly or
-- without regard to case (the caller picks). The lead's column is read before
-- the locks are held; the caller reads it again under them.
-- name: ShareMoveStages :many
SELECT s.name
FROM stages s
WHERE s.name = (SELECT l.status FROM leads l WHERE l.id = @id)
   OR lower(s.name) = lower(@target::text)
ORDER BY s.position
FOR SHARE OF s;
