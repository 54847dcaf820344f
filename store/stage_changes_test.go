package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestStageChangesMatchTheTrail: the rows the statement trigger of migration
// 00020 writes into lead_stage_changes are the ones rebuilt from the whole
// audit trail (rebuild_lead_stage_changes, migration 00015), after creates,
// moves, a bulk move and its undo, a delete and a restore, and one statement
// holding several stage changes of one lead.
func TestStageChangesMatchTheTrail(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for i := range 6 {
		ids = append(ids, mustCreate(t, st, fmt.Sprintf("Lead %d", i), "Interest").ID)
	}
	for i, to := range []string{"Meeting booked", "Proposal sent", "Negotiation", "Closed won"} {
		if _, err := st.MoveLead(ctx, ids[i%2], to, 0); err != nil {
			t.Fatal(err)
		}
	}
	res, err := st.BulkAction(ctx, store.BulkInput{IDs: ids[2:5], Action: "move", Status: "Negotiation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UndoBulkAction(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteLead(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RestoreLead(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	// One statement, three stage changes of one new lead, in an order its ids
	// and times agree on.
	lead := uuid.New()
	if _, err := pool.Exec(ctx, `
		INSERT INTO lead_events (lead_id, at, action, changes, actor_kind, actor_name, lead)
		VALUES ($1, now() - interval '3 days', 'create', '[{"field": "status", "old": "", "new": "Interest"}]', 'system', 'test', '{}'),
		       ($1, now() - interval '2 days', 'move', '[{"field": "status", "old": "Interest", "new": "Negotiation"}]', 'system', 'test', '{}'),
		       ($1, now() - interval '1 day', 'move', '[{"field": "status", "old": "Negotiation", "new": "Closed lost"}]', 'system', 'test', '{}')`, lead); err != nil {
		t.Fatal(err)
	}

	type row struct {
		EventID           int64
		Lead              uuid.UUID
		From, To          *int16
		At, FromEnteredAt *string
	}
	read := func() []row {
		rows, err := pool.Query(ctx, `SELECT event_id, lead_id, from_stage, to_stage, at::text, from_entered_at::text
			FROM lead_stage_changes ORDER BY event_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.EventID, &r.Lead, &r.From, &r.To, &r.At, &r.FromEnteredAt); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	written := read()
	if len(written) < 6+4+6+3 {
		t.Fatalf("%d stage changes written, want at least %d", len(written), 6+4+6+3)
	}
	if _, err := pool.Exec(ctx, `SELECT rebuild_lead_stage_changes()`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(read(), written); diff != "" {
		t.Errorf("lead_stage_changes as written differs from the trail rebuilt (-rebuilt +written):\n%s", diff)
	}
	// The statement's later changes know the one before them.
	var last row
	for _, r := range written {
		if r.Lead == lead {
			last = r
		}
	}
	if last.From == nil || last.FromEnteredAt == nil {
		t.Errorf("the lead's last change in one statement: from %v entered %v, want the stage and time of the change before it", last.From, last.FromEnteredAt)
	}
}
