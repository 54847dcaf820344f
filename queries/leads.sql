-- name: GetLead :one
SELECT *
FROM leads
WHERE id = @id;

-- name: GetLeadForUpdate :one
SELECT *
FROM leads
WHERE id = @id
FOR UPDATE;

-- name: GetLeadStatus :one
SELECT status
FROM leads
WHERE id = @id;

-- name: CountLeadsInStatus :one
SELECT count(*)::integer
FROM leads
WHERE status = @status;

-- name: InsertLead :one
INSERT INTO leads (name, company, email, phone, value, notes, status, source, card_order)
VALUES (@name, @company, @email, @phone, @value, @notes, @status,
        @source, @card_order)
RETURNING *;

-- name: UpdateLeadFields :one
UPDATE leads
SET name = @name, company = @company, email = @email, phone = @phone,
    value = @value, notes = @notes, source = @source,
    status = @status, card_order = @card_order, updated_at = now()
WHERE id = @id
RETURNING *;

-- CloseGap moves the cards in (from_order, to_order] of a column one place up.
-- name: CloseGap :execrows
UPDATE leads
SET card_order = card_order - 1
WHERE status = @status AND card_order > @from_order AND card_order <= @to_order;

-- name: DeleteLead :one
DELETE FROM leads
WHERE id = @id
RETURNING status, card_order;

-- ListLeads reads every lead (of one column when only_status is set) matching the
-- search pattern, by card_order; the caller groups them into columns, which keeps
-- each column in order. Sorting on the integer alone, with no join, is what makes
-- the unpaged board cheap.
-- name: ListLeads :many
SELECT *
FROM leads
WHERE (sqlc.narg(only_status)::text IS NULL OR status = sqlc.narg(only_status)::text)
  AND (@pattern::text = ''
       OR name ILIKE @pattern OR company ILIKE @pattern
       OR email ILIKE @pattern OR notes ILIKE @pattern)
ORDER BY card_order, id
LIMIT 1000000;

-- ListColumns reads up to row_limit leads of each column (or of one column when
-- only_status is set) after the card_order after_order, matching the search pattern
-- when one is given: one index range scan per column, whatever the board's size.
-- name: ListColumns :many
SELECT leads.*
FROM leads
JOIN stages ON stages.name = leads.status
WHERE leads.id IN (
    SELECT page.id
    FROM stages s
    CROSS JOIN LATERAL (
        SELECT l.id
        FROM leads l
        WHERE l.status = s.name
          AND l.card_order > @after_order::integer
          AND (@pattern::text = ''
               OR l.name ILIKE @pattern OR l.company ILIKE @pattern
               OR l.email ILIKE @pattern OR l.notes ILIKE @pattern)
        ORDER BY l.card_order
        LIMIT @row_limit::integer
    ) page
    WHERE sqlc.narg(only_status)::text IS NULL OR s.name = sqlc.narg(only_status)::text
)
ORDER BY stages.position, leads.card_order;

-- ColumnTotals counts every lead of each column (matching the search pattern when
-- one is given) and sums their value, whatever part of the column is loaded.
-- name: ColumnTotals :many
SELECT s.name, count(l.id)::integer AS lead_count,
       coalesce(sum(l.value), 0)::numeric AS total_value
FROM stages s
LEFT JOIN leads l ON l.status = s.name
     AND (@pattern::text = ''
          OR l.name ILIKE @pattern OR l.company ILIKE @pattern
          OR l.email ILIKE @pattern OR l.notes ILIKE @pattern)
GROUP BY s.name, s.position
ORDER BY s.position;

-- SearchLeadsFuzzy ranks leads by trigram similarity of the query to their name,
-- company and email (whole-string and word similarity), for forgiving matching of
-- what a person typed: case, partial words and small typos.
-- name: SearchLeadsFuzzy :many
SELECT sqlc.embed(leads),
       greatest(similarity(name, @query::text), word_similarity(@query::text, name),
                similarity(company, @query::text), word_similarity(@query::text, company),
                similarity(email, @query::text), word_similarity(@query::text, email))::real AS score
FROM leads
WHERE name % @query::text OR company % @query::text OR email % @query::text
   OR @query::text <% name OR @query::text <% company OR @query::text <% email
   OR name ILIKE @pattern::text OR company ILIKE @pattern::text OR email ILIKE @pattern::text
ORDER BY score DESC, name, id
LIMIT @row_limit::integer;

-- name: CountLeads :one
SELECT count(*)::integer
FROM leads;

-- SearchLeadsTypo is the assistant's fallback for typos trigrams miss in short
-- words ("jnae" for "jane"): leads with a word of their name, company or email's
-- local part within two edits of a word typed, closest first. No index serves
-- levenshtein, so it reads every lead; the assistant runs it only when
-- SearchLeadsFuzzy found nothing close.
-- name: SearchLeadsTypo :many
SELECT sqlc.embed(leads), d.distance
FROM leads
CROSS JOIN LATERAL (
    SELECT min(levenshtein_less_equal(w.word, q.word, 2))::integer AS distance
    FROM unnest(regexp_split_to_array(lower(leads.name || ' ' || leads.company || ' ' || split_part(leads.email, '@', 1)), '[^[:alnum:]]+')) AS w (word)
    CROSS JOIN unnest(@words::text[]) AS q (word)
    WHERE length(q.word) >= 3 AND length(w.word) >= 2
) d
WHERE d.distance <= 2
ORDER BY d.distance, leads.name, leads.id
LIMIT @row_limit::integer;

-- MoveLeadTo moves a lead to position target_order of column new_status, shifting
-- the cards between its old and new place by one, in one statement. It must run
-- while the transaction holds the stage locks of old_status and new_status (see
-- LockStages): its snapshot is then the settled state of both columns. target_order
-- is clamped to 0..n, n being the number of other leads in the new column. It
-- changes nothing and returns no row if the lead is no longer in old_status.
-- name: MoveLeadTo :one
WITH cur AS (
    SELECT c.id, c.status, c.card_order
    FROM leads c
    WHERE c.id = @id AND c.status = @old_status::text
), dest AS (
    SELECT greatest(0, least(@target_order::integer,
           (SELECT count(*) FROM leads o WHERE o.status = @new_status::text AND o.id <> @id)))::integer AS pos
), shifted AS (
    UPDATE leads l
    SET card_order = CASE
            WHEN cur.status <> @new_status::text AND l.status = cur.status THEN l.card_order - 1
            WHEN cur.status <> @new_status::text THEN l.card_order + 1
            WHEN dest.pos > cur.card_order THEN l.card_order - 1
            ELSE l.card_order + 1
        END
    FROM cur, dest
    WHERE l.id <> cur.id AND (
          -- leaving the old column: the cards after it move up
          (cur.status <> @new_status::text AND l.status = cur.status AND l.card_order > cur.card_order)
          -- entering the new column: the cards from its new place on move down
       OR (cur.status <> @new_status::text AND l.status = @new_status::text AND l.card_order >= dest.pos)
          -- within one column: the cards between the old and new place shift by one
       OR (cur.status = @new_status::text AND l.status = cur.status
           AND ((dest.pos > cur.card_order AND l.card_order > cur.card_order AND l.card_order <= dest.pos)
             OR (dest.pos < cur.card_order AND l.card_order >= dest.pos AND l.card_order < cur.card_order))))
    RETURNING l.id
)
UPDATE leads
SET status = @new_status::text, card_order = dest.pos, updated_at = now()
FROM cur, dest
WHERE leads.id = cur.id
RETURNING leads.*;
