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
-- Autovacuum never analyzes a six-row table; without statistics the planner
-- assumes hundreds of stages and JIT-compiles the board query on every request.
ANALYZE stages;

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
);

-- Every column's card_order is 0..n-1 with no gap or duplicate. That is guaranteed by
-- the stage-row locks every writer takes (see queries/stages.sql, LockStages); a
-- unique constraint would have to be deferred (a move shifts a range by one) and
-- re-checked row by row at commit, for no added safety. This index reads a column
-- in order, so the first page of a column costs the same at 100 leads and at
-- 100,000. It makes a shifted card's update write index entries (no HOT update):
-- measured 3-4x more per shifted card than with card_order unindexed, the price of
-- constant-time reads, which happen after every move too (the board re-renders the
-- columns it touched).
CREATE INDEX leads_status_card_order_idx ON leads (status, card_order);

-- Trigram indexes for search (ILIKE) and the assistant's fuzzy matching (similarity).
CREATE INDEX leads_name_trgm ON leads USING gin (name gin_trgm_ops);
CREATE INDEX leads_company_trgm ON leads USING gin (company gin_trgm_ops);
CREATE INDEX leads_email_trgm ON leads USING gin (email gin_trgm_ops);

-- +goose Down
DROP TABLE leads;
DROP TABLE stages;
