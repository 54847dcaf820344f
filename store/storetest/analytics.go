package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AnalyticsFrom and AnalyticsTo are the period AnalyticsFixture's numbers are
// worked out for: the first quarter of 2026, both days included.
var (
	AnalyticsFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	AnalyticsTo   = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
)

// fixtureMove is one stage change of a fixture lead: into stage at day (at
// 09:00 UTC); the first of a lead is its create (from "").
type fixtureMove struct {
	day  string
	from string
	to   string
}

type fixtureLead struct {
	name   string
	owner  string // "ann", "bob" or "" (nobody)
	value  string
	status string // its stage now (after the rename)
	closed string // closed_at's day, "" while open
	reason string
	// created is the lead's created_at day. A lead whose first move is not a
	// create has no create event (a lead from before the audit trail).
	created string
	// before are the moves before "Proposal sent" is renamed "Proposal",
	// after the moves after it.
	before, after []fixtureMove
}

// analyticsLeads is the fixture; store/analytics_test.go works out every
// number of the period from it by hand.
var analyticsLeads = []fixtureLead{
	{name: "L1 won", owner: "ann", value: "1000", status: "Closed won", closed: "2026-03-01", created: "2026-01-05",
		before: []fixtureMove{{"2026-01-05", "", "Interest"}, {"2026-01-15", "Interest", "Meeting booked"}, {"2026-02-04", "Meeting booked", "Proposal sent"}},
		after:  []fixtureMove{{"2026-03-01", "Proposal", "Closed won"}}},
	{name: "L2 reopened", owner: "ann", value: "2000", status: "Proposal", reason: "Price", created: "2026-01-10",
		before: []fixtureMove{{"2026-01-10", "", "Interest"}, {"2026-01-20", "Interest", "Proposal sent"}, {"2026-02-09", "Proposal sent", "Closed lost"}},
		after:  []fixtureMove{{"2026-03-11", "Closed lost", "Proposal"}}},
	{name: "L3 lost", owner: "bob", value: "500", status: "Closed lost", closed: "2026-02-03", created: "2025-12-01",
		before: []fixtureMove{{"2026-01-04", "Interest", "Meeting booked"}, {"2026-02-03", "Meeting booked", "Closed lost"}}},
	{name: "L4 negotiating", owner: "bob", value: "3000", status: "Negotiation", created: "2026-02-01",
		before: []fixtureMove{{"2026-02-01", "", "Negotiation"}}},
	{name: "L5 won later", value: "400", status: "Closed won", closed: "2026-04-10", created: "2026-02-15",
		before: []fixtureMove{{"2026-02-15", "", "Interest"}},
		after:  []fixtureMove{{"2026-04-10", "Interest", "Closed won"}}},
	{name: "L6 won before", owner: "ann", value: "700", status: "Closed won", closed: "2025-12-15", created: "2025-11-01",
		before: []fixtureMove{{"2025-11-01", "", "Interest"}, {"2025-12-15", "Interest", "Closed won"}}},
	{name: "L7 lost for price", owner: "bob", value: "800", status: "Closed lost", closed: "2026-03-20", reason: "Price", created: "2026-01-02",
		before: []fixtureMove{{"2026-01-02", "", "Interest"}},
		after:  []fixtureMove{{"2026-03-20", "Interest", "Closed lost"}}},
	{name: "L8 new", owner: "bob", value: "1234.56", status: "Interest", created: "2026-03-25",
		after: []fixtureMove{{"2026-03-25", "", "Interest"}}},
}

// AnalyticsFixture writes the leads and audit trail of the analytics tests
// straight into the database of pool: eight leads of ann, bob and nobody,
// with their stage changes at known times, the stage "Proposal sent" renamed
// "Proposal" halfway through, and a lead lost then reopened. Events are
// inserted in time order, as the application writes them.
func AnalyticsFixture(t testing.TB, pool *pgxpool.Pool, ann, bob uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	owners := map[string]*uuid.UUID{"ann": &ann, "bob": &bob, "": nil}
	day := func(s string) *time.Time {
		if s == "" {
			return nil
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatalf("fixture day %q: %v", s, err)
		}
		d = d.Add(9 * time.Hour)
		return &d
	}
	ids := make([]uuid.UUID, len(analyticsLeads))
	for i, l := range analyticsLeads {
		// Stage names as they are before the rename.
		status := l.status
		if status == "Proposal" {
			status = "Proposal sent"
		}
		err := pool.QueryRow(ctx, `
			INSERT INTO leads (name, value, status, card_order, owner_id, closed_at, lost_reason, created_at, updated_at, stage_entered_at)
			VALUES ($1, $2::numeric, $3, $4, $5, $6, $7, $8, $8, $8)
			RETURNING id`, l.name, l.value, status, i*1024, owners[l.owner], day(l.closed), l.reason, day(l.created)).Scan(&ids[i])
		if err != nil {
			t.Fatalf("fixture lead %s: %v", l.name, err)
		}
	}
	insertMoves := func(i int, moves []fixtureMove) {
		for _, m := range moves {
			action := "move"
			changes := []map[string]string{{"field": "status", "old": m.from, "new": m.to}}
			if m.from == "" {
				action = "create"
				changes = []map[string]string{{"field": "name", "old": "", "new": analyticsLeads[i].name}, changes[0]}
			}
			b, err := json.Marshal(changes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `
				INSERT INTO lead_events (lead_id, at, action, changes, actor_kind, actor_name, lead)
				VALUES ($1, $2, $3, $4, 'system', 'fixture', '{}')`, ids[i], day(m.day), action, b); err != nil {
				t.Fatalf("fixture event of %s: %v", analyticsLeads[i].name, err)
			}
		}
	}
	for i, l := range analyticsLeads {
		insertMoves(i, l.before)
	}
	if _, err := pool.Exec(ctx, `UPDATE stages SET name = 'Proposal' WHERE name = 'Proposal sent'`); err != nil {
		t.Fatalf("rename Proposal sent: %v", err)
	}
	for i, l := range analyticsLeads {
		insertMoves(i, l.after)
	}
}
