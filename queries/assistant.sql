-- Reads for the chat assistant's questions about a set of leads ("who was
-- added today?", "what does Ann own?"): each reads at most row_limit leads,
-- and a count and sum of all of them.

-- LeadsCreatedBetween lists the leads created in [from_at, to_at), newest first.
-- name: LeadsCreatedBetween :many
SELECT *
FROM leads
WHERE created_at >= @from_at AND created_at < @to_at
ORDER BY created_at DESC, id
LIMIT @row_limit::integer;

-- CountLeadsCreatedBetween counts and sums the leads created in [from_at, to_at).
-- name: CountLeadsCreatedBetween :one
SELECT count(*)::integer AS leads, coalesce(sum(value), 0)::numeric AS total
FROM leads
WHERE created_at >= @from_at AND created_at < @to_at;

-- OwnerLeads lists the leads one user owns, the most valuable first.
-- name: OwnerLeads :many
SELECT *
FROM leads
WHERE owner_id = @owner_id
ORDER BY value DESC, name, id
LIMIT @row_limit::integer;

-- CountOwnerLeads counts and sums the leads one user owns.
-- name: CountOwnerLeads :one
SELECT count(*)::integer AS leads, coalesce(sum(value), 0)::numeric AS total
FROM leads
WHERE owner_id = @owner_id;
