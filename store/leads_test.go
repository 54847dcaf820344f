package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func mustCreate(t *testing.T, st *store.Store, name, status string) store.Lead {
	t.Helper()
	l, err := st.CreateLead(context.Background(), store.LeadInput{Name: &name, Status: &status})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return l
}

// columns reads every column's lead names in card order, checking on the way that
// the board the store reads has each column's positions exactly 0..n-1, in the
// order of the sort keys in the table, with no two keys of a column equal, and
// that GetLead gives each lead the same position.
func columns(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT status, name, card_order FROM leads ORDER BY status, card_order`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	last := map[string]int64{}
	for rows.Next() {
		var status, name string
		var key int64
		if err := rows.Scan(&status, &name, &key); err != nil {
			t.Fatal(err)
		}
		if k, ok := last[status]; ok && k >= key {
			t.Fatalf("column %s: sort key %d after %d, want strictly increasing", status, key, k)
		}
		last[status] = key
		out[status] = append(out[status], name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool)
	board, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range board.Columns {
		if len(c.Leads) != len(out[c.Stage.Name]) {
			t.Fatalf("column %s: the board has %d leads, the table %d", c.Stage.Name, len(c.Leads), len(out[c.Stage.Name]))
		}
		for i, l := range c.Leads {
			if l.CardOrder != i || l.Name != out[c.Stage.Name][i] {
				t.Fatalf("column %s: %s at card_order %d, index %d; the table has %s there", c.Stage.Name, l.Name, l.CardOrder, i, out[c.Stage.Name][i])
			}
			got, err := st.GetLead(ctx, l.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CardOrder != i {
				t.Fatalf("column %s: GetLead(%s) gives card_order %d, the board %d", c.Stage.Name, l.Name, got.CardOrder, i)
			}
		}
	}
	return out
}

func TestCreateLeadAppendsToColumn(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	a, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("  Ann  "), Company: ptr("Acme"), Value: ptr(store.Money(2_000_050)), Email: ptr("ann@acme.test")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Ann" || a.Status != "Interest" || a.CardOrder != 0 || a.Value != 2_000_050 {
		t.Errorf("got %+v, want Ann trimmed, first stage, order 0, value 20000.50", a)
	}
	b := mustCreate(t, st, "Ben", "interest") // stage names match without regard to case
	if b.Status != "Interest" || b.CardOrder != 1 {
		t.Errorf("got status %q order %d, want Interest 1", b.Status, b.CardOrder)
	}
	got, err := st.GetLead(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("GetLead differs from created lead (-created +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"Interest": {"Ann", "Ben"}}, columns(t, pool)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func TestCreateLeadValidation(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	long := func(n int) *string {
		s := make([]rune, n)
		for i := range s {
			s[i] = 'x'
		}
		v := string(s)
		return &v
	}
	tests := []struct {
		name  string
		in    store.LeadInput
		field string
	}{
		{"missing name", store.LeadInput{}, "name"},
		{"blank name", store.LeadInput{Name: ptr("   ")}, "name"},
		{"long name", store.LeadInput{Name: long(201)}, "name"},
		{"bad email", store.LeadInput{Name: ptr("A"), Email: ptr("not-an-email")}, "email"},
		{"email with name", store.LeadInput{Name: ptr("A"), Email: ptr("Ann <ann@x.test>")}, "email"},
		{"long notes", store.LeadInput{Name: ptr("A"), Notes: long(10001)}, "notes"},
		{"long phone", store.LeadInput{Name: ptr("A"), Phone: long(51)}, "phone"},
		{"nul byte", store.LeadInput{Name: ptr("A\x00B")}, "name"},
		{"unknown stage", store.LeadInput{Name: ptr("A"), Status: ptr("Someday")}, "status"},
		{"negative value", store.LeadInput{Name: ptr("A"), Value: ptr(store.Money(-1))}, "value"},
		{"huge value", store.LeadInput{Name: ptr("A"), Value: ptr(store.MaxMoney + 1)}, "value"},
	}
	for _, tt := range tests {
		_, err := st.CreateLead(context.Background(), tt.in)
		var ve *store.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got error %v, want a ValidationError", tt.name, err)
			continue
		}
		if ve.Fields[tt.field] == "" {
			t.Errorf("%s: got fields %v, want a message for %q", tt.name, ve.Fields, tt.field)
		}
	}
	if got := columns(t, pool); len(got) != 0 {
		t.Errorf("got leads %v after invalid creates, want none", got)
	}
}

func TestUnknownStageListsStages(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	_, err := st.CreateLead(context.Background(), store.LeadInput{Name: ptr("A"), Status: ptr("Later")})
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want ValidationError", err)
	}
	want := "must be one of: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost"
	if ve.Fields["status"] != want {
		t.Errorf("got %q, want %q", ve.Fields["status"], want)
	}
}

func TestUpdateLeadPartialAndStatusChange(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	a := mustCreate(t, st, "A", "Interest")
	mustCreate(t, st, "B", "Interest")
	mustCreate(t, st, "C", "Negotiation")

	u, err := st.UpdateLead(ctx, a.ID, store.LeadInput{Phone: ptr("+1 555"), Value: ptr(store.Money(100))})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "A" || u.Phone != "+1 555" || u.Value != 100 || u.Status != "Interest" || u.CardOrder != 0 {
		t.Errorf("got %+v, want only phone and value changed", u)
	}
	if !u.UpdatedAt.After(a.UpdatedAt) && !u.UpdatedAt.Equal(a.UpdatedAt) {
		t.Errorf("updated_at went back: %v before %v", u.UpdatedAt, a.UpdatedAt)
	}
	u, err = st.UpdateLead(ctx, a.ID, store.LeadInput{Status: ptr("Negotiation")})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != "Negotiation" || u.CardOrder != 1 {
		t.Errorf("got %s/%d, want Negotiation/1 (end of the new column)", u.Status, u.CardOrder)
	}
	want := map[string][]string{"Interest": {"B"}, "Negotiation": {"C", "A"}}
	if diff := cmp.Diff(want, columns(t, pool)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if _, err := st.UpdateLead(ctx, uuid.New(), store.LeadInput{Name: ptr("X")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing lead: got %v, want ErrNotFound", err)
	}
	if _, err := st.UpdateLead(ctx, a.ID, store.LeadInput{Status: ptr("Nope")}); err == nil {
		t.Error("update to an unknown stage: got nil error, want ValidationError")
	}
	if diff := cmp.Diff(want, columns(t, pool)); diff != "" {
		t.Errorf("columns changed by a refused update (-want +got):\n%s", diff)
	}
}

func TestMoveLead(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	ids := map[string]uuid.UUID{}
	for _, n := range []string{"A", "B", "C", "D"} {
		ids[n] = mustCreate(t, st, n, "Interest").ID
	}
	ids["X"] = mustCreate(t, st, "X", "Closed won").ID

	steps := []struct {
		lead, status string
		order        int
		want         map[string][]string
	}{
		{"A", "Interest", 2, map[string][]string{"Interest": {"B", "C", "A", "D"}, "Closed won": {"X"}}},
		{"D", "Interest", 0, map[string][]string{"Interest": {"D", "B", "C", "A"}, "Closed won": {"X"}}},
		{"B", "Closed won", 0, map[string][]string{"Interest": {"D", "C", "A"}, "Closed won": {"B", "X"}}},
		{"C", "Closed won", 99, map[string][]string{"Interest": {"D", "A"}, "Closed won": {"B", "X", "C"}}},
		{"A", "Interest", -5, map[string][]string{"Interest": {"A", "D"}, "Closed won": {"B", "X", "C"}}},
		{"X", "closed WON", 7, map[string][]string{"Interest": {"A", "D"}, "Closed won": {"B", "C", "X"}}},
		{"D", "Negotiation", 3, map[string][]string{"Interest": {"A"}, "Negotiation": {"D"}, "Closed won": {"B", "C", "X"}}},
	}
	for i, s := range steps {
		l, err := st.MoveLead(ctx, ids[s.lead], s.status, s.order)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if diff := cmp.Diff(s.want, columns(t, pool)); diff != "" {
			t.Fatalf("step %d: move %s to %s/%d (-want +got):\n%s", i, s.lead, s.status, s.order, diff)
		}
		if l.CardOrder != indexOf(s.want[l.Status], s.lead) {
			t.Errorf("step %d: returned card_order %d, want %d", i, l.CardOrder, indexOf(s.want[l.Status], s.lead))
		}
	}
	if _, err := st.MoveLead(ctx, uuid.New(), "Interest", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("move of a missing lead: got %v, want ErrNotFound", err)
	}
	before := columns(t, pool)
	// A move to where the card is changes nothing: not even updated_at.
	last := ids["X"] // alone in Closed won's last place
	was, err := st.GetLead(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range []int{was.CardOrder, 99} {
		after, err := st.MoveLead(ctx, last, was.Status, order)
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(was.UpdatedAt) || after.CardOrder != was.CardOrder {
			t.Errorf("move of the last card to %d: got card_order %d updated %v, want %d and %v kept",
				order, after.CardOrder, after.UpdatedAt, was.CardOrder, was.UpdatedAt)
		}
	}
	var verr *store.ValidationError
	if _, err := st.MoveLead(ctx, ids["A"], "Someday", 0); !errors.As(err, &verr) ||
		verr.Fields["status"] != "must be one of: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost" {
		t.Errorf("move to an unknown stage: got %v, want a validation error listing the stages", err)
	}
	if diff := cmp.Diff(before, columns(t, pool)); diff != "" {
		t.Errorf("a refused move changed the board (-before +after):\n%s", diff)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestDeleteLeadClosesGap(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	mustCreate(t, st, "A", "Interest")
	b := mustCreate(t, st, "B", "Interest")
	mustCreate(t, st, "C", "Interest")
	if _, err := st.DeleteLead(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"Interest": {"A", "C"}}, columns(t, pool)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if _, err := st.DeleteLead(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
}

func TestListBoard(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	for i := range 5 {
		v := store.Money((i + 1) * 100_00)
		name := fmt.Sprintf("Lead %d", i)
		notes := ""
		if i == 3 {
			notes = "likes 100% cotton"
		}
		if _, err := st.CreateLead(ctx, store.LeadInput{Name: &name, Value: &v, Notes: &notes}); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, st, "Zed", "Closed lost")

	board, err := st.ListBoard(ctx, store.BoardQuery{WithTotals: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range board.Columns {
		names = append(names, c.Stage.Name)
	}
	if diff := cmp.Diff([]string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}, names); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	in := board.Columns[0]
	if len(in.Leads) != 5 || in.Count != 5 || in.Total != 1500_00 || in.HasMore {
		t.Errorf("Interest: got %d leads, count %d, total %v, more %v; want 5, 5, 1500.00, false", len(in.Leads), in.Count, in.Total, in.HasMore)
	}

	page, err := st.ListBoard(ctx, store.BoardQuery{Status: "Interest", Limit: 2, WithTotals: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Columns) != 1 || len(page.Columns[0].Leads) != 2 || !page.Columns[0].HasMore || page.Columns[0].Count != 5 {
		t.Fatalf("first page: got %+v, want one column, 2 leads, more, count 5", page.Columns)
	}
	var all []string
	var after *int64
	for {
		p, err := st.ListBoard(ctx, store.BoardQuery{Status: "Interest", Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.Columns[0].Leads {
			all = append(all, l.Name)
		}
		if !p.Columns[0].HasMore {
			break
		}
		next := p.Columns[0].NextAfter()
		after = &next
	}
	if diff := cmp.Diff([]string{"Lead 0", "Lead 1", "Lead 2", "Lead 3", "Lead 4"}, all); diff != "" {
		t.Errorf("paged names (-want +got):\n%s", diff)
	}

	// Search matches literally: % is not a wildcard.
	found, err := st.ListBoard(ctx, store.BoardQuery{Search: "100%", WithTotals: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Columns[0].Leads) != 1 || found.Columns[0].Leads[0].Name != "Lead 3" || found.Columns[0].Count != 1 || found.Columns[5].Count != 0 {
		t.Errorf("search 100%%: got %+v, want only Lead 3 counted", found.Columns[0].Leads)
	}
	if _, err := st.ListBoard(ctx, store.BoardQuery{Status: "Nope"}); err == nil {
		t.Error("unknown status: got nil error, want ValidationError")
	}
}

// TestConcurrentMoves runs 16 goroutines making 200 random moves each over 6
// columns of 30 leads, with creates and deletes mixed in, then checks that every
// column is a permutation of 0..n-1 in the order of its sort keys, that no two
// leads share a key, and that no lead was lost or duplicated.
func TestConcurrentMoves(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	stages, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	live := map[uuid.UUID]bool{}
	for _, s := range stages {
		for i := range 30 {
			l := mustCreate(t, st, fmt.Sprintf("%s %d", s.Name, i), s.Name)
			live[l.ID] = true
		}
	}
	snapshot := func() []uuid.UUID {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]uuid.UUID, 0, len(live))
		for id := range live {
			ids = append(ids, id)
		}
		return ids
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for i := range 200 {
				ids := snapshot()
				id := ids[rng.IntN(len(ids))]
				switch r := rng.IntN(20); {
				case r == 0:
					l, err := st.CreateLead(ctx, store.LeadInput{Name: ptr(fmt.Sprintf("new %d-%d", g, i)), Status: ptr(stages[rng.IntN(len(stages))].Name)})
					if err != nil {
						errs <- fmt.Errorf("create: %w", err)
						return
					}
					mu.Lock()
					live[l.ID] = true
					mu.Unlock()
				case r == 1:
					_, err := st.DeleteLead(ctx, id)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("delete: %w", err)
						return
					}
					mu.Lock()
					delete(live, id)
					mu.Unlock()
				default:
					_, err := st.MoveLead(ctx, id, stages[rng.IntN(len(stages))].Name, rng.IntN(40))
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("move: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cols := columns(t, pool) // fails unless keys are unique and the board follows them
	var got []uuid.UUID
	rows, err := pool.Query(ctx, `SELECT id FROM leads`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	rows.Close()
	want := snapshot()
	sortIDs := func(s []uuid.UUID) { sort.Slice(s, func(i, j int) bool { return s[i].String() < s[j].String() }) }
	sortIDs(got)
	sortIDs(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("leads lost or duplicated (-want +got):\n%s", diff)
	}
	total := 0
	for _, c := range cols {
		total += len(c)
	}
	if total != len(want) {
		t.Errorf("got %d leads across columns, want %d", total, len(want))
	}
}

// TestMovesFollowModel makes random moves one after another and checks each
// against a list model of the board: the position returned and both columns'
// order. Moving cards again and again to the same place between two neighbours
// uses up the room between their sort keys, which makes the store renumber the
// column; the order must not notice.
func TestMovesFollowModel(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	stages := []string{"Interest", "Meeting booked"}
	model := map[string][]string{}
	ids := map[string]uuid.UUID{}
	for i := range 12 {
		name := fmt.Sprintf("L%02d", i)
		stage := stages[i%2]
		ids[name] = mustCreate(t, st, name, stage).ID
		model[stage] = append(model[stage], name)
	}
	move := func(name, stage string, pos int) {
		t.Helper()
		for s, names := range model {
			if i := indexOf(names, name); i >= 0 {
				model[s] = append(names[:i:i], names[i+1:]...)
			}
		}
		want := max(0, min(pos, len(model[stage])))
		model[stage] = append(model[stage][:want:want], append([]string{name}, model[stage][want:]...)...)
		l, err := st.MoveLead(ctx, ids[name], stage, pos)
		if err != nil {
			t.Fatalf("move %s to %s %d: %v", name, stage, pos, err)
		}
		if l.Status != stage || l.CardOrder != want {
			t.Fatalf("move %s to %s %d: got %s %d, want %s %d", name, stage, pos, l.Status, l.CardOrder, stage, want)
		}
	}
	check := func(step string) {
		t.Helper()
		if diff := cmp.Diff(model, columns(t, pool)); diff != "" {
			t.Fatalf("after %s (-model +store):\n%s", step, diff)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	sort.Strings(names)
	for i := range 200 {
		move(names[rng.IntN(len(names))], stages[rng.IntN(2)], rng.IntN(10)-2)
		check(fmt.Sprintf("random move %d", i))
	}
	// Between the first two cards of Interest, 60 times: the room between two
	// keys lasts about 20 halvings.
	var renumbered bool
	for i := range 60 {
		col := model["Interest"]
		before := keyOf(t, pool, ids[col[0]])
		move(col[len(col)-1], "Interest", 1)
		check(fmt.Sprintf("squeeze %d", i))
		if keyOf(t, pool, ids[col[0]]) != before {
			renumbered = true
		}
	}
	if !renumbered {
		t.Error("60 moves between the same two cards never renumbered the column; the test does not test renumbering")
	}
	// To the front, again and again, and past the end.
	for i := range 30 {
		col := model["Meeting booked"]
		move(col[len(col)-1], "Meeting booked", 0)
		move(col[1], "Meeting booked", 1000)
		check(fmt.Sprintf("front and back %d", i))
	}
}

func keyOf(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) int64 {
	t.Helper()
	var key int64
	if err := pool.QueryRow(context.Background(), `SELECT card_order FROM leads WHERE id = $1`, id).Scan(&key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestMoveWaitsForConcurrentMoveOfSameLead holds a move of lead X to Meeting
// booked open in one transaction while another move takes X back to Interest:
// the second must wait for the first and then move X out of Meeting booked (two
// move events), not write X back over the first move as if it had never left.
func TestMoveWaitsForConcurrentMoveOfSameLead(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	x := mustCreate(t, st, "X", "Interest")
	mustCreate(t, st, "Y", "Meeting booked")

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT * FROM move_lead($1, 'Meeting booked', 0, 1048576, 'system', NULL, 'first mover')`, x.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var moved store.Lead
	go func() {
		var err error
		moved, err = st.MoveLead(ctx, x.ID, "Interest", 0)
		done <- err
	}()
	// Wait until the second move waits for a lock held by the first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second move never waited for the first")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("second move: %v", err)
	}
	if moved.Status != "Interest" || moved.CardOrder != 0 {
		t.Errorf("second move: got %s %d, want Interest 0", moved.Status, moved.CardOrder)
	}
	if diff := cmp.Diff(map[string][]string{"Interest": {"X"}, "Meeting booked": {"Y"}}, columns(t, pool)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	h, err := st.LeadHistory(ctx, x.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Action == store.EventMove {
			moves = append(moves, h[i].Changes[0].Old+" -> "+h[i].Changes[0].New)
		}
	}
	if diff := cmp.Diff([]string{"Interest -> Meeting booked", "Meeting booked -> Interest"}, moves); diff != "" {
		t.Errorf("move events, oldest first (-want +got):\n%s", diff)
	}
}

