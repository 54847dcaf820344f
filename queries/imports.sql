-- name: InsertImport :one
INSERT INTO imports (file_name, file_size, encoding, delimiter, header, mapping, duplicates,
                     rows_total, actor_kind, actor_user_id, actor_name)
VALUES (@file_name, @file_size, @encoding, @delimiter, @header, @mapping, @duplicates,
        @rows_total, @actor_kind, sqlc.narg(actor_user_id)::uuid, @actor_name)
RETURNING id;

-- name: InsertImportChunk :exec
INSERT INTO import_chunks (import_id, n, data)
VALUES (@import_id, @n, @data);

-- name: GetImportChunk :one
SELECT data
FROM import_chunks
WHERE import_id = @import_id AND n = @n;

-- name: GetImport :one
SELECT *
FROM imports
WHERE id = @id;

-- name: GetImportForUpdate :one
SELECT *
FROM imports
WHERE id = @id
FOR UPDATE;

-- name: ListImports :many
SELECT *
FROM imports
ORDER BY created_at DESC, id
LIMIT @row_limit::integer;

-- ClaimImport takes an import for a worker until lease_until: a queued one,
-- or a running one whose worker's lease ran out (it is gone). No row: the
-- import is finished, or another worker has it.
-- name: ClaimImport :one
UPDATE imports
SET state = 'running', started_at = coalesce(started_at, now()), lease_until = @lease_until
WHERE id = @id
  AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
RETURNING *;

-- ImportBatchDone records a batch of rows written, in the batch's
-- transaction, and renews the lease.
-- name: ImportBatchDone :exec
UPDATE imports
SET rows_done = @rows_done, created = created + @created, updated = updated + @updated,
    skipped = skipped + @skipped, failed = failed + @failed, lease_until = @lease_until
WHERE id = @id;

-- FinishImport ends an unfinished import (done or failed) and deletes its
-- file: only the job reads import_chunks (the failed rows' CSV is made of
-- import_rows.record), and a finished import's job never runs again.
-- name: FinishImport :exec
WITH finished AS (
    UPDATE imports
    SET state = @state, error = @error, finished_at = now(), lease_until = NULL
    WHERE id = @id AND state IN ('queued', 'running')
    RETURNING id
)
DELETE FROM import_chunks
WHERE import_id IN (SELECT finished.id FROM finished);

-- name: MarkImportUndone :exec
UPDATE imports
SET state = 'undone', undone_at = now(), undo = @undo
WHERE id = @id;

-- InsertImportRows records what became of a batch's rows (the new leads
-- themselves go in with InsertImportedLeads).
-- name: InsertImportRows :copyfrom
INSERT INTO import_rows (import_id, row_no, outcome, lead_id, errors, record, version)
VALUES (@import_id, @row_no, @outcome, @lead_id, @errors, @record, @version);

-- MatchImportLeads finds, for each key of a batch (email lower-cased, else
-- name and company lower-cased), the oldest lead with it. n is the key's
-- place in the arrays, from 1; keys matching no lead are missing.
-- name: MatchImportLeads :many
SELECT m.n::integer AS n, m.id::uuid AS id
FROM (
    SELECT k.n,
           CASE WHEN k.email <> '' THEN
               (SELECT l.id FROM leads l
                WHERE lower(l.email) = k.email AND l.email <> ''
                ORDER BY l.created_at, l.id LIMIT 1)
           ELSE
               (SELECT l.id FROM leads l
                WHERE lower(l.name) = k.name AND lower(l.company) = k.company
                ORDER BY l.created_at, l.id LIMIT 1)
           END AS id
    -- One row per key, the arrays walked side by side (set-returning
    -- functions in a select list run in step). Joining three unnests on their
    -- ordinality was planned as nested loops, and reading the arrays by
    -- subscript walks each text array from its start for every key.
    FROM (SELECT unnest(@emails::text[]) AS email,
                 unnest(@names::text[]) AS name,
                 unnest(@companies::text[]) AS company,
                 generate_series(1, cardinality(@emails::text[])) AS n) k
) m
WHERE m.id IS NOT NULL
ORDER BY m.n;

-- ImportColumns returns, for every stage, the sort key a card added at the
-- end of its column takes (key_gap after the last one, 0 in an empty column)
-- and, when count is true, its number of cards (-1 when not counted): an
-- import's batch appends its new leads there, and a new lead's position is
-- the number of cards before it. Counting reads the whole column, so the job
-- counts once and then keeps the numbers itself while nobody else changes the
-- board (store.columnTally). The caller holds every stage's lock exclusively.
-- name: ImportColumns :many
SELECT s.name AS status,
       coalesce((SELECT max(l.card_order) FROM leads l WHERE l.status = s.name) + @key_gap::bigint, 0)::bigint AS next_key,
       coalesce(CASE WHEN @count::boolean THEN (SELECT count(*) FROM leads l WHERE l.status = s.name) END, -1)::bigint AS n
FROM stages s
ORDER BY s.position;

