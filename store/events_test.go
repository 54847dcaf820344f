package store_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// sequenceAndRead numbers what committed and returns the events after after.
func sequenceAndRead(t *testing.T, st *store.Store, after int64) []store.Event {
	t.Helper()
	if _, err := st.SequenceEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := st.EventsAfter(context.Background(), after, store.MaxEventsRead)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func lastEventID(t *testing.T, st *store.Store) int64 {
	t.Helper()
	if _, err := st.SequenceEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := st.LastEventID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEventStreamCarriesEachChange(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	mustCreate(t, st, "Other", "Negotiation")
	start := lastEventID(t, st)

	value := store.Money(99_000_00)
	lead, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Jane Doe"), Status: ptr("Interest")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{Value: &value}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveLead(ctx, lead.ID, "Negotiation", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteLead(ctx, lead.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RestoreLead(ctx, lead.ID); err != nil {
		t.Fatal(err)
	}

	evs := sequenceAndRead(t, st, start)
	type summary struct {
		ID      int64
		Type    string
		Status  string
		Order   int
		Value   store.Money
		Changes []store.FieldChange
	}
	var got []summary
	for i, ev := range evs {
		got = append(got, summary{ev.ID, ev.Type, ev.Lead.Status, ev.Lead.CardOrder, ev.Lead.Value, ev.Changes})
		if ev.Lead.ID != lead.ID || ev.Lead.Name != "Jane Doe" {
			t.Errorf("event %d: lead %v %q, want %v \"Jane Doe\"", i, ev.Lead.ID, ev.Lead.Name, lead.ID)
		}
		want := store.EventActor{Kind: store.ActorUser, UserID: &ann.ID, Name: ann.Name}
		if !cmp.Equal(ev.Actor, want) {
			t.Errorf("event %d actor: got %+v, want %+v", i, ev.Actor, want)
		}
		if ev.At.IsZero() || time.Since(ev.At) > time.Minute {
			t.Errorf("event %d at %v, want about now", i, ev.At)
		}
	}
	want := []summary{
		{start + 1, store.LeadCreated, "Interest", 0, 0, []store.FieldChange{{Field: "name", New: "Jane Doe"}, {Field: "status", New: "Interest"}, {Field: "owner", New: "ann@example.com"}}},
		{start + 2, store.LeadUpdated, "Interest", 0, value, []store.FieldChange{{Field: "value", Old: "0.00", New: "99000.00"}}},
		{start + 3, store.LeadMoved, "Negotiation", 0, value, []store.FieldChange{{Field: "status", Old: "Interest", New: "Negotiation"}, {Field: "position", Old: "1", New: "1"}}},
		{start + 4, store.LeadDeleted, "Negotiation", 0, value, []store.FieldChange{}},
		{start + 5, store.LeadRestored, "Negotiation", 1, value, []store.FieldChange{{Field: "status", New: "Negotiation"}, {Field: "position", New: "2"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// insertEventTx starts a transaction that records an event of lead id and
// leaves it open.
func insertEventTx(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) (commit func(), rollback func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE leads SET notes = notes || '.' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_name)
		VALUES ($1, 'update', '[{"field":"notes","old":"","new":"."}]', 'system', 'system')`, id); err != nil {
		t.Fatal(err)
	}
	return func() {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		}
}

// An event whose transaction commits after a later event's is not skipped by a
// reader that already read the later one.
func TestEventCommittedLateIsNotMissed(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	early, late := mustCreate(t, st, "Early", "Interest"), mustCreate(t, st, "Late", "Interest")
	start := lastEventID(t, st)

	commitEarly, _ := insertEventTx(t, pool, early.ID) // draws the lower identity id
	if _, err := st.UpdateLead(context.Background(), late.ID, store.LeadInput{Company: ptr("Late Ltd")}); err != nil {
		t.Fatal(err)
	}
	first := sequenceAndRead(t, st, start)
	if len(first) != 1 || first[0].Lead.ID != late.ID {
		t.Fatalf("read before the early transaction committed: got %d events, want the late one alone", len(first))
	}
	commitEarly()
	second := sequenceAndRead(t, st, first[0].ID)
	if len(second) != 1 || second[0].Lead.ID != early.ID || second[0].ID != first[0].ID+1 {
		t.Fatalf("read after the early transaction committed: got %+v, want the early event at %d", second, first[0].ID+1)
	}
	// The premise: by identity id the early event comes first, so a reader
	// resuming "after the late event's id" would have skipped it.
	var earlyID, lateID int64
	if err := pool.QueryRow(context.Background(), `SELECT
		(SELECT max(id) FROM lead_events WHERE lead_id = $1), (SELECT max(id) FROM lead_events WHERE lead_id = $2)`,
		early.ID, late.ID).Scan(&earlyID, &lateID); err != nil {
		t.Fatal(err)
	}
	if earlyID >= lateID {
		t.Fatalf("identity ids: early %d, late %d; the test needs early < late", earlyID, lateID)
	}
}

// Many writers commit in random order while a reader follows the stream: the
// reader sees every event once, in increasing order.
func TestConcurrentWritersReaderMissesNothing(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	const writers, each = 8, 15
	leads := make([]store.Lead, writers)
	for i := range leads {
		leads[i] = mustCreate(t, st, "W"+string(rune('A'+i)), "Interest")
	}
	start := lastEventID(t, st)

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			ctx := context.Background()
			for range each {
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tx.Exec(ctx, `INSERT INTO lead_events (lead_id, action, actor_kind, actor_name)
					VALUES ($1, 'update', 'system', 'system')`, leads[w].ID); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // commit in a scrambled order
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	last := start
	var got int
	read := func() {
		for _, ev := range sequenceAndRead(t, st, last) {
			if ev.ID <= last || seen[ev.ID] {
				t.Fatalf("event %d after %d: out of order or seen twice", ev.ID, last)
			}
			seen[ev.ID], last = true, ev.ID
			got++
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		read()
	}
	read()
	var total int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM lead_events WHERE seq > $1`, start).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if got != writers*each || total != writers*each {
		t.Errorf("reader saw %d events, the table holds %d; want %d", got, total, writers*each)
	}
}

// A change that rolls back leaves no event, and takes no stream position.
func TestRolledBackChangeEmitsNoEvent(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	lead := mustCreate(t, st, "Jane", "Interest")
	start := lastEventID(t, st)

	_, rollback := insertEventTx(t, pool, lead.ID)
	rollback()
	if evs := sequenceAndRead(t, st, start); len(evs) != 0 {
		t.Fatalf("after a rolled-back change: got %d events, want 0", len(evs))
	}
	// A write the store refuses midway (a lead deleted meanwhile) records none either.
	if _, err := st.DeleteLead(context.Background(), lead.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateLead(context.Background(), lead.ID, store.LeadInput{Notes: ptr("x")}); err == nil {
		t.Fatal("update of a deleted lead: got nil error")
	}
	evs := sequenceAndRead(t, st, start)
	if len(evs) != 1 || evs[0].Type != store.LeadDeleted || evs[0].ID != start+1 {
		t.Fatalf("after a delete and a failed update: got %+v, want the delete alone at %d", evs, start+1)
	}
}
