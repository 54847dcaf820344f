-- ExportColumnPage reads the next page of an export (store.ExportLeads) from
-- one column: its leads after the sort key after_key, in card order, matching
-- the search and the board's filters as the board does (lead_search_match and
-- board_filter_match, migration 00018; rot_days is the stage's, for "going
-- stale"). Keyset paging over the unique index on (status, card_order): each
-- page is one index range read, so an export of any size costs the same per
-- row it reads.
-- name: ExportColumnPage :many
SELECT sqlc.embed(leads)
FROM leads
WHERE leads.status = @status::text
  AND leads.card_order > @after_key::bigint
  AND lead_search_match(leads.id, leads.name, leads.company, leads.email, leads.notes, leads.phone,
        @pattern::text, @digits::text, '{}'::uuid[])
  AND board_filter_match(leads.owner_id, leads.source, leads.value, leads.created_at, leads.updated_at,
        leads.stage_entered_at, sqlc.narg(rot_days)::integer,
        sqlc.narg(owner_id)::uuid, @source::text, sqlc.narg(min_value)::numeric, sqlc.narg(max_value)::numeric,
        sqlc.narg(created_from)::timestamptz, sqlc.narg(created_to)::timestamptz,
        sqlc.narg(updated_from)::timestamptz, sqlc.narg(updated_to)::timestamptz,
        @stale_only::boolean, sqlc.arg(now)::timestamptz)
ORDER BY leads.card_order
LIMIT @row_limit::integer;
