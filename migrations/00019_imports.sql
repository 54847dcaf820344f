-- +goose Up
-- CSV imports (issue "Bringing a team's data in and out"; store/import.go).

-- imports is one uploaded file and the job that reads it. The file itself is
-- in import_chunks, so whichever worker takes the job reads it from
-- PostgreSQL; no server's disk is involved. mapping is, per column of the
-- file (header holds the header row's cells), the lead field it fills ("" for
-- none, "first_name"/"last_name" for the parts of a name). rows_done is how
-- many data rows are written, committed with them: a job run again after a
-- crash carries on after it. lease_until is how long the worker running it
-- holds it; another worker takes it over only after.
CREATE TABLE imports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    file_name     text NOT NULL CHECK (length(file_name) <= 255),
    file_size     bigint NOT NULL,
    encoding      text NOT NULL,
    delimiter     text NOT NULL,
    header        jsonb NOT NULL,
    mapping       jsonb NOT NULL,
    duplicates    text NOT NULL CHECK (duplicates IN ('skip', 'update', 'create')),
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'undone')),
    rows_total    integer NOT NULL,
    rows_done     integer NOT NULL DEFAULT 0,
    created       integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    skipped       integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    -- error says why the whole job failed (state failed).
    error         text NOT NULL DEFAULT '',
    -- Who imported: the events of the import's changes name them.
    actor_kind    text NOT NULL,
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_name    text NOT NULL,
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    undone_at     timestamptz,
    -- undo is what the undo did: {"removed", "restored", "kept", "message"}.
    undo          jsonb
);
CREATE INDEX imports_created_at_idx ON imports (created_at);

-- import_chunks is the uploaded file, in pieces of up to 1 MiB, in order.
CREATE TABLE import_chunks (
    import_id uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    n         integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (import_id, n)
);

-- import_rows is each data row of a file once the job has read it (row_no
-- as a spreadsheet numbers it: the header is row 1), with what became of it.
-- A created row holds the values the lead was created with (the job copies a
-- batch of rows in, then creates their leads in one statement) and the
-- create event's changes; an updated one the lead's fields before, as text;
-- both the lead's version after the import, which is how an undo tells
-- whether someone changed the lead since. A failed row holds its cells as
-- read (the failed rows' CSV) and errors by field.
CREATE TABLE import_rows (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_no      integer NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('created', 'updated', 'skipped', 'failed')),
    lead_id     uuid,
    errors      jsonb,
    record      jsonb,
    name        text,
    company     text,
    email       text,
    phone       text,
    value       numeric(14, 2),
    notes       text,
    status      text,
    source      text,
    owner_id    uuid,
    lost_reason text,
    lost_note   text,
    changes     jsonb,
    before      jsonb,
    version     bigint,
    PRIMARY KEY (import_id, row_no)
);
CREATE INDEX import_rows_lead_idx ON import_rows (import_id, lead_id);
-- The failed rows, read while the job runs (its progress) and for their CSV.
CREATE INDEX import_rows_failed_idx ON import_rows (import_id, row_no) WHERE outcome = 'failed';

-- Duplicates are matched by email without regard to case, else by name and
-- company: these keep the matching of a batch of rows to index lookups.
CREATE INDEX leads_email_lower_idx ON leads (lower(email)) WHERE email <> '';
CREATE INDEX leads_name_company_lower_idx ON leads (lower(name), lower(company));

-- +goose Down
DROP INDEX leads_name_company_lower_idx;
DROP INDEX leads_email_lower_idx;
DROP TABLE import_rows;
DROP TABLE import_chunks;
DROP TABLE imports;
