package store_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// importFile is a file of n leads, all in stage.
func importFile(n int, stage string) []byte {
	var b bytes.Buffer
	b.WriteString("name,email,stage\n")
	for i := range n {
		fmt.Fprintf(&b, "Lead %d,lead%d@example.com,%s\n", i, i, stage)
	}
	return b.Bytes()
}

// allEvents numbers the committed events and returns them in stream order.
func allEvents(t *testing.T, st *store.Store, ctx context.Context) []store.Event {
	t.Helper()
	if _, err := st.SequenceEvents(ctx); err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for after := int64(0); ; {
		evs, err := st.EventsAfter(ctx, after, store.MaxEventsRead)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].ID
	}
}

// An import's batch numbers its events itself; the events committed before
// it and not numbered yet (the event hub numbers them a moment after their
// commit) come first in the stream, so the stream keeps the order the board
// changed in.
func TestImportNumbersEarlierEventsFirst(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	before, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Before the import")})
	if err != nil {
		t.Fatal(err)
	}
	runImport(t, st, ctx, "after.csv", importFile(3, "Interest"), store.ImportCreate, nil)
	evs := allEvents(t, st, ctx)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	if evs[0].Lead.ID != before.ID {
		t.Fatalf("first event is of %q, want the lead created before the import", evs[0].Lead.Name)
	}
	for i, ev := range evs {
		if ev.Type != store.LeadCreated || ev.Lead.CardOrder != i {
			t.Errorf("event %d: %s at position %d, want lead.created at %d", i, ev.Type, ev.Lead.CardOrder, i)
		}
	}
}

// A batch retried after an error (here a serialization failure injected
// into its last statement) does not keep the counts of the attempt rolled
// back: the new leads' positions in their events are their places.
func TestImportRetriedBatchKeepsPositions(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		CREATE SEQUENCE fault_once;
		CREATE FUNCTION fail_second_batch_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.rows_done >= 4000 AND OLD.rows_done < 4000 AND nextval('fault_once') = 1 THEN
				RAISE EXCEPTION 'injected' USING ERRCODE = '40001';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fail_second_batch_once BEFORE UPDATE ON imports
			FOR EACH ROW EXECUTE FUNCTION fail_second_batch_once();`); err != nil {
		t.Fatal(err)
	}
	imp := runImport(t, st, ctx, "retried.csv", importFile(6000, "Interest"), store.ImportCreate, nil)
	if imp.Created != 6000 {
		t.Fatalf("created %d, want 6000", imp.Created)
	}
	var fired int64
	if err := pool.QueryRow(ctx, `SELECT last_value FROM fault_once`).Scan(&fired); err != nil || fired < 1 {
		t.Fatalf("the injected failure did not fire: %d %v", fired, err)
	}
	evs := allEvents(t, st, ctx)
	if len(evs) != 6000 {
		t.Fatalf("%d events, want 6000", len(evs))
	}
	for i, ev := range evs {
		if ev.Lead.CardOrder != i || ev.Lead.Name != fmt.Sprintf("Lead %d", i) {
			t.Fatalf("event %d: %q at position %d, want Lead %d at %d", i, ev.Lead.Name, ev.Lead.CardOrder, i, i)
		}
	}
}

// The file is read a batch ahead of the batch being written; a row naming a
// stage that did not exist when it was read goes in when the stage exists by
// the time its batch is written (here created as the first batch ends).
func TestImportStageCreatedDuringImport(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		CREATE FUNCTION add_stage_after_first_batch() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.rows_done >= 2000 AND NOT EXISTS (SELECT 1 FROM stages WHERE name = 'Later') THEN
				INSERT INTO stages (name, position, kind) SELECT 'Later', max(position) + 1, 'open' FROM stages;
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER add_stage_after_first_batch BEFORE UPDATE ON imports
			FOR EACH ROW EXECUTE FUNCTION add_stage_after_first_batch();`); err != nil {
		t.Fatal(err)
	}
	imp := runImport(t, st, ctx, "later.csv", importFile(4000, "later"), store.ImportCreate, nil)
	if imp.Created != 2000 || imp.Failed != 2000 {
		t.Fatalf("created %d, failed %d: want 2000 and 2000 (the first batch before the stage existed)", imp.Created, imp.Failed)
	}
	if len(imp.Errors) == 0 || imp.Errors[0].Row != 2 || imp.Errors[0].Field != "status" {
		t.Fatalf("errors: %+v", imp.Errors[:min(len(imp.Errors), 2)])
	}
	if want := `no stage is named "later"; stages: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost`; imp.Errors[0].Message != want {
		t.Errorf("message %q, want %q", imp.Errors[0].Message, want)
	}
	var status string
	if err := pool.QueryRow(ctx, `SELECT status FROM leads WHERE name = 'Lead 3999'`).Scan(&status); err != nil || status != "Later" {
		t.Fatalf("Lead 3999: %q %v", status, err)
	}
}
