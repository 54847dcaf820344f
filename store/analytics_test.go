package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

func f(v float64) *float64 { return &v }

// stageIDs reads the ids of the stages by their names now.
func stageIDs(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	a, err := st.Analytics(context.Background(), store.AnalyticsQuery{From: storetest.AnalyticsFrom, To: storetest.AnalyticsTo})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, s := range a.Funnel {
		ids[s.Name] = s.ID
	}
	return ids
}

// TestAnalyticsFixture checks every number against the fixture of
// storetest.AnalyticsFixture, worked out by hand (times are 09:00 UTC):
//
//	lead  owner  value    now          closed      stage changes
//	L1    ann    1000     Closed won   2026-03-01  create Interest 01-05, Meeting 01-15, Proposal sent 02-04, (rename), Closed won 03-01
//	L2    ann    2000     Proposal     (reopened)  create Interest 01-10, Proposal sent 01-20, Closed lost 02-09 (Price), (rename), Proposal 03-11
//	L3    bob    500      Closed lost  2026-02-03  created 2025-12-01 without event; Meeting 01-04, Closed lost 02-03 (no reason)
//	L4    bob    3000     Negotiation              create Negotiation 02-01
//	L5    nobody 400      Closed won   2026-04-10  create Interest 02-15, Closed won 04-10 (after the period)
//	L6    ann    700      Closed won   2025-12-15  everything before the period
//	L7    bob    800      Closed lost  2026-03-20  create Interest 01-02, Closed lost 03-20 (Price)
//	L8    bob    1234.56  Interest                 create Interest 03-25
func TestAnalyticsFixture(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	storetest.AnalyticsFixture(t, pool, ann.ID, bob.ID)
	ctx := context.Background()
	id := stageIDs(t, st)
	ref := func(name string) store.StageRef { return store.StageRef{ID: id[name], Name: name} }
	annO := store.AnalyticsOwner{ID: ann.ID, Name: "ann", Email: "ann@example.com"}
	bobO := store.AnalyticsOwner{ID: bob.ID, Name: "bob", Email: "bob@example.com"}
	ignore := cmpopts.IgnoreFields(store.Analytics{}, "Users", "Version")

	got, err := st.Analytics(ctx, store.AnalyticsQuery{From: storetest.AnalyticsFrom, To: storetest.AnalyticsTo})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Analytics{
		From: "2026-01-01", To: "2026-03-31",
		// Open now: L8 in Interest, L2 in Proposal (renamed, reopened), L4 in
		// Negotiation. Forecast: 1234.56 x 10% = 123.456 -> 123.46; 2000 x 50%;
		// 3000 x 75%.
		Pipeline: []store.PipelineStage{
			{StageRef: ref("Interest"), Probability: 10, Leads: 1, Value: 1234_56, Forecast: 123_46},
			{StageRef: ref("Meeting booked"), Probability: 25},
			{StageRef: ref("Proposal"), Probability: 50, Leads: 1, Value: 2000_00, Forecast: 1000_00},
			{StageRef: ref("Negotiation"), Probability: 75, Leads: 1, Value: 3000_00, Forecast: 2250_00},
		},
		PipelineValue: 6234_56, Forecast: 3373_46,
		// Closed in the period: L1 won; L3 and L7 lost. L2 was lost but is
		// open again; L5 closed after the period, L6 before it.
		WinRate:     store.WinRate{Won: 1, WonValue: 1000_00, Lost: 2, LostValue: 1300_00, Rate: f(1.0 / 3)},
		LostReasons: []store.LostReasonTotal{{Reason: "", Leads: 1, Value: 500_00}, {Reason: "Price", Leads: 1, Value: 800_00}},
		// Furthest step entered in the period: L1 won (5), L4 Negotiation (4),
		// L2 Proposal (3, before and after the rename), L3 Meeting booked (2;
		// lost is no step), L5, L7 and L8 Interest (1); L6 none.
		Funnel: []store.FunnelStep{
			{StageRef: ref("Interest"), Reached: 7, ToNext: f(4.0 / 7)},
			{StageRef: ref("Meeting booked"), Reached: 4, ToNext: f(3.0 / 4)},
			{StageRef: ref("Proposal"), Reached: 3, ToNext: f(2.0 / 3)},
			{StageRef: ref("Negotiation"), Reached: 2, ToNext: f(1.0 / 2)},
			{StageRef: ref("Closed won"), Reached: 1},
		},
		// Stays that ended in the period: Interest L1 10 d, L2 10 d, L3 34 d
		// (since its creation on 2025-12-01), L7 77 d; Meeting booked L1 20 d,
		// L3 30 d; Proposal L1 25 d (entered as "Proposal sent", left as
		// "Proposal"), L2 20 d. L2's 30 days in Closed lost are no open stage;
		// L5's stay in Interest ends after the period.
		StageDays: []store.StageDays{
			{StageRef: ref("Interest"), Intervals: 4, AvgDays: f(131.0 / 4)},
			{StageRef: ref("Meeting booked"), Intervals: 2, AvgDays: f(25)},
			{StageRef: ref("Proposal"), Intervals: 2, AvgDays: f(22.5)},
			{StageRef: ref("Negotiation")},
		},
		WonByMonth: []store.MonthTotal{{Month: "2026-01"}, {Month: "2026-02"}, {Month: "2026-03", Leads: 1, Value: 1000_00}},
		Owners: []store.OwnerTotals{
			{Owner: annO, OpenLeads: 1, Pipeline: 2000_00, Forecast: 1000_00, WinRate: store.WinRate{Won: 1, WonValue: 1000_00, Rate: f(1)}},
			{Owner: bobO, OpenLeads: 2, Pipeline: 4234_56, Forecast: 2373_46, WinRate: store.WinRate{Lost: 2, LostValue: 1300_00, Rate: f(0)}},
			{Owner: store.AnalyticsOwner{Name: "Nobody"}},
		},
	}
	approx := cmpopts.EquateApprox(0, 1e-9)
	if d := cmp.Diff(want, got, ignore, approx); d != "" {
		t.Errorf("analytics of the first quarter (-want +got):\n%s", d)
	}
	if len(got.Users) != 2 {
		t.Errorf("users to filter by: got %d, want 2", len(got.Users))
	}

	// Bob's leads only, named by email (any case) or by id.
	for _, owner := range []string{"BOB@example.com", bob.ID.String()} {
		got, err := st.Analytics(ctx, store.AnalyticsQuery{From: storetest.AnalyticsFrom, To: storetest.AnalyticsTo, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Analytics{
			From: "2026-01-01", To: "2026-03-31", Owner: &bobO,
			Pipeline: []store.PipelineStage{
				{StageRef: ref("Interest"), Probability: 10, Leads: 1, Value: 1234_56, Forecast: 123_46},
				{StageRef: ref("Meeting booked"), Probability: 25},
				{StageRef: ref("Proposal"), Probability: 50},
				{StageRef: ref("Negotiation"), Probability: 75, Leads: 1, Value: 3000_00, Forecast: 2250_00},
			},
			PipelineValue: 4234_56, Forecast: 2373_46,
			WinRate:     store.WinRate{Lost: 2, LostValue: 1300_00, Rate: f(0)},
			LostReasons: []store.LostReasonTotal{{Reason: "", Leads: 1, Value: 500_00}, {Reason: "Price", Leads: 1, Value: 800_00}},
			// L3 Meeting booked, L4 Negotiation, L7 and L8 Interest.
			Funnel: []store.FunnelStep{
				{StageRef: ref("Interest"), Reached: 4, ToNext: f(2.0 / 4)},
				{StageRef: ref("Meeting booked"), Reached: 2, ToNext: f(1.0 / 2)},
				{StageRef: ref("Proposal"), Reached: 1, ToNext: f(1)},
				{StageRef: ref("Negotiation"), Reached: 1, ToNext: f(0)},
				{StageRef: ref("Closed won"), Reached: 0},
			},
			StageDays: []store.StageDays{
				{StageRef: ref("Interest"), Intervals: 2, AvgDays: f((34.0 + 77) / 2)},
				{StageRef: ref("Meeting booked"), Intervals: 1, AvgDays: f(30)},
				{StageRef: ref("Proposal")},
				{StageRef: ref("Negotiation")},
			},
			WonByMonth: []store.MonthTotal{{Month: "2026-01"}, {Month: "2026-02"}, {Month: "2026-03"}},
			Owners: []store.OwnerTotals{
				{Owner: bobO, OpenLeads: 2, Pipeline: 4234_56, Forecast: 2373_46, WinRate: store.WinRate{Lost: 2, LostValue: 1300_00, Rate: f(0)}},
			},
		}
		if d := cmp.Diff(want, got, ignore, approx); d != "" {
			t.Errorf("analytics of %s (-want +got):\n%s", owner, d)
		}
	}

	// A period of its own: April, when L5 was won (its stay of 54 days in
	// Interest ended) and nothing else happened.
	apr, err := st.Analytics(ctx, store.AnalyticsQuery{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if w := (store.WinRate{Won: 1, WonValue: 400_00, Rate: f(1)}); !cmp.Equal(apr.WinRate, w) {
		t.Errorf("April's win rate: got %+v, want %+v", apr.WinRate, w)
	}
	if d := apr.StageDays[0]; d.Intervals != 1 || d.AvgDays == nil || *d.AvgDays != 54 {
		t.Errorf("April's days in Interest: got %+v, want 1 stay of 54 days", d)
	}
	if !cmp.Equal(apr.WonByMonth, []store.MonthTotal{{Month: "2026-04", Leads: 1, Value: 400_00}}) {
		t.Errorf("April's won by month: got %+v", apr.WonByMonth)
	}
}

func TestAnalyticsBadQuery(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		q     store.AnalyticsQuery
		field string
	}{
		{"from after to", store.AnalyticsQuery{From: day(3, 2), To: day(3, 1)}, "from"},
		{"longer than a year", store.AnalyticsQuery{From: day(1, 1), To: day(1, 1).AddDate(0, 0, store.MaxAnalyticsDays)}, "to"},
		{"unknown owner email", store.AnalyticsQuery{From: day(1, 1), To: day(3, 1), Owner: "nobody@example.com"}, "owner"},
		{"unknown owner id", store.AnalyticsQuery{From: day(1, 1), To: day(3, 1), Owner: uuid.NewString()}, "owner"},
	} {
		_, err := st.Analytics(ctx, tc.q)
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
			t.Errorf("%s: got %v, want a validation error on %q", tc.name, err, tc.field)
		}
	}
	// The longest period allowed, and one day: fine, and empty.
	for _, q := range []store.AnalyticsQuery{
		{From: day(1, 1), To: day(1, 1).AddDate(0, 0, store.MaxAnalyticsDays-1)},
		{From: day(1, 1), To: day(1, 1)},
	} {
		a, err := st.Analytics(ctx, q)
		if err != nil {
			t.Fatalf("%v to %v: %v", q.From, q.To, err)
		}
		if a.WinRate.Rate != nil || len(a.Owners) != 0 || a.Funnel[0].Reached != 0 {
			t.Errorf("%v to %v, no leads: got %+v, want nothing", q.From, q.To, a)
		}
	}
}

// TestAnalyticsFromRealWrites writes through the store as the app does
// (create, move, update with a stage change, delete), so the stage changes
// come from the trigger on the audit trail, not from a fixture.
func TestAnalyticsFromRealWrites(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	value := store.Money(500_00)
	won, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Won"), Status: ptr("Interest"), Value: &value})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveLead(ctx, won.ID, "Proposal sent", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateLead(ctx, won.ID, store.LeadInput{Status: ptr("Closed won")}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, "Open", "Meeting booked")
	gone := mustCreate(t, st, "Gone", "Negotiation")
	if _, err := st.DeleteLead(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC()
	a, err := st.Analytics(ctx, store.AnalyticsQuery{From: today, To: today})
	if err != nil {
		t.Fatal(err)
	}
	reached := map[string]int{}
	for _, s := range a.Funnel {
		reached[s.Name] = s.Reached
	}
	// Won reached every step up to Closed won; Open reached Meeting booked;
	// Gone is in the trash.
	want := map[string]int{"Interest": 2, "Meeting booked": 2, "Proposal sent": 1, "Negotiation": 1, "Closed won": 1}
	if !cmp.Equal(reached, want) {
		t.Errorf("funnel today: got %v, want %v", reached, want)
	}
	if w := a.WinRate; w.Won != 1 || w.WonValue != 500_00 || w.Lost != 0 {
		t.Errorf("win rate today: got %+v, want 1 won of $500 (closed_at set by the move)", w)
	}
	if a.StageDays[0].Intervals != 1 || a.StageDays[2].Intervals != 1 {
		t.Errorf("stays ended today: got %+v, want one in Interest and one in Proposal sent", a.StageDays)
	}
	if a.Pipeline[1].Leads != 1 || a.Pipeline[1].Name != "Meeting booked" {
		t.Errorf("pipeline: got %+v, want Open in Meeting booked", a.Pipeline)
	}
}