-- InsertImportedLeads creates the leads of a batch's created rows (the arrays
-- zipped: unnest in the select list walks them side by side), each with the
-- sort key, version and id the job chose, and their create events in the
-- order of the file. An event is given the lead (the snapshot migration
-- 00008's trigger would otherwise make, counting each card's position one by
-- one) with its position, which the job also chose. Values are given in
-- cents (a numeric array is encoded through math/big: a tenth of the job's
-- time in Go), ids as text (pgx encodes a uuid.UUID through its
-- driver.Valuer, a string and a parse, and then tries other plans: as much
-- again), owners given as the nil uuid are none. The caller holds every stage's lock exclusively.
--
-- The events are given their stream positions (seq) here, not by the
-- sequencer after the commit (migration 00008): numbering 2,000 events a
-- batch afterwards writes each event twice, and while a batch is open the
-- sequencer's poll walks its unnumbered rows; at 100,000 rows the sequencer
-- took more time than the import. This is the sequencer's own rule: the
-- statement takes the sequencer row's lock (its UPDATE) and keeps it to the
-- commit, so no position after these is handed out until they are visible,
-- and every position before them was handed out by a transaction that had
-- committed (the sequencer numbers only committed events, under the same
-- lock). Writers wait for the batch anyway (they need a stage lock), so
-- holding the sequencer's lock delays nobody's event more than the batch
-- does.
-- name: InsertImportedLeads :execrows
WITH src AS (
    SELECT unnest(@ids::text[])::uuid AS id,
           unnest(@row_nos::integer[]) AS row_no,
           unnest(@names::text[]) AS name,
           unnest(@companies::text[]) AS company,
           unnest(@emails::text[]) AS email,
           unnest(@phones::text[]) AS phone,
           unnest(@cents::bigint[]) AS cents,
           unnest(@notes::text[]) AS notes,
           unnest(@statuses::text[]) AS status,
           unnest(@sources::text[]) AS source,
           unnest(@card_orders::bigint[]) AS card_order,
           unnest(@owner_ids::text[])::uuid AS owner_id,
           unnest(@lost_reasons::text[]) AS lost_reason,
           unnest(@lost_notes::text[]) AS lost_note,
           unnest(@versions::bigint[]) AS version,
           unnest(@positions::bigint[]) AS position,
           unnest(@changes::text[]) AS changes
), ins AS (
    INSERT INTO leads (id, name, company, email, phone, value, notes, status, source, card_order,
                       owner_id, lost_reason, lost_note, version)
    SELECT src.id, src.name, src.company, src.email, src.phone, (src.cents::numeric / 100)::numeric(14, 2),
           src.notes, src.status, src.source, src.card_order, nullif(src.owner_id, '00000000-0000-0000-0000-000000000000'),
           src.lost_reason, src.lost_note, src.version
    FROM src
    RETURNING *
), numbered AS (
    UPDATE lead_event_sequencer
    SET last_seq = last_seq + cardinality(@ids::text[])
    RETURNING last_seq - cardinality(@ids::text[]) AS before
)
INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name, lead, seq)
SELECT ins.id, 'create', src.changes::jsonb, @actor_kind, sqlc.narg(actor_user_id)::uuid, @actor_name,
       to_jsonb(ins) || jsonb_build_object('card_order', src.position),
       numbered.before + row_number() OVER (ORDER BY src.row_no)
FROM ins
JOIN src ON src.id = ins.id
CROSS JOIN numbered
ORDER BY src.row_no;

-- ReserveLeadVersions draws n versions for new leads from the sequence every
-- lead's version comes from (migration 00007), in increasing order.
-- name: ReserveLeadVersions :many
SELECT nextval('lead_versions')::bigint AS version
FROM generate_series(1, @n::integer)
ORDER BY 1;

-- SetImportRowResult records what the update of a row did.
-- name: SetImportRowResult :exec
UPDATE import_rows
SET outcome = @outcome, errors = @errors, record = @record, before = @before, version = @version
WHERE import_id = @import_id AND row_no = @row_no;

-- name: ListImportFailures :many
SELECT row_no, errors, record
FROM import_rows
WHERE import_id = @import_id AND outcome = 'failed' AND row_no > @after_row::integer
ORDER BY row_no
LIMIT @row_limit::integer;

-- ListImportUpdates lists the rows of an import that updated a lead it did
-- not create, in the order of the file, each with the lead's fields before
-- it and the lead's version after it (store.UndoImport merges a lead's rows).
-- One pass over the import's rows, grouped by lead (a window), not a lookup
-- per row: import_rows has no index by lead (migration 00023).
-- name: ListImportUpdates :many
SELECT t.lead_id::uuid AS lead_id, t.row_no, t.before, t.version::bigint AS version
FROM (
    SELECT r.lead_id, r.row_no, r.before, coalesce(r.version, 0) AS version, r.outcome,
           bool_or(r.outcome = 'created') OVER (PARTITION BY r.lead_id) AS created
    FROM import_rows r
    WHERE r.import_id = @import_id AND r.outcome IN ('created', 'updated') AND r.lead_id IS NOT NULL
) t
WHERE t.outcome = 'updated' AND NOT t.created
ORDER BY t.row_no
LIMIT 1000000;

