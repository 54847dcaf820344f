-- +goose Up
-- Bulk actions and CSV imports (issue "Bringing a team's data in and out").

-- bulk_operations records each bulk action on the board or the API (move,
-- assign, delete) with what its one Undo needs: per lead, the version the
-- action left and the values before it. Undo puts back only the leads whose
-- version is still that one (nobody changed them since).
CREATE TABLE bulk_operations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    action        text NOT NULL CHECK (action IN ('move', 'assign', 'delete')),
    -- leads: [{"id", "version", "status", "position", "owner_id"}], the
    -- version after the action and the values before it.
    leads         jsonb NOT NULL,
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_name    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    undone_at     timestamptz
);
CREATE INDEX bulk_operations_created_at_idx ON bulk_operations (created_at);

-- imports is one CSV import: the file's rows wait in import_rows (copied in as
-- they are read, so memory does not grow with the file), the person maps
-- columns to fields and picks what happens to duplicates, then a background
-- job writes the leads in one transaction.
-- state: preview (uploaded, waiting for the mapping to be confirmed), queued,
-- running, done, failed (error says why), undone.
CREATE TABLE imports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    filename      text NOT NULL CHECK (length(filename) <= 300),
    state         text NOT NULL CHECK (state IN ('preview', 'queued', 'running', 'done', 'failed', 'undone')),
    -- header is the file's first row; mapping the lead field of each column
    -- ('' for a column not imported), index for index.
    header        text[] NOT NULL,
    mapping       text[] NOT NULL,
    duplicates    text NOT NULL DEFAULT 'skip' CHECK (duplicates IN ('skip', 'update', 'create')),
    total_rows    integer NOT NULL DEFAULT 0,
    processed     integer NOT NULL DEFAULT 0,
    created       integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    skipped       integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    -- undo_report says what an undo did and what it kept (leads changed since).
    undo_report   jsonb,
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'token', 'assistant', 'system')),
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_name    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX imports_created_at_idx ON imports (created_at);

-- import_rows are the file's data rows (row_no counts from 1 after the header,
-- as a spreadsheet shows them: line row_no + 1). The job fills in the outcome:
-- created, updated, skipped or failed, with the lead written, the version it
-- left (undo checks it), the fields an update replaced (undo puts them back),
-- and the problems [{"field", "message"}].
CREATE TABLE import_rows (
    import_id     uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_no        integer NOT NULL,
    cells         text[] NOT NULL,
    outcome       text CHECK (outcome IN ('created', 'updated', 'skipped', 'failed')),
    lead_id       uuid,
    version_after bigint,
    before        jsonb,
    problems      jsonb,
    PRIMARY KEY (import_id, row_no)
);

-- +goose Down
DROP TABLE import_rows;
DROP TABLE imports;
DROP TABLE bulk_operations;
