package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestLeadVersionChangesOnEveryWrite writes a lead through every path the store
// has, and by hand in SQL, and checks each gives it a new, larger version, and
// that every one of them changes the board version too.
func TestLeadVersionChangesOnEveryWrite(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Jane Doe", "Interest")
	mustCreate(t, st, "Bob Roe", "Interest")
	board, err := st.BoardVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := lead.Version
	check := func(what string) {
		t.Helper()
		got, err := st.GetLead(ctx, lead.ID)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.Version <= last {
			t.Errorf("after %s: version %d, before %d; want a larger one", what, got.Version, last)
		}
		last = got.Version
		b, err := st.BoardVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b == board {
			t.Errorf("after %s: board version still %d, want another", what, b)
		}
		board = b
	}
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Phone: ptr("+1 555 0100")}); err != nil {
		t.Fatal(err)
	}
	check("an update")
	if _, err := st.MoveLead(ctx, lead.ID, "Negotiation", 0); err != nil {
		t.Fatal(err)
	}
	check("a move")
	if _, err := st.MoveLead(ctx, lead.ID, "Interest", 1); err != nil {
		t.Fatal(err)
	}
	check("a move across and after a card")
	if _, err := st.DeleteLead(ctx, lead.ID); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.BoardVersion(ctx); b == board {
		t.Errorf("after a delete: board version still %d", b)
	}
	if _, err := st.RestoreLead(ctx, lead.ID); err != nil {
		t.Fatal(err)
	}
	check("a restore")
	if _, err := pool.Exec(ctx, `UPDATE leads SET notes = 'by hand' WHERE id = $1`, lead.ID); err != nil {
		t.Fatal(err)
	}
	check("an UPDATE in SQL")
	if _, err := pool.Exec(ctx, `SELECT renumber_column('Interest', 1048576)`); err != nil {
		t.Fatal(err)
	}
	check("renumbering its column")
	if _, err := pool.Exec(ctx, `UPDATE stages SET name = 'Lead in' WHERE name = 'Interest'`); err != nil {
		t.Fatal(err)
	}
	check("renaming its stage")
	// A move to where the card already is writes nothing: the version stays.
	cur, _ := st.GetLead(ctx, lead.ID)
	again, err := st.MoveLead(ctx, lead.ID, cur.Status, cur.CardOrder)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != cur.Version {
		t.Errorf("a move to where the card is: version %d, want it unchanged at %d", again.Version, cur.Version)
	}
	// Reads leave the board version alone.
	if _, err := st.ListBoard(ctx, store.BoardQuery{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.BoardVersion(ctx); b != board {
		t.Errorf("after reads: board version %d, want it unchanged at %d", b, board)
	}
}

// TestConditionalWrites checks UpdateLeadIf, MoveLeadIf and DeleteLeadIf: with
// the version the lead has they write; with an older one they return the lead
// as it is in a *StaleLeadError and write nothing.
func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	for _, w := range []struct {
		what  string
		write func(l store.Lead, versions []int64) (store.Lead, error)
	}{
		{"update", func(l store.Lead, v []int64) (store.Lead, error) {
			return st.UpdateLeadIf(ctx, l.ID, store.LeadInput{Notes: ptr("mine")}, v)
		}},
		{"move", func(l store.Lead, v []int64) (store.Lead, error) {
			return st.MoveLeadIf(ctx, l.ID, "Negotiation", 0, v)
		}},
		{"delete", func(l store.Lead, v []int64) (store.Lead, error) { return st.DeleteLeadIf(ctx, l.ID, v) }},
	} {
		lead := mustCreate(t, st, "Lead to "+w.what, "Interest")
		theirs, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Company: ptr("Theirs Inc")})
		if err != nil {
			t.Fatal(err)
		}
		for _, versions := range [][]int64{{lead.Version}, {}, {lead.Version, theirs.Version + 1000}} {
			_, err = w.write(lead, versions)
			var stale *store.StaleLeadError
			if !errors.As(err, &stale) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("%s at versions %v: got %v, want a StaleLeadError", w.what, versions, err)
			}
			if stale.Lead.Version != theirs.Version || stale.Lead.Company != "Theirs Inc" || stale.Lead.Status != "Interest" {
				t.Errorf("%s: the stale error holds %+v, want the lead as it is (version %d)", w.what, stale.Lead, theirs.Version)
			}
			now, err := st.GetLead(ctx, lead.ID)
			if err != nil || now.Version != theirs.Version {
				t.Errorf("%s refused: the lead is now %+v (%v), want it unchanged", w.what, now, err)
			}
		}
		if _, err := w.write(lead, []int64{lead.Version, theirs.Version}); err != nil {
			t.Errorf("%s with the current version: %v", w.what, err)
		}
	}
}

