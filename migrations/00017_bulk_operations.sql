-- +goose Up
-- Bulk actions (issue "Bringing a team's data in and out").

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

-- +goose Down
DROP TABLE bulk_operations;
