-- Moving from the original backend (store/legacy.go, crm import
-- --from-postgres). The original database's own table is read with plain pgx
-- in the store: its schema is not this one, so sqlc cannot know it. These are
-- the writes into this database, set-based: one statement per chunk of leads.

-- LegacyTakenIDs returns those of ids that a lead here already has, on the
-- board or in the trash (a restore would bring it back under that id).
-- name: LegacyTakenIDs :many
SELECT l.id, false AS in_trash
FROM leads l
WHERE l.id = ANY(@ids::uuid[])
UNION ALL
SELECT t.id, true AS in_trash
FROM trashed_leads t
WHERE t.id = ANY(@ids::uuid[]);

-- LegacyColumnEnds returns, for every column holding leads, its number of
-- leads and its last sort key: imported leads are appended after them.
-- name: LegacyColumnEnds :many
SELECT status, count(*)::integer AS n, max(card_order)::bigint AS last_key
FROM leads
GROUP BY status
ORDER BY status;

-- InsertLegacyLeads inserts a chunk of imported leads, the arrays zipped
-- (unnest in the select list walks them side by side). stage_entered_at is
-- the lead's updated_at: the original kept no history, and its last change is
-- the latest its stage can have been entered; closed_at follows from it for a
-- won or lost stage (migration 00012's trigger). The caller holds every
-- stage's lock exclusively and checked that no id is taken.
-- name: InsertLegacyLeads :execrows
INSERT INTO leads (id, name, company, email, phone, value, notes, status, source, card_order,
                   created_at, updated_at, stage_entered_at, owner_id)
SELECT u.id, u.name, u.company, u.email, u.phone, (u.cents::numeric / 100)::numeric(14, 2),
       u.notes, u.status, u.source, u.card_order, u.created_at, u.updated_at, u.updated_at,
       sqlc.narg(owner_id)::uuid
FROM (SELECT unnest(@ids::uuid[]) AS id,
             unnest(@names::text[]) AS name,
             unnest(@companies::text[]) AS company,
             unnest(@emails::text[]) AS email,
             unnest(@phones::text[]) AS phone,
             unnest(@cents::bigint[]) AS cents,
             unnest(@notes::text[]) AS notes,
             unnest(@statuses::text[]) AS status,
             unnest(@sources::text[]) AS source,
             unnest(@card_orders::bigint[]) AS card_order,
             unnest(@created_ats::timestamptz[]) AS created_at,
             unnest(@updated_ats::timestamptz[]) AS updated_at) u;

-- InsertLegacyCreateEvents records the creation of a chunk of imported leads
-- in the audit trail, one event each, with the lead's snapshot given (the
-- snapshot trigger of migration 00008 would otherwise count the column's
-- positions once per row): the row as to_jsonb makes it, with its position.
-- name: InsertLegacyCreateEvents :execrows
INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name, lead)
SELECT l.id, 'create', c.changes::jsonb, @actor_kind, sqlc.narg(actor_user_id)::uuid, @actor_name,
       to_jsonb(l) || jsonb_build_object('card_order', c.position)
FROM (SELECT unnest(@ids::uuid[]) AS id,
             unnest(@changes::text[]) AS changes,
             unnest(@positions::bigint[]) AS position) c
JOIN leads l ON l.id = c.id
ORDER BY c.position, l.status;
