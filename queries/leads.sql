-- GetLead returns a lead with its position in its column: the number of cards
-- before it (see migration 00005: the stored card_order is a sort key with gaps).
-- name: GetLead :one
SELECT sqlc.embed(leads),
       (SELECT count(*) FROM leads o
        WHERE o.status = leads.status AND o.card_order < leads.card_order)::integer AS position
FROM leads
WHERE leads.id = @id;

-- name: GetLeadForUpdate :one
SELECT *
FROM leads
WHERE id = @id
FOR UPDATE;

-- name: GetLeadStatus :one
SELECT status
FROM leads
WHERE id = @id;

-- ColumnEnd returns the sort key a card added at the end of a column takes
-- (key_gap after the last one, 0 in an empty column) and the number of its
-- cards, the position that card takes. Keys stay within about half the bigint
-- range (store.endKey, move_lead), so the sum cannot overflow.
-- name: ColumnEnd :one
SELECT coalesce(max(card_order) + @key_gap::bigint, 0)::bigint AS next_key, count(*)::integer AS n
FROM leads
WHERE status = @status;

-- LeadPosition is the position in its column of the card with sort key card_order.
-- name: LeadPosition :one
SELECT count(*)::integer
FROM leads
WHERE status = @status AND card_order < @card_order;

-- LeadPositions returns the positions of the given leads in their columns.
-- name: LeadPositions :many
SELECT l.id,
       (SELECT count(*) FROM leads o
        WHERE o.status = l.status AND o.card_order < l.card_order)::integer AS position
FROM leads l
WHERE l.id = ANY(@ids::uuid[]);

-- RenumberColumn spreads a column's sort keys out again (renumber_column,
-- migration 00006). The caller holds the column's stage lock exclusively.
-- name: RenumberColumn :exec
SELECT renumber_column(@status::text, @key_gap::bigint);


-- name: InsertLead :one
INSERT INTO leads (name, company, email, phone, value, notes, status, source, card_order,
                   owner_id, lost_reason, lost_note)
VALUES (@name, @company, @email, @phone, @value, @notes, @status,
        @source, @card_order, sqlc.narg(owner_id), @lost_reason, @lost_note)
RETURNING *;

-- UpdateLeadFields writes a lead's fields (stage_entered_at and closed_at
-- follow status by the trigger of migration 00012).
-- name: UpdateLeadFields :one
UPDATE leads
SET name = @name, company = @company, email = @email, phone = @phone,
    value = @value, notes = @notes, source = @source,
    status = @status, card_order = @card_order, updated_at = now(),
    owner_id = sqlc.narg(owner_id), lost_reason = @lost_reason, lost_note = @lost_note
WHERE id = @id
RETURNING *;

-- ListLeads reads every lead (of one column when only_status is set) by card_order;
-- the caller groups them into columns, which keeps each column in order, and
-- counts the positions. Sorting on the key alone, with no join, is what makes the
-- unpaged board cheap.
-- name: ListLeads :many
SELECT *
FROM leads
WHERE sqlc.narg(only_status)::text IS NULL OR status = sqlc.narg(only_status)::text
ORDER BY card_order, id
LIMIT 1000000;

-- ListColumns reads up to row_limit leads of each column (or of one column when
-- only_status is set) after the sort key after_key, each with its position: one
-- index range scan per column, plus a count of the cards before the page when it
-- is not the first, whatever the board's size.
-- name: ListColumns :many
SELECT sqlc.embed(leads), page.position::integer AS position
FROM stages s
CROSS JOIN LATERAL (
    SELECT l.id,
           (SELECT count(*) FROM leads b
            WHERE b.status = s.name AND b.card_order <= @after_key::bigint)
           + row_number() OVER (ORDER BY l.card_order) - 1 AS position
    FROM leads l
    WHERE l.status = s.name
      AND l.card_order > @after_key::bigint
    ORDER BY l.card_order
    LIMIT @row_limit::integer
) page
JOIN leads ON leads.id = page.id
WHERE sqlc.narg(only_status)::text IS NULL OR s.name = sqlc.narg(only_status)::text
ORDER BY s.position, leads.card_order;

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

-- MoveLead moves a lead in one statement: see move_lead in migrations 00006,
-- 00007 and 00012. lead is the lead after the move, as to_jsonb makes it;
-- stale: the lead's version was not one of if_versions, and nothing was written.
-- name: MoveLead :one
SELECT m.lead::jsonb AS lead, m.position::integer AS position, m.stale::boolean AS stale
FROM move_lead(@id::uuid, @target::text, @target_position::integer, @key_gap::bigint,
               @actor_kind::text, sqlc.narg(actor_user_id)::uuid, @actor_name::text,
               sqlc.narg(if_versions)::bigint[], sqlc.narg(lost_reason)::text,
               sqlc.narg(lost_note)::text, sqlc.narg(value)::numeric) m;

-- BoardVersion is the board version (migration 00007): it changes with every
-- committed change of a lead or a stage.
-- name: BoardVersion :one
SELECT sum(n)::bigint
FROM board_changes;

-- ColumnKeysFrom returns the sort keys of column status from position
-- from_position on, the first two: the neighbours a card put between the
-- cards at from_position and from_position+1 takes its key between.
-- name: ColumnKeysFrom :many
SELECT card_order
FROM leads
WHERE status = @status
ORDER BY card_order
LIMIT 2 OFFSET @from_position::integer;

-- SetLeadStageTimes puts back when a lead entered its stage and closed (an
-- undo restoring a past state). Status is not written, so migration 00012's
-- trigger, which sets them on a stage change, leaves them as given.
-- name: SetLeadStageTimes :one
UPDATE leads
SET stage_entered_at = @stage_entered_at, closed_at = sqlc.narg(closed_at)
WHERE id = @id
RETURNING *;
