-- +goose Up
-- trashed_leads holds deleted leads for 30 days, restorable until a scheduled
-- job purges them. A delete moves the row here in the same transaction that
-- closes the gap in its column, so the board, the API lists, the search and the
-- assistant never see it, and no query on leads needs a "deleted" filter. The id
-- is kept, so a restored lead is the same lead with the same history.
CREATE TABLE trashed_leads (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    company    text NOT NULL,
    email      text NOT NULL,
    phone      text NOT NULL,
    value      numeric(14, 2) NOT NULL,
    notes      text NOT NULL,
    -- The stage it was deleted from; it is restored at the end of that column.
    status     text NOT NULL REFERENCES stages (name) ON UPDATE CASCADE,
    source     text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    -- deleted_by is who deleted it, as the audit trail names them.
    deleted_by text NOT NULL DEFAULT ''
);
CREATE INDEX trashed_leads_deleted_at_idx ON trashed_leads (deleted_at);

-- lead_events is the audit trail: every change to a lead, with when and who.
-- lead_id has no foreign key: the lead moves to the trash and back, and its
-- history stays while it is in the trash. Purging a lead deletes its events.
CREATE TABLE lead_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id       uuid NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    action        text NOT NULL CHECK (action IN ('create', 'update', 'move', 'delete', 'restore')),
    -- changes lists [{"field", "old", "new"}], values as text; a create lists
    -- the fields it set (old ""), a delete or restore lists none.
    changes       jsonb NOT NULL DEFAULT '[]',
    -- actor_kind says who acted: a signed-in user, an API token, the assistant
    -- on behalf of a user, or the system (seeding, the command line).
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'token', 'assistant', 'system')),
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    -- actor_name is the actor as shown in the timeline, kept as it was when the
    -- change was made ("Ann Lee", "token ci-sync of Ann Lee", "assistant on
    -- behalf of Ann Lee").
    actor_name    text NOT NULL CHECK (length(actor_name) BETWEEN 1 AND 300)
);
CREATE INDEX lead_events_lead_idx ON lead_events (lead_id, id);

-- +goose Down
DROP TABLE lead_events;
DROP TABLE trashed_leads;
