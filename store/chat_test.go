package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

func startTurn(t *testing.T, st *store.Store, key, text string) store.ChatTurn {
	t.Helper()
	turn, err := st.StartChatTurn(context.Background(), key, text, 200)
	if err != nil {
		t.Fatalf("start turn %q: %v", text, err)
	}
	return turn
}

func claim(t *testing.T, st *store.Store, id uuid.UUID, lease time.Duration) store.ChatJob {
	t.Helper()
	job, err := st.ClaimChatReply(context.Background(), id, lease, 20)
	if err != nil {
		t.Fatalf("claim %s: %v", id, err)
	}
	return job
}

func finish(st *store.Store, job store.ChatJob, text string, ops ...store.ChatOperation) error {
	_, err := st.FinishChatReply(context.Background(), store.ChatResult{
		ReplyID: job.ReplyID, Attempt: job.Attempt, State: store.StateSuccess, Text: text,
		Operations: ops, SeenPendingVersion: job.PendingVersion,
	})
	return err
}

func createOp(name string) store.ChatOperation {
	n := name
	return store.ChatOperation{Action: "create_lead", Status: store.OpDone, Summary: "Added " + name,
		Change: &store.LeadChange{Kind: store.ChangeCreate, LeadID: uuid.New(), Input: store.LeadInput{Name: &n}}}
}

func countNamed(t *testing.T, st *store.Store, name string) int {
	t.Helper()
	ms, err := st.MatchLeads(context.Background(), name, 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Lead.Name == name {
			n++
		}
	}
	return n
}

func TestChatOneTurnInFlight(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	first := startTurn(t, st, "k", "one")
	if _, err := st.StartChatTurn(ctx, "k", "two", 200); !errors.Is(err, store.ErrTurnInFlight) {
		t.Fatalf("second turn while the first is pending: got %v, want ErrTurnInFlight", err)
	}
	startTurn(t, st, "other", "another conversation is not held up")
	if err := finish(st, claim(t, st, first.ReplyID, time.Minute), "done"); err != nil {
		t.Fatal(err)
	}
	startTurn(t, st, "k", "two")

	// Sends racing on a new conversation: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = st.StartChatTurn(ctx, "race", "hi", 200) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrTurnInFlight):
			t.Errorf("racing send: got %v, want nil or ErrTurnInFlight", err)
		}
	}
	if won != 1 {
		t.Errorf("racing sends that started a turn: got %d, want 1", won)
	}
}

// TestChatFinishOnce: a reply's changes are written once, by the latest claim.
func TestChatFinishOnce(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	turn := startTurn(t, st, "k", "add Ann")
	stale := claim(t, st, turn.ReplyID, -time.Second) // a worker whose lease ran out
	if _, err := st.ClaimChatReply(ctx, turn.ReplyID, time.Minute, 20); err != nil {
		t.Fatalf("claim after the lease ran out: %v", err)
	}
	if _, err := st.ClaimChatReply(ctx, turn.ReplyID, time.Minute, 20); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("claim while another worker holds the reply: got %v, want ErrNotPending", err)
	}
	if err := finish(st, stale, "late", createOp("Ann")); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("finish by the superseded worker: got %v, want ErrNotPending", err)
	}
	current := store.ChatJob{ReplyID: turn.ReplyID, Attempt: 2}
	if err := finish(st, current, "Added Ann", createOp("Ann")); err != nil {
		t.Fatalf("finish by the current worker: %v", err)
	}
	if err := finish(st, current, "again", createOp("Ann")); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("second finish: got %v, want ErrNotPending", err)
	}
	if n := countNamed(t, st, "Ann"); n != 1 {
		t.Errorf("leads named Ann: got %d, want 1", n)
	}
	reply, err := st.GetChatReply(ctx, turn.ReplyID)
	if err != nil {
		t.Fatal(err)
	}
	if reply.State != store.StateSuccess || reply.Content != "Added Ann" || !reply.LeadsChanged ||
		len(reply.Operations) != 1 || reply.Operations[0].Lead == nil || reply.Operations[0].Lead.Name != "Ann" {
		t.Errorf("reply: got %+v, want SUCCESS, Added Ann, one operation with the new lead", reply)
	}
	if _, err := st.ClaimChatReply(ctx, turn.ReplyID, time.Minute, 20); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("claim of a finished reply: got %v, want ErrNotPending", err)
	}
}