// TestConditionalMovesRace runs 8 moves of one lead at once, each conditional
// on the version they all read: exactly one is written.
func TestConditionalMovesRace(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Jane Doe", "Interest")
	stages := []string{"Meeting booked", "Proposal sent", "Negotiation", "Closed won"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, refused := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := st.MoveLeadIf(ctx, lead.ID, stages[i%len(stages)], 0, []int64{lead.Version})
			mu.Lock()
			defer mu.Unlock()
			var stale *store.StaleLeadError
			switch {
			case err == nil:
				won++
			case errors.As(err, &stale):
				refused++
			default:
				t.Errorf("move: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || refused != 7 {
		t.Errorf("8 moves from one version: got %d written and %d refused, want 1 and 7", won, refused)
	}
}

// TestListBoardVersion checks that the board and the version come from one
// snapshot: the version read with a board is the one BoardVersion answers while
// nothing changes, and another after a change.
func TestListBoardVersion(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	mustCreate(t, st, "Jane Doe", "Interest")
	_, v1, err := st.ListBoardVersion(ctx, store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := st.BoardVersion(ctx); now != v1 {
		t.Errorf("board version %d, want %d as read with the board", now, v1)
	}
	mustCreate(t, st, "Bob Roe", "Interest")
	board, v2, err := st.ListBoardVersion(ctx, store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if v2 == v1 || len(board.Columns[0].Leads) != 2 {
		t.Errorf("after a create: version %d (before %d), %d leads; want another version and 2 leads", v2, v1, len(board.Columns[0].Leads))
	}
}

// TestUpdateThatChangesNothingWritesNothing: an update whose values are the
// lead's own keeps its version and updated_at and records no event (so a client
// following the stream keeps a version that still matches), and an update that
// changes the stage is recorded as a move, whatever path made it.
func TestUpdateThatChangesNothingWritesNothing(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Jane Doe", "Interest")
	history := func() []store.LeadEvent {
		t.Helper()
		evs, err := st.LeadHistory(ctx, lead.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	before := len(history())
	for _, in := range []store.LeadInput{{}, {Name: ptr("Jane Doe"), Status: ptr("Interest")}} {
		got, err := st.UpdateLead(ctx, lead.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != lead.Version || !got.UpdatedAt.Equal(lead.UpdatedAt) {
			t.Errorf("update with the lead's own values: got version %d updated %v, want %d and %v",
				got.Version, got.UpdatedAt, lead.Version, lead.UpdatedAt)
		}
	}
	if n := len(history()); n != before {
		t.Errorf("events after updates that changed nothing: got %d, want %d", n, before)
	}
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Status: ptr("Negotiation"), Phone: ptr("+1 555 0100")}); err != nil {
		t.Fatal(err)
	}
	evs := history()
	if len(evs) != before+1 {
		t.Fatalf("events after a stage change by update: got %d, want %d", len(evs), before+1)
	}
	newest := evs[0]
	if evs[len(evs)-1].At.After(newest.At) {
		newest = evs[len(evs)-1]
	}
	if newest.Action != store.EventMove {
		t.Errorf("an update that changes the stage: recorded as %q, want %q", newest.Action, store.EventMove)
	}
}
