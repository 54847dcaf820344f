package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestBoardFilters checks each board filter, and filters combined with a
// search, against the database: the leads shown, and the counts and totals
// describing exactly the matches.
func TestBoardFilters(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	ann, err := st.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", Password: "correct horse battery", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	type seed struct {
		name, status, source string
		value                store.Money
		ann                  bool
		created, touched     string
		inStageDays          int
	}
	seeds := []seed{
		{"Alpha", "Interest", "Web", 100_00, true, "2026-01-05", "2026-11-01", 1},
		{"Bravo", "Interest", "Referral", 5_000_00, false, "2026-02-10", "2026-11-20", 30}, // stale: Interest rots after 14 days
		{"Charlie", "Negotiation", "web", 20_000_00, true, "2026-03-15", "2026-12-01", 40}, // stale: 21 days
		{"Delta", "Negotiation", "Event", 700_00, false, "2026-03-16", "2026-12-02", 3},
		{"Echo", "Closed won", "Web", 9_000_00, true, "2026-04-01", "2026-12-03", 400}, // won never rots
	}
	for _, s := range seeds {
		l := mustCreate(t, st, s.name, s.status)
		if _, err := st.UpdateLead(ctx, l.ID, store.LeadInput{Source: ptr(s.source), Value: ptr(s.value)}); err != nil {
			t.Fatal(err)
		}
		var owner *uuid.UUID
		if s.ann {
			owner = &ann.ID
		}
		if _, err := pool.Exec(ctx, `UPDATE leads SET owner_id = $2, created_at = $3, updated_at = $4,
			stage_entered_at = now() - make_interval(days => $5) WHERE id = $1`,
			l.ID, owner, s.created, s.touched, s.inStageDays); err != nil {
			t.Fatal(err)
		}
	}
	date := func(s string) *time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	money := func(m store.Money) *store.Money { return &m }

	for _, tc := range []struct {
		name   string
		search string
		f      store.BoardFilter
		want   []string
	}{
		{"owner", "", store.BoardFilter{Owner: &ann.ID}, []string{"Alpha", "Charlie", "Echo"}},
		{"source in any case", "", store.BoardFilter{Source: "WEB"}, []string{"Alpha", "Charlie", "Echo"}},
		{"value range inclusive", "", store.BoardFilter{MinValue: money(700_00), MaxValue: money(9_000_00)}, []string{"Bravo", "Delta", "Echo"}},
		{"created range", "", store.BoardFilter{CreatedFrom: date("2026-02-10"), CreatedTo: date("2026-03-16")}, []string{"Bravo", "Charlie"}},
		{"last touched from", "", store.BoardFilter{UpdatedFrom: date("2026-12-02")}, []string{"Delta", "Echo"}},
		{"going stale only", "", store.BoardFilter{StaleOnly: true}, []string{"Bravo", "Charlie"}},
		{"combined with a search", "a", store.BoardFilter{Owner: &ann.ID, Source: "web", StaleOnly: true}, []string{"Charlie"}},
		{"nothing matches", "", store.BoardFilter{Source: "Fax"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{0, 1} {
				board, err := st.ListBoard(ctx, store.BoardQuery{Search: tc.search, Filter: tc.f, Limit: limit, WithTotals: true})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				count := 0
				var total store.Money
				for _, c := range board.Columns {
					for _, l := range c.Leads {
						got = append(got, l.Name)
						// Positions are in the whole column, as moves count them.
						full, err := st.GetLead(ctx, l.ID)
						if err != nil {
							t.Fatal(err)
						}
						if full.CardOrder != l.CardOrder {
							t.Errorf("%s at position %d, want its column position %d", l.Name, l.CardOrder, full.CardOrder)
						}
					}
					count += c.Count
					total += c.Total
				}
				var wantTotal store.Money
				for _, s := range seeds {
					if slices.Contains(tc.want, s.name) {
						wantTotal += s.value
					}
				}
				if limit == 0 {
					slices.Sort(got)
					if !slices.Equal(got, tc.want) {
						t.Errorf("leads: got %v, want %v", got, tc.want)
					}
				}
				if count != len(tc.want) || total != wantTotal {
					t.Errorf("limit %d: counts %d and totals %v, want %d and %v", limit, count, total, len(tc.want), wantTotal)
				}
			}
		})
	}

	bad := []store.BoardFilter{
		{MinValue: money(5), MaxValue: money(4)},
		{CreatedFrom: date("2026-02-02"), CreatedTo: date("2026-02-01")},
		{MinValue: money(-1)},
	}
	for _, f := range bad {
		if _, err := st.ListBoard(ctx, store.BoardQuery{Filter: f}); err == nil {
			t.Errorf("filter %+v: got no error, want a validation error", f)
		}
	}
}

