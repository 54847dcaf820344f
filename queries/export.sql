-- ExportColumnPage reads the next page of an export (store.ExportLeads) from
-- one column: its leads after the sort key after_key, in card order, matching
-- the filter as the board's search does (pattern over name, company, email and
-- notes; the digits of a phone number; '' for none). Keyset paging over the
-- unique index on (status, card_order): each page is one index range read, so
-- an export of any size costs the same per row.
-- name: ExportColumnPage :many
SELECT sqlc.embed(leads)
FROM leads
WHERE leads.status = @status::text
  AND leads.card_order > @after_key::bigint
  AND (@pattern::text = ''
       OR leads.name ILIKE @pattern OR leads.company ILIKE @pattern
       OR leads.email ILIKE @pattern OR leads.notes ILIKE @pattern
       OR (@digits::text <> '' AND regexp_replace(leads.phone, '[^0-9]', '', 'g') LIKE '%' || @digits::text || '%'))
ORDER BY leads.card_order
LIMIT @row_limit::integer;