// TestKeysAtTheEndsOfTheirRange puts a column's sort keys at the top, then at
// the bottom, of the range they may use: adding a card after the last, and
// moving one before the first, must renumber the column and keep its order.
func TestKeysAtTheEndsOfTheirRange(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	for _, n := range []string{"A", "B", "C"} {
		mustCreate(t, st, n, "Interest")
	}
	const limit = int64(1) << 62
	setKeys := func(base int64) {
		t.Helper()
		if _, err := pool.Exec(ctx, `UPDATE leads SET card_order = $1 + card_order / 1048576 * 1048576 * 2 WHERE status = 'Interest'`, base); err != nil {
			t.Fatal(err)
		}
	}
	keyRange := func() (lo, hi int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT min(card_order), max(card_order) FROM leads WHERE status = 'Interest'`).Scan(&lo, &hi); err != nil {
			t.Fatal(err)
		}
		return lo, hi
	}
	setKeys(limit - 1) // the last key is past the limit
	d := mustCreate(t, st, "D", "Interest")
	if d.CardOrder != 3 {
		t.Errorf("D: got card_order %d, want 3", d.CardOrder)
	}
	if diff := cmp.Diff(map[string][]string{"Interest": {"A", "B", "C", "D"}}, columns(t, pool)); diff != "" {
		t.Fatalf("after adding at the top (-want +got):\n%s", diff)
	}
	if _, hi := keyRange(); hi >= limit {
		t.Errorf("after adding at the top: last key %d, want the column renumbered below 2^62", hi)
	}
	lo, _ := keyRange()
	if _, err := pool.Exec(ctx, `UPDATE leads SET card_order = card_order - $1 WHERE status = 'Interest'`, lo+limit); err != nil {
		t.Fatal(err) // the first key is now -2^62: no room before it
	}
	if _, err := st.MoveLead(ctx, d.ID, "Interest", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveLead(ctx, d.ID, "Interest", 99); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveLead(ctx, d.ID, "Interest", 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"Interest": {"D", "A", "B", "C"}}, columns(t, pool)); diff != "" {
		t.Fatalf("after moves at the bottom (-want +got):\n%s", diff)
	}
	if lo, hi := keyRange(); lo <= -limit || hi >= limit {
		t.Errorf("keys %d..%d, want the column renumbered within ±2^62", lo, hi)
	}
}