// TestBoardFilterAgainstBruteForce compares the filtered board's queries with
// the answer computed here from the whole unfiltered board, on a few hundred
// leads with mixed owners, sources, values and dates: every page of every
// column (the leads, their positions in the whole column, whether more
// follow), one column alone, the counts and totals, and the export of the same
// filter.
func TestBoardFilterAgainstBruteForce(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	ann, err := st.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", Password: "correct horse battery", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	stages, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sources := []string{"Web", "Referral", "event", ""}
	for i := range 240 {
		// Stages by i % 7, so columns differ in length, and matches of some
		// filters sit deep in a column only.
		l := mustCreate(t, st, fmt.Sprintf("Lead %d", i), stages[i%7%len(stages)].Name)
		var owner *uuid.UUID
		if i%3 == 0 {
			owner = &ann.ID
		}
		if _, err := pool.Exec(ctx, `UPDATE leads SET owner_id = $2, source = $3, value = $4,
			created_at = now() - make_interval(days => $5), updated_at = now() - make_interval(days => $6),
			stage_entered_at = now() - make_interval(days => $7), notes = $8 WHERE id = $1`,
			l.ID, owner, sources[i%4], (i*37)%500, i%90, i%40, i%30, fmt.Sprintf("note %d", i*7)); err != nil {
			t.Fatal(err)
		}
	}
	full, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]store.Lead{}
	for _, c := range full.Columns {
		for _, l := range c.Leads {
			byID[l.ID] = l
		}
	}
	// Half a day off the seeded days, so no lead sits on the boundary.
	cut := time.Now().AddDate(0, 0, -60).Add(-12 * time.Hour)
	money := func(m store.Money) *store.Money { return &m }
	for _, tc := range []struct {
		name   string
		search string
		f      store.BoardFilter
		match  func(store.Lead) bool
	}{
		{"owner", "", store.BoardFilter{Owner: &ann.ID}, func(l store.Lead) bool { return l.Owner != nil && l.Owner.ID == ann.ID }},
		{"source", "", store.BoardFilter{Source: "EVENT"}, func(l store.Lead) bool { return l.Source == "event" }},
		{"value and created", "", store.BoardFilter{MinValue: money(100_00), MaxValue: money(300_00), CreatedFrom: &cut},
			func(l store.Lead) bool {
				return l.Value >= 100_00 && l.Value <= 300_00 && !l.CreatedAt.Before(cut)
			}},
		{"stale", "", store.BoardFilter{StaleOnly: true}, func(l store.Lead) bool {
			st := stageOf(stages, l.Status)
			return st.RotDays != nil && l.StageEnteredAt.Before(time.Now().AddDate(0, 0, -*st.RotDays))
		}},
		{"search and owner", "note 1", store.BoardFilter{Owner: &ann.ID}, func(l store.Lead) bool {
			return strings.Contains(l.Notes, "note 1") && l.Owner != nil && l.Owner.ID == ann.ID
		}},
		{"rare: one source deep in columns", "", store.BoardFilter{Source: "Referral", MinValue: money(450_00)},
			func(l store.Lead) bool { return l.Source == "Referral" && l.Value >= 450_00 }},
		{"nothing", "", store.BoardFilter{Source: "Fax"}, func(store.Lead) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wantAll []uuid.UUID
			for _, c := range full.Columns {
				var want []store.Lead
				var total store.Money
				for _, l := range c.Leads {
					if tc.match(l) {
						want = append(want, l)
						total += l.Value
						wantAll = append(wantAll, l.ID)
					}
				}
				// Page through the column, 4 leads at a time.
				var got []store.Lead
				var after *int64
				for page := 0; ; page++ {
					b, err := st.ListBoard(ctx, store.BoardQuery{Search: tc.search, Filter: tc.f, Status: c.Stage.Name, Limit: 4, After: after, WithTotals: after == nil})
					if err != nil {
						t.Fatal(err)
					}
					col := b.Columns[0]
					if after == nil && (col.Count != len(want) || col.Total != total) {
						t.Errorf("%s: count %d total %v, want %d and %v", c.Stage.Name, col.Count, col.Total, len(want), total)
					}
					got = append(got, col.Leads...)
					if !col.HasMore {
						break
					}
					next := col.NextAfter()
					after = &next
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d leads, want %d", c.Stage.Name, len(got), len(want))
				}
				for i := range got {
					if got[i].ID != want[i].ID || got[i].CardOrder != want[i].CardOrder {
						t.Errorf("%s #%d: %s at %d, want %s at %d", c.Stage.Name, i, got[i].Name, got[i].CardOrder, want[i].Name, want[i].CardOrder)
					}
				}
			}
			// The whole board at once, with its totals.
			b, err := st.ListBoard(ctx, store.BoardQuery{Search: tc.search, Filter: tc.f, Limit: 1000, WithTotals: true})
			if err != nil {
				t.Fatal(err)
			}
			var gotAll []uuid.UUID
			for _, c := range b.Columns {
				n := 0
				for _, l := range c.Leads {
					gotAll = append(gotAll, l.ID)
					if byID[l.ID].CardOrder != l.CardOrder {
						t.Errorf("%s at %d, want %d", l.Name, l.CardOrder, byID[l.ID].CardOrder)
					}
					n++
				}
				if c.Count != n {
					t.Errorf("%s: count %d, %d leads shown", c.Stage.Name, c.Count, n)
				}
			}
			if !slices.Equal(gotAll, wantAll) {
				t.Errorf("board: %d leads, want %d", len(gotAll), len(wantAll))
			}
			var exported []uuid.UUID
			if err := st.ExportLeads(ctx, store.ExportQuery{Search: tc.search, Filter: tc.f}, func(l store.Lead) error {
				exported = append(exported, l.ID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(exported, wantAll) {
				t.Errorf("export: %d leads, want %d", len(exported), len(wantAll))
			}
		})
	}
}

func stageOf(stages []store.Stage, name string) store.Stage {
	for _, s := range stages {
		if s.Name == name {
			return s
		}
	}
	return store.Stage{}
}
