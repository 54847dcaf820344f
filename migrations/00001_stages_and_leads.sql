-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- stages are the pipeline's columns, in board order. kind says whether a lead in
-- the stage is still open, won or lost (used for summaries, not for rules).
CREATE TABLE stages (
    id       smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name     text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 60),
    position integer NOT NULL UNIQUE,
    kind     text NOT NULL CHECK (kind IN ('open', 'won', 'lost'))
);

INSERT INTO stages (name, position, kind) VALUES
    ('Interest', 0, 'open'),
    ('Meeting booked', 1, 'open'),
    ('Proposal sent', 2, 'open'),
    ('Negotiation', 3, 'open'),
    ('Closed won', 4, 'won'),
    ('Closed lost', 5, 'lost');

-- leads keeps exactly the columns of the original backend. Optional text fields are
-- '' rather than NULL so the API and the board never have to tell the two apart.
CREATE TABLE leads (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    company    text NOT NULL DEFAULT '' CHECK (length(company) <= 200),
    email      text NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    phone      text NOT NULL DEFAULT '' CHECK (length(phone) <= 50),
    value      numeric(14, 2) NOT NULL DEFAULT 0 CHECK (value >= 0),
    notes      text NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    -- ON UPDATE CASCADE: renaming a stage carries its leads along.
    status     text NOT NULL REFERENCES stages (name) ON UPDATE CASCADE,
    source     text NOT NULL DEFAULT '' CHECK (length(source) <= 100),
    card_order integer NOT NULL CHECK (card_order >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);

-- Every column's card_order is 0..n-1 with no gap or duplicate. That is guaranteed by
-- the stage-row locks every writer takes (see queries/stages.sql, LockStages), not by
-- an index: no index covers card_order on purpose. A move shifts up to a whole
-- column's card_order by one; with card_order unindexed those updates are HOT
-- (heap-only: no index entries written, dead versions pruned within the page, room
-- left by fillfactor 70), about 3-4x cheaper per shifted card than updates that must
-- write a new entry into every index (the trigram GIN indexes included). A column is
-- read in order through leads_status_idx plus a top-N sort of that column, which
-- costs well under a millisecond per thousand leads in the column.
CREATE INDEX leads_status_idx ON leads (status);

-- Trigram indexes for search (ILIKE) and the assistant's fuzzy matching (similarity).
CREATE INDEX leads_name_trgm ON leads USING gin (name gin_trgm_ops);
CREATE INDEX leads_company_trgm ON leads USING gin (company gin_trgm_ops);
CREATE INDEX leads_email_trgm ON leads USING gin (email gin_trgm_ops);

-- +goose Down
DROP TABLE leads;
DROP TABLE stages;
