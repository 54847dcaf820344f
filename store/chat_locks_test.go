package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestChatTurnLocksColumnsInBoardOrder runs assistant turns that create a lead in
// Negotiation and then move a lead out of Interest, against plain moves between
// Interest and Negotiation. Taking the turn's column locks one change at a time
// deadlocks with the movers; the turn must lock all its columns at once.
func TestChatTurnLocksColumnsInBoardOrder(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	var interest []store.Lead
	for i := range 12 {
		interest = append(interest, mustCreate(t, st, fmt.Sprintf("I%d", i), "Interest"))
		mustCreate(t, st, fmt.Sprintf("N%d", i), "Negotiation")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 3 {
		wg.Go(func() {
			for i := range 10 {
				turn, err := st.StartChatTurn(ctx, fmt.Sprintf("k%d", g), fmt.Sprintf("turn %d", i), 200)
				if err != nil {
					errs <- err
					return
				}
				job, err := st.ClaimChatReply(ctx, turn.ReplyID, time.Minute, 20)
				if err != nil {
					errs <- err
					return
				}
				create := createOp(fmt.Sprintf("new %d-%d", g, i))
				neg := "Negotiation"
				create.Change.Input.Status = &neg
				to := "Proposal sent"
				move := store.ChatOperation{Action: "update_lead_status", Status: store.OpDone,
					Change: &store.LeadChange{Kind: store.ChangeUpdate, LeadID: interest[(g*10+i)%len(interest)].ID, Input: store.LeadInput{Status: &to}}}
				if err := finish(st, job, "done", create, move); err != nil {
					errs <- fmt.Errorf("finish turn: %w", err)
					return
				}
			}
		})
	}
	for g := range 4 {
		wg.Go(func() {
			for i := range 40 {
				status := []string{"Interest", "Negotiation"}[(g+i)%2]
				l := interest[(g*7+i)%len(interest)]
				if _, err := st.MoveLead(ctx, l.ID, status, i%5); err != nil {
					errs <- fmt.Errorf("move: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var deadlocks int64
	if err := pool.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks); err != nil {
		t.Fatal(err)
	}
	if deadlocks != 0 {
		t.Errorf("PostgreSQL detected %d deadlocks, want 0", deadlocks)
	}
	columns(t, pool) // fails unless every column is 0..n-1
}
