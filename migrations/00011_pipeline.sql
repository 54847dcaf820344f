-- +goose Up
-- The pipeline the team owns (issue "A pipeline the team owns"): stages with a
-- win probability and a rotting threshold, won and lost as outcomes with a
-- reason, and an owner for every lead.

-- A stage's win probability (percent) weights the forecast; rot_days is how
-- many days a lead may sit in the stage before its card is marked as going
-- stale (NULL: never, the default for won and lost stages).
ALTER TABLE stages
    ADD COLUMN probability smallint NOT NULL DEFAULT 0 CHECK (probability BETWEEN 0 AND 100),
    ADD COLUMN rot_days    integer CHECK (rot_days BETWEEN 1 AND 3650);
UPDATE stages SET probability = CASE kind WHEN 'won' THEN 100 WHEN 'lost' THEN 0 ELSE probability END;
UPDATE stages SET probability = 10, rot_days = 14 WHERE name = 'Interest';
UPDATE stages SET probability = 25, rot_days = 7 WHERE name = 'Meeting booked';
UPDATE stages SET probability = 50, rot_days = 14 WHERE name = 'Proposal sent';
UPDATE stages SET probability = 75, rot_days = 21 WHERE name = 'Negotiation';
-- Reordering stages swaps positions inside one transaction; the uniqueness of a
-- position is checked at commit.
ALTER TABLE stages DROP CONSTRAINT stages_position_key;
ALTER TABLE stages ADD CONSTRAINT stages_position_key UNIQUE (position) DEFERRABLE INITIALLY DEFERRED;
-- Stage names are matched without regard to case everywhere (move_lead, the
-- assistant), so two stages may not differ only in case.
CREATE UNIQUE INDEX stages_lower_name_key ON stages (lower(name));

-- lost_reasons is the admin-kept list offered when a lead is lost. A lead keeps
-- the reason's text as it was chosen (leads.lost_reason), so renaming or
-- retiring a reason never rewrites history; free text is allowed too.
CREATE TABLE lost_reasons (
    id       smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name     text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    position integer NOT NULL,
    active   boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX lost_reasons_lower_name_key ON lost_reasons (lower(name));
INSERT INTO lost_reasons (name, position) VALUES
    ('Price', 0),
    ('Went with a competitor', 1),
    ('No budget', 2),
    ('No decision', 3),
    ('Bad timing', 4),
    ('Missing feature', 5);

-- pipeline_settings is the one row of team-wide pipeline settings.
-- lost_reason_required: a move into a lost stage without a reason is refused
-- on every path (off by default, so the original API keeps working).
CREATE TABLE pipeline_settings (
    one                  boolean PRIMARY KEY DEFAULT true CHECK (one),
    lost_reason_required boolean NOT NULL DEFAULT false
);
INSERT INTO pipeline_settings DEFAULT VALUES;

-- owner_id is the user who owns the lead (by default whoever created it; NULL
-- for leads nobody owns: created by the system, or before any account existed).
-- closed_at is when the lead entered a won or lost stage (NULL while open).
-- lost_reason and lost_note say why it was lost; they stay when the lead is
-- reopened, as history, and are replaced when it is lost again.
-- stage_entered_at is when the lead entered its current stage (days in stage,
-- rotting).
ALTER TABLE leads
    ADD COLUMN owner_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN closed_at        timestamptz,
    ADD COLUMN lost_reason      text NOT NULL DEFAULT '' CHECK (length(lost_reason) <= 200),
    ADD COLUMN lost_note        text NOT NULL DEFAULT '' CHECK (length(lost_note) <= 2000),
    ADD COLUMN stage_entered_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE trashed_leads
    ADD COLUMN owner_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN closed_at        timestamptz,
    ADD COLUMN lost_reason      text NOT NULL DEFAULT '',
    ADD COLUMN lost_note        text NOT NULL DEFAULT '',
    ADD COLUMN stage_entered_at timestamptz NOT NULL DEFAULT now();

-- Today's data: the owner is whoever created the lead as the audit trail says,
-- else the first admin; a lead entered its stage at its last move, else when
-- it was created; a lead in a won or lost stage closed then. One set-based
-- statement (the trail read once, not per lead): at 100,000 leads and 400,000
-- events the whole migration takes a few seconds (README, "Upgrading").
-- Every lead gets a new version here: its JSON gained fields, so the ETags a
-- client holds no longer describe it.
UPDATE leads l SET
    owner_id = b.owner_id,
    stage_entered_at = b.entered,
    closed_at = CASE WHEN b.kind IN ('won', 'lost') THEN b.entered END
FROM (
    SELECT x.id, s.kind,
           coalesce(c.actor_user_id,
                    (SELECT u.id FROM users u WHERE u.role = 'admin' AND u.active
                     ORDER BY u.created_at LIMIT 1)) AS owner_id,
           coalesce(m.at, x.created_at) AS entered
    FROM leads x
    JOIN stages s ON s.name = x.status
    LEFT JOIN (SELECT DISTINCT ON (e.lead_id) e.lead_id, e.actor_user_id
               FROM lead_events e
               WHERE e.action = 'create' AND e.actor_user_id IS NOT NULL
               ORDER BY e.lead_id, e.id) c ON c.lead_id = x.id
    LEFT JOIN (SELECT e.lead_id, max(e.at) AS at
               FROM lead_events e
               WHERE e.action = 'move'
               GROUP BY e.lead_id) m ON m.lead_id = x.id
) b
WHERE b.id = l.id;
UPDATE trashed_leads t SET
    owner_id = c.actor_user_id,
    stage_entered_at = t.updated_at
FROM trashed_leads x
LEFT JOIN (SELECT DISTINCT ON (e.lead_id) e.lead_id, e.actor_user_id
           FROM lead_events e
           WHERE e.action = 'create' AND e.actor_user_id IS NOT NULL
           ORDER BY e.lead_id, e.id) c ON c.lead_id = x.id
WHERE x.id = t.id;

CREATE INDEX leads_owner_idx ON leads (owner_id);

-- +goose Down
DROP INDEX leads_owner_idx;
ALTER TABLE trashed_leads
    DROP COLUMN owner_id, DROP COLUMN closed_at, DROP COLUMN lost_reason,
    DROP COLUMN lost_note, DROP COLUMN stage_entered_at;
ALTER TABLE leads
    DROP COLUMN owner_id, DROP COLUMN closed_at, DROP COLUMN lost_reason,
    DROP COLUMN lost_note, DROP COLUMN stage_entered_at;
DROP TABLE pipeline_settings;
DROP TABLE lost_reasons;
DROP INDEX stages_lower_name_key;
ALTER TABLE stages DROP CONSTRAINT stages_position_key;
ALTER TABLE stages ADD CONSTRAINT stages_position_key UNIQUE (position);
ALTER TABLE stages DROP COLUMN rot_days, DROP COLUMN probability;
