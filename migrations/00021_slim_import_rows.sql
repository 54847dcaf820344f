-- +goose Up
-- An import's batch now hands its new leads to one statement as arrays
-- (queries/imports.sql, InsertImportedLeads) instead of copying them into
-- import_rows first and reading them back: import_rows keeps what became of
-- each row (outcome, lead, version, errors, the cells of a failed row, the
-- fields before an update), not the new leads' values or their create
-- events' changes, which are in leads and lead_events. A worker of the
-- previous version still running a batch during a rolling upgrade fails that
-- batch; the job is retried and carries on after the last batch committed.
ALTER TABLE import_rows
    DROP COLUMN name,
    DROP COLUMN company,
    DROP COLUMN email,
    DROP COLUMN phone,
    DROP COLUMN value,
    DROP COLUMN notes,
    DROP COLUMN status,
    DROP COLUMN source,
    DROP COLUMN owner_id,
    DROP COLUMN lost_reason,
    DROP COLUMN lost_note,
    DROP COLUMN changes;

-- +goose Down
ALTER TABLE import_rows
    ADD COLUMN name text,
    ADD COLUMN company text,
    ADD COLUMN email text,
    ADD COLUMN phone text,
    ADD COLUMN value numeric(14, 2),
    ADD COLUMN notes text,
    ADD COLUMN status text,
    ADD COLUMN source text,
    ADD COLUMN owner_id uuid,
    ADD COLUMN lost_reason text,
    ADD COLUMN lost_note text,
    ADD COLUMN changes jsonb;
