package store_test

import (
	"context"
	"slices"
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