-- ImportCreatedGone lists the leads an import created that are no longer on
-- the board before its undo: deleted by someone since (in the trash or
-- purged).
-- name: ImportCreatedGone :many
SELECT DISTINCT r.lead_id::uuid AS lead_id
FROM import_rows r
WHERE r.import_id = @import_id AND r.outcome = 'created'
  AND NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = r.lead_id)
ORDER BY 1
LIMIT 1000000;

-- TrashImportedLeads moves to the trash the leads an import created that
-- nobody changed since (their version is the one the import left), with
-- their delete events, and returns how many. The caller holds every stage's
-- lock exclusively.
-- name: TrashImportedLeads :one
WITH mine AS (
    SELECT r.lead_id, max(r.version) AS version
    FROM import_rows r
    WHERE r.import_id = @import_id AND r.lead_id IS NOT NULL AND r.outcome IN ('created', 'updated')
    GROUP BY r.lead_id
    HAVING bool_or(r.outcome = 'created')
), gone AS (
    DELETE FROM leads l
    USING mine
    WHERE l.id = mine.lead_id AND l.version = mine.version
    RETURNING l.*
), trashed AS (
    INSERT INTO trashed_leads (id, name, company, email, phone, value, notes, status, source,
                               created_at, updated_at, deleted_by,
                               owner_id, closed_at, lost_reason, lost_note, stage_entered_at)
    SELECT gone.id, gone.name, gone.company, gone.email, gone.phone, gone.value, gone.notes,
           gone.status, gone.source, gone.created_at, gone.updated_at, @actor_name,
           gone.owner_id, gone.closed_at, gone.lost_reason, gone.lost_note, gone.stage_entered_at
    FROM gone
), ev AS (
    INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name, lead)
    SELECT gone.id, 'delete', '[]', @actor_kind, sqlc.narg(actor_user_id)::uuid, @actor_name,
           to_jsonb(gone) || jsonb_build_object('card_order', 0)
    FROM gone
)
SELECT count(*)::integer FROM gone;

-- ImportCreatedKept lists the leads an import created that are still on the
-- board after its undo: changed by someone since.
-- name: ImportCreatedKept :many
SELECT DISTINCT r.lead_id::uuid AS lead_id
FROM import_rows r
JOIN leads l ON l.id = r.lead_id
WHERE r.import_id = @import_id AND r.outcome = 'created'
ORDER BY 1
LIMIT 1000;

-- name: SetImportFile :exec
UPDATE imports
SET file_size = @file_size, encoding = @encoding, delimiter = @delimiter, header = @header,
    mapping = @mapping, rows_total = @rows_total
WHERE id = @id;

-- ReleaseImport gives up a run's claim on an import when the run stopped on
-- an error, so the job's next attempt takes it at once instead of waiting for
-- the lease to run out.
-- name: ReleaseImport :exec
UPDATE imports SET lease_until = now() WHERE id = @id AND state = 'running';

-- ListStaleImports lists the unfinished imports no worker seems to be on: queued
-- since before queued_before, or running with their worker's lease run out
-- (the worker is gone, or its job is waiting to be retried). imports is one
-- row per uploaded file, so this scan stays small.
-- name: ListStaleImports :many
SELECT id, created_at
FROM imports
WHERE (state = 'queued' AND created_at < @queued_before)
   OR (state = 'running' AND lease_until < now())
ORDER BY created_at, id
LIMIT @row_limit::integer;

-- PurgeImportChunks deletes the files of finished imports: FinishImport
-- deletes an import's file as it finishes; this catches the files of imports
-- finished before it did.
-- name: PurgeImportChunks :execrows
DELETE FROM import_chunks c
USING imports i
WHERE i.id = c.import_id AND i.state NOT IN ('queued', 'running');

-- PurgeImportRows deletes the rows (what became of each row of the file: the
-- undo's record and the failed rows) of the imports finished before
-- finished_before. The imports themselves stay, with their counts.
-- name: PurgeImportRows :execrows
DELETE FROM import_rows r
USING imports i
WHERE i.id = r.import_id AND i.finished_at < @finished_before;

-- LeadSearchIndexes lists the GIN indexes of leads (the trigram indexes of
-- the search) and whether the current user may clean their pending lists
-- (gin_clean_pending_list needs the index's owner, as VACUUM does).
-- name: LeadSearchIndexes :many
SELECT c.oid::regclass::text AS name, pg_has_role(c.relowner, 'USAGE') AS owned
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'leads'::regclass AND a.amname = 'gin'
ORDER BY 1;

-- CleanPendingList moves a GIN index's pending entries into the index proper,
-- in bulk (see store.importGinLimit).
-- name: CleanPendingList :exec
SELECT gin_clean_pending_list(to_regclass(@index_name::text));