// TestChatFinishAllOrNothing: when one change of a turn fails, none is written.
func TestChatFinishAllOrNothing(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	turn := startTurn(t, st, "k", "add Ben and move a lead that is gone")
	job := claim(t, st, turn.ReplyID, time.Minute)
	status := "Negotiation"
	gone := store.ChatOperation{Action: "update_lead_status", Status: store.OpDone,
		Change: &store.LeadChange{Kind: store.ChangeUpdate, LeadID: uuid.New(), Input: store.LeadInput{Status: &status}}}
	if err := finish(st, job, "both", createOp("Ben"), gone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish with a change of a missing lead: got %v, want ErrNotFound", err)
	}
	if n := countNamed(t, st, "Ben"); n != 0 {
		t.Errorf("leads named Ben: got %d, want 0", n)
	}
	reply, err := st.GetChatReply(ctx, turn.ReplyID)
	if err != nil {
		t.Fatal(err)
	}
	if reply.State != store.StateProcessing {
		t.Errorf("reply after the failed finish: got %s, want PROCESSING (the worker records the failure)", reply.State)
	}
	if _, err := st.FinishChatReply(ctx, store.ChatResult{ReplyID: job.ReplyID, Attempt: job.Attempt, State: store.StateFailure,
		Text: "Nothing was changed", Error: "Nothing was changed", Operations: []store.ChatOperation{createOp("Ben")}}); err != nil {
		t.Fatalf("record failure: %v", err)
	}
	if n := countNamed(t, st, "Ben"); n != 0 {
		t.Errorf("leads named Ben after a FAILURE: got %d, want 0", n)
	}
}

// TestChatClearDuringTurn: a turn whose conversation was cleared writes nothing.
func TestChatClearDuringTurn(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	turn := startTurn(t, st, "k", "add Cleo")
	job := claim(t, st, turn.ReplyID, time.Minute)
	if err := st.ClearConversation(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := finish(st, job, "Added Cleo", createOp("Cleo")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finish after clear: got %v, want ErrNotFound", err)
	}
	if n := countNamed(t, st, "Cleo"); n != 0 {
		t.Errorf("leads named Cleo: got %d, want 0", n)
	}
	if h, err := st.ChatHistory(ctx, "k", 50); err != nil || len(h) != 0 {
		t.Errorf("history after clear: got %v %v, want none", h, err)
	}
}

// TestChatPendingUsedOnce: what a reply leaves pending is consumed by the next
// turn exactly once (compare and set on its version).
func TestChatPendingUsedOnce(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	turn := startTurn(t, st, "k", "delete x")
	job := claim(t, st, turn.ReplyID, time.Minute)
	if _, err := st.FinishChatReply(ctx, store.ChatResult{ReplyID: job.ReplyID, Attempt: job.Attempt, State: store.StateSuccess,
		Text: "Delete x?", Pending: []byte(`{"kind":"confirm_delete"}`), PendingExpiresAt: time.Now().Add(time.Minute),
		SeenPendingVersion: job.PendingVersion}); err != nil {
		t.Fatal(err)
	}
	next := startTurn(t, st, "k", "yes")
	job2 := claim(t, st, next.ReplyID, time.Minute)
	if string(job2.Pending) != `{"kind": "confirm_delete"}` {
		t.Errorf("pending seen by the next turn: got %s, want the confirmation", job2.Pending)
	}
	// Something else changed pending meanwhile: the turn's result is refused.
	stale := job2
	stale.PendingVersion--
	if err := finish(st, stale, "Deleted x"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("finish with a stale pending version: got %v, want ErrConflict", err)
	}
	if err := finish(st, job2, "Deleted x"); err != nil {
		t.Fatalf("finish: %v", err)
	}
	third := startTurn(t, st, "k", "yes")
	if job3 := claim(t, st, third.ReplyID, time.Minute); job3.Pending != nil {
		t.Errorf("pending after it was used: got %s, want none", job3.Pending)
	}
}

func TestChatHistoryTrimmed(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	for i, text := range []string{"one", "two", "three"} {
		turn, err := st.StartChatTurn(ctx, "k", text, 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := finish(st, claim(t, st, turn.ReplyID, time.Minute), "reply "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	h, err := st.ChatHistory(ctx, "k", 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range h {
		got = append(got, m.Content)
	}
	want := []string{"two", "reply b", "three", "reply c"}
	if len(got) != len(want) || got[0] != want[0] || got[3] != want[3] {
		t.Errorf("history kept: got %q, want %q", got, want)
	}
}
