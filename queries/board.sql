-- The board filtered: a search and the board filters (store.BoardFilter).
-- Whether a lead passes is asked of two SQL functions (migration 00018):
-- board_filter_match (owner, source, value range, created and last-touched
-- ranges, going stale) and lead_search_match (the search). Each argument is
-- NULL or '' when that filter is off.
--
-- Both queries answer, for each column, its first row_limit matching leads
-- after after_key in card order, each with its position in the whole column
-- (not among the matches: the board's moves and drops work on positions), and
-- with every row the column's count and total value of all its matches
-- (whatever part of the column is loaded; a column without a row has none).
-- Positions are numbered only up to the last lead shown of each column, from
-- the index on (status, card_order) alone.

-- FilterColumns is the filtered board without a search, read from
-- leads_board_filter_idx alone (no table pages, no sort): one pass counts the
-- totals, then each column with a match is read in card order and stops at
-- its row_limit-th match.
-- name: FilterColumns :many
WITH totals AS (
    SELECT l.status, count(*)::integer AS lead_count, coalesce(sum(l.value), 0)::numeric AS total_value
    FROM leads l
    JOIN stages s ON s.name = l.status
    WHERE (sqlc.narg(only_status)::text IS NULL OR l.status = sqlc.narg(only_status)::text)
      AND board_filter_match(l.owner_id, l.source, l.value, l.created_at, l.updated_at, l.stage_entered_at, s.rot_days,
                sqlc.narg(owner_id)::uuid, @source::text, sqlc.narg(min_value)::numeric, sqlc.narg(max_value)::numeric,
                sqlc.narg(created_from)::timestamptz, sqlc.narg(created_to)::timestamptz,
                sqlc.narg(updated_from)::timestamptz, sqlc.narg(updated_to)::timestamptz,
                @stale_only::boolean, sqlc.arg(now)::timestamptz)
    GROUP BY l.status
), page AS (
    SELECT m.status, m.card_order
    FROM stages s
    JOIN totals t ON t.status = s.name -- a column without a match is not read again
    CROSS JOIN LATERAL (
        SELECT l.status, l.card_order
        FROM leads l
        WHERE l.status = s.name
          AND l.card_order > @after_key::bigint
          AND board_filter_match(l.owner_id, l.source, l.value, l.created_at, l.updated_at, l.stage_entered_at, s.rot_days,
                sqlc.narg(owner_id)::uuid, @source::text, sqlc.narg(min_value)::numeric, sqlc.narg(max_value)::numeric,
                sqlc.narg(created_from)::timestamptz, sqlc.narg(created_to)::timestamptz,
                sqlc.narg(updated_from)::timestamptz, sqlc.narg(updated_to)::timestamptz,
                @stale_only::boolean, sqlc.arg(now)::timestamptz)
        ORDER BY l.card_order
        LIMIT @row_limit::integer
    ) m
    WHERE sqlc.narg(only_status)::text IS NULL OR s.name = sqlc.narg(only_status)::text
), bounds AS (
    SELECT p.status, max(p.card_order) AS last_key FROM page p GROUP BY p.status
), numbered AS MATERIALIZED (
    -- Materialized: numbered once per column, not once per lead of the page.
    -- The window in the subquery keeps it a per-column index range read.
    SELECT b.status, c.card_order, c.position
    FROM bounds b
    CROSS JOIN LATERAL (
        SELECT n.card_order, row_number() OVER (ORDER BY n.card_order) - 1 AS position
        FROM leads n
        WHERE n.status = b.status AND n.card_order <= b.last_key
    ) c
)
SELECT sqlc.embed(leads), numbered.position::integer AS position, totals.lead_count, totals.total_value
FROM page
JOIN numbered ON numbered.status = page.status AND numbered.card_order = page.card_order
JOIN totals ON totals.status = page.status
JOIN leads ON leads.status = page.status AND leads.card_order = page.card_order
JOIN stages ON stages.name = leads.status
ORDER BY stages.position, leads.card_order;

-- SearchColumns is the filtered board with a search (the pattern, the digits
-- of a phone number, or the ids of typo-tolerant matches). The search reads
-- the leads' text, so the matches are found in one pass over the table,
-- kept, and both the page and the totals are taken from them.
-- name: SearchColumns :many
WITH matched AS MATERIALIZED (
    SELECT l.status, l.card_order, l.value
    FROM leads l
    JOIN stages s ON s.name = l.status
    WHERE (sqlc.narg(only_status)::text IS NULL OR l.status = sqlc.narg(only_status)::text)
      AND lead_search_match(l.id, l.name, l.company, l.email, l.notes, l.phone, @pattern::text, @digits::text, @ids::uuid[])
      AND board_filter_match(l.owner_id, l.source, l.value, l.created_at, l.updated_at, l.stage_entered_at, s.rot_days,
                sqlc.narg(owner_id)::uuid, @source::text, sqlc.narg(min_value)::numeric, sqlc.narg(max_value)::numeric,
                sqlc.narg(created_from)::timestamptz, sqlc.narg(created_to)::timestamptz,
                sqlc.narg(updated_from)::timestamptz, sqlc.narg(updated_to)::timestamptz,
                @stale_only::boolean, sqlc.arg(now)::timestamptz)
), totals AS (
    SELECT m.status, count(*)::integer AS lead_count, coalesce(sum(m.value), 0)::numeric AS total_value
    FROM matched m
    GROUP BY m.status
), page AS (
    SELECT r.status, r.card_order
    FROM (
        SELECT m.status, m.card_order, row_number() OVER (PARTITION BY m.status ORDER BY m.card_order) AS nth
        FROM matched m
        WHERE m.card_order > @after_key::bigint
    ) r
    WHERE r.nth <= @row_limit::integer
), bounds AS (
    SELECT p.status, max(p.card_order) AS last_key FROM page p GROUP BY p.status
), numbered AS MATERIALIZED (
    SELECT b.status, c.card_order, c.position
    FROM bounds b
    CROSS JOIN LATERAL (
        SELECT n.card_order, row_number() OVER (ORDER BY n.card_order) - 1 AS position
        FROM leads n
        WHERE n.status = b.status AND n.card_order <= b.last_key
    ) c
)
SELECT sqlc.embed(leads), numbered.position::integer AS position, totals.lead_count, totals.total_value
FROM page
JOIN numbered ON numbered.status = page.status AND numbered.card_order = page.card_order
JOIN totals ON totals.status = page.status
JOIN leads ON leads.status = page.status AND leads.card_order = page.card_order
JOIN stages ON stages.name = leads.status
ORDER BY stages.position, leads.card_order;

-- ColumnTotals counts the leads of each column and sums their value (the
-- unfiltered board's totals), from leads_board_filter_idx alone.
-- name: ColumnTotals :many
SELECT l.status AS name, count(*)::integer AS lead_count, coalesce(sum(l.value), 0)::numeric AS total_value
FROM leads l
WHERE sqlc.narg(only_status)::text IS NULL OR l.status = sqlc.narg(only_status)::text
GROUP BY l.status;
