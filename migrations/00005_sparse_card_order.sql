-- +goose Up
-- The stored card_order becomes a sort key with gaps, and a lead's position in its
-- column (the card_order the API and the board show, always 0..n-1) is its rank
-- by that key. A dense stored order made every move rewrite every card between the
-- old and the new place: about 166 rows for a move on a 1,000-lead board, each
-- writing new entries into every index of the table, which capped the board at
-- about 50 moves a second on two cores. With gaps a move writes one row: the moved
-- lead takes a key between its new neighbours' keys (move_lead, migration 00006).
-- A delete writes none (the positions after it close up by themselves), and a
-- new lead takes a key after the last one.
--
-- No duplicate position: the unique constraint below. No gap: a position is
-- computed as a rank, count(*) of the column's smaller keys, so there is nothing
-- to fall out of step. Writers still lock the stages of the columns they change
-- (see store/leads.go), so that a renumbering never runs beside a writer reading
-- the column's keys.
ALTER TABLE leads DROP CONSTRAINT leads_card_order_check;
ALTER TABLE leads ALTER COLUMN card_order TYPE bigint;
DROP INDEX leads_status_card_order_idx;
-- Spread the existing keys out: position i gets key i * 2^20 (store.keyGap).
UPDATE leads
SET card_order = ranked.position * 1048576
FROM (SELECT id, row_number() OVER (PARTITION BY status ORDER BY card_order, id) - 1 AS position
      FROM leads) ranked
WHERE leads.id = ranked.id;
-- Not deferrable: with a deferred check, two moves that took the same key at
-- once would each wait at the end of their statement for the other to finish,
-- a deadlock; checked row by row, the later one waits for the first and fails.
-- (Renumbering a column therefore moves its keys past the old ones; see
-- RenumberColumn.) It is also the index that reads a column in order.
ALTER TABLE leads ADD CONSTRAINT leads_status_card_order_key UNIQUE (status, card_order);

-- +goose Down
ALTER TABLE leads DROP CONSTRAINT leads_status_card_order_key;
UPDATE leads
SET card_order = ranked.position
FROM (SELECT id, row_number() OVER (PARTITION BY status ORDER BY card_order, id) - 1 AS position
      FROM leads) ranked
WHERE leads.id = ranked.id;
ALTER TABLE leads ALTER COLUMN card_order TYPE integer;
ALTER TABLE leads ADD CONSTRAINT leads_card_order_check CHECK (card_order >= 0);
CREATE INDEX leads_status_card_order_idx ON leads (status, card_order);
