-- The board filtered: a search and the board filters (store.BoardFilter).
-- One set of conditions, written twice below (the cards and the totals), each
-- argument NULL or '' when that filter is off:
--   a search: the pattern (name, company, email and notes, ILIKE), the digits
--     of a phone number (the phone's digits contain them; '' for none), or one
--     of ids (the typo-tolerant matches, see store.ListBoard);
--   the owner; the source (without regard to case); the value range; the
--     created and last-touched (updated_at) ranges, from inclusive, to
--     exclusive; stale_only: leads in their stage longer than its rot_days.

-- FilterColumns is ListColumns for the leads matching the filter. Each lead
-- comes with its position in the whole column, not among the matches: the
-- board's moves and drops work on positions. Numbering reads the sort keys of
-- every column (an index-only scan of leads_status_card_order_idx).
-- name: FilterColumns :many
WITH matched AS (
    SELECT l.id, l.status, l.card_order,
           row_number() OVER (PARTITION BY l.status ORDER BY l.card_order) AS nth
    FROM leads l
    JOIN stages s ON s.name = l.status
    WHERE (sqlc.narg(only_status)::text IS NULL OR l.status = sqlc.narg(only_status)::text)
      AND l.card_order > @after_key::bigint
      AND (@pattern::text = ''
           OR l.name ILIKE @pattern::text OR l.company ILIKE @pattern::text
           OR l.email ILIKE @pattern::text OR l.notes ILIKE @pattern::text
           OR (@digits::text <> '' AND regexp_replace(l.phone, '[^0-9]', '', 'g') LIKE '%' || @digits::text || '%')
           OR l.id = ANY(@ids::uuid[]))
      AND (sqlc.narg(owner_id)::uuid IS NULL OR l.owner_id = sqlc.narg(owner_id)::uuid)
      AND (@source::text = '' OR lower(l.source) = lower(@source::text))
      AND (sqlc.narg(min_value)::numeric IS NULL OR l.value >= sqlc.narg(min_value)::numeric)
      AND (sqlc.narg(max_value)::numeric IS NULL OR l.value <= sqlc.narg(max_value)::numeric)
      AND (sqlc.narg(created_from)::timestamptz IS NULL OR l.created_at >= sqlc.narg(created_from)::timestamptz)
      AND (sqlc.narg(created_to)::timestamptz IS NULL OR l.created_at < sqlc.narg(created_to)::timestamptz)
      AND (sqlc.narg(updated_from)::timestamptz IS NULL OR l.updated_at >= sqlc.narg(updated_from)::timestamptz)
      AND (sqlc.narg(updated_to)::timestamptz IS NULL OR l.updated_at < sqlc.narg(updated_to)::timestamptz)
      AND (NOT @stale_only::boolean
           OR (s.rot_days IS NOT NULL AND l.stage_entered_at < sqlc.arg(now)::timestamptz - s.rot_days * interval '1 day'))
), page AS (
    SELECT m.id, m.status, m.card_order
    FROM matched m
    WHERE m.nth <= @row_limit::integer
), numbered AS (
    SELECT c.status, c.card_order,
           row_number() OVER (PARTITION BY c.status ORDER BY c.card_order) - 1 AS position
    FROM leads c
    WHERE c.status IN (SELECT DISTINCT p.status FROM page p)
)
SELECT sqlc.embed(leads), numbered.position::integer AS position
FROM page
JOIN numbered ON numbered.status = page.status AND numbered.card_order = page.card_order
JOIN leads ON leads.id = page.id
JOIN stages ON stages.name = leads.status
ORDER BY stages.position, leads.card_order;

-- FilterTotals counts every lead of each column matching the filter (as
-- FilterColumns does) and sums their value, whatever part of the column is
-- loaded.
-- name: FilterTotals :many
SELECT s.name, count(l.id)::integer AS lead_count,
       coalesce(sum(l.value), 0)::numeric AS total_value
FROM stages s
LEFT JOIN leads l ON l.status = s.name
     AND (@pattern::text = ''
          OR l.name ILIKE @pattern::text OR l.company ILIKE @pattern::text
          OR l.email ILIKE @pattern::text OR l.notes ILIKE @pattern::text
          OR (@digits::text <> '' AND regexp_replace(l.phone, '[^0-9]', '', 'g') LIKE '%' || @digits::text || '%')
          OR l.id = ANY(@ids::uuid[]))
     AND (sqlc.narg(owner_id)::uuid IS NULL OR l.owner_id = sqlc.narg(owner_id)::uuid)
     AND (@source::text = '' OR lower(l.source) = lower(@source::text))
     AND (sqlc.narg(min_value)::numeric IS NULL OR l.value >= sqlc.narg(min_value)::numeric)
     AND (sqlc.narg(max_value)::numeric IS NULL OR l.value <= sqlc.narg(max_value)::numeric)
     AND (sqlc.narg(created_from)::timestamptz IS NULL OR l.created_at >= sqlc.narg(created_from)::timestamptz)
     AND (sqlc.narg(created_to)::timestamptz IS NULL OR l.created_at < sqlc.narg(created_to)::timestamptz)
     AND (sqlc.narg(updated_from)::timestamptz IS NULL OR l.updated_at >= sqlc.narg(updated_from)::timestamptz)
     AND (sqlc.narg(updated_to)::timestamptz IS NULL OR l.updated_at < sqlc.narg(updated_to)::timestamptz)
     AND (NOT @stale_only::boolean
          OR (s.rot_days IS NOT NULL AND l.stage_entered_at < sqlc.arg(now)::timestamptz - s.rot_days * interval '1 day'))
GROUP BY s.name, s.position
ORDER BY s.position
LIMIT 100;
