package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// stageClock reads a lead's stage_entered_at and closed_at from the table.
func stageClock(t *testing.T, pool *pgxpool.Pool, lead store.Lead) (entered time.Time, closed *time.Time) {
	t.Helper()
	err := pool.QueryRow(context.Background(),
		`SELECT stage_entered_at, closed_at FROM leads WHERE id = $1`, lead.ID).Scan(&entered, &closed)
	if err != nil {
		t.Fatal(err)
	}
	return entered, closed
}

// TestStageEnteredAndClosedOnEveryPath checks migration 00012's trigger: a move,
// an update of status, a create, a restore and a stage rename each leave
// stage_entered_at and closed_at as the lead's stage says.
func TestStageEnteredAndClosedOnEveryPath(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Jane Doe", "Interest")
	entered, closed := stageClock(t, pool, lead)
	if closed != nil {
		t.Fatalf("an open lead has closed_at %v", closed)
	}

	if _, err := st.MoveLead(ctx, lead.ID, "Closed lost", 0); err != nil {
		t.Fatal(err)
	}
	moved, closed := stageClock(t, pool, lead)
	if !moved.After(entered) {
		t.Errorf("after a move stage_entered_at is %v, before %v; want later", moved, entered)
	}
	if closed == nil || !closed.Equal(moved) {
		t.Errorf("a lost lead's closed_at is %v, want %v", closed, moved)
	}

	// An update that changes something else leaves both alone.
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Phone: ptr("+1 555 0100")}); err != nil {
		t.Fatal(err)
	}
	if e, c := stageClock(t, pool, lead); !e.Equal(moved) || c == nil || !c.Equal(moved) {
		t.Errorf("an update of the phone changed stage_entered_at %v or closed_at %v", e, c)
	}

	// Reopening by an update of status clears closed_at.
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Status: ptr("Negotiation")}); err != nil {
		t.Fatal(err)
	}
	reopened, closed := stageClock(t, pool, lead)
	if closed != nil || !reopened.After(moved) {
		t.Errorf("reopened: closed_at %v, stage_entered_at %v (was %v)", closed, reopened, moved)
	}

	// Renaming the stage is not a stage change.
	if _, err := pool.Exec(ctx, `UPDATE stages SET name = 'Negotiating' WHERE name = 'Negotiation'`); err != nil {
		t.Fatal(err)
	}
	if e, c := stageClock(t, pool, lead); !e.Equal(reopened) || c != nil {
		t.Errorf("a rename changed stage_entered_at to %v (was %v) or closed_at to %v", e, reopened, c)
	}

	// A lead created in a won stage is closed when it entered it; deleted and
	// restored, it keeps both.
	won := mustCreate(t, st, "Bob Roe", "Closed won")
	wonAt, wonClosed := stageClock(t, pool, won)
	if wonClosed == nil || !wonClosed.Equal(wonAt) {
		t.Errorf("created won: closed_at %v, want %v", wonClosed, wonAt)
	}
	if _, err := st.DeleteLead(ctx, won.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RestoreLead(ctx, won.ID); err != nil {
		t.Fatal(err)
	}
	if e, c := stageClock(t, pool, won); !e.Equal(wonAt) || c == nil || !c.Equal(wonAt) {
		t.Errorf("restored: stage_entered_at %v, closed_at %v; want both %v", e, c, wonAt)
	}
}
