package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// originalSchema is the original backend's leads table, with the columns of
// its documentation (ORIGINAL-BACKEND.md, "Database Schema"): nothing is NOT
// NULL but the id, as a Supabase table made in its editor is.
const originalSchema = `CREATE TABLE leads (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       varchar(255),
    company    varchar(255),
    email      varchar(255),
    phone      varchar(50),
    value      numeric,
    notes      text,
    status     varchar(50),
    source     varchar(100),
    card_order integer,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
)`

// legacyLead is a row of the original table.
type legacyLead struct {
	id, name, email, value, notes, status, source *string
	cardOrder                                     *int
	created, updated                              time.Time
}

// Legacy ids: fixed, so the tests can name them.
func lid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

var legacyT0 = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

func at(days int) time.Time { return legacyT0.Add(time.Duration(days) * 24 * time.Hour) }

// oddOriginalLeads are the rows of an original table as real ones are:
// duplicate card orders, statuses outside the stages in every spelling,
// NULL names and values, a negative value, an odd email, long notes, no
// status, no card order.
func oddOriginalLeads() []legacyLead {
	long := strings.Repeat("Called twice; wants the enterprise plan.\n", 240) // 9,840 characters
	return []legacyLead{
		{id: ptr(lid(1)), name: ptr("Ann First"), value: ptr("1000"), status: ptr("Interest"), cardOrder: ptr(0), created: at(0), updated: at(1)},
		{id: ptr(lid(2)), name: ptr("Bob Late"), value: ptr("2000.5"), status: ptr("Interest"), cardOrder: ptr(1), created: at(5), updated: at(6)},
		{id: ptr(lid(3)), name: ptr("Cid Early"), status: ptr("interest"), cardOrder: ptr(1), created: at(2), updated: at(3)},
		{id: ptr(lid(4)), name: ptr("Dee Unordered"), status: ptr("Interest"), created: at(1), updated: at(1)},
		{id: ptr(lid(5)), name: ptr("Eve No Status"), cardOrder: ptr(5), created: at(1), updated: at(2)},
		{id: ptr(lid(6)), name: ptr("Fay Won"), value: ptr("5000"), status: ptr("Closed win"), cardOrder: ptr(0), created: at(1), updated: at(20)},
		{id: ptr(lid(7)), name: ptr("Gus Won"), status: ptr("closed WON "), cardOrder: ptr(0), created: at(3), updated: at(21)},
		{id: ptr(lid(8)), name: ptr("Hal Won"), status: ptr("Closed won"), cardOrder: ptr(1), created: at(0), updated: at(22)},
		{id: ptr(lid(9)), name: ptr("Ida Qualified"), status: ptr("Qualified"), cardOrder: ptr(0), created: at(1), updated: at(2)},
		{id: ptr(lid(10)), name: ptr("Jo Qualified"), status: ptr("qualified"), cardOrder: ptr(1), created: at(1), updated: at(2)},
		{id: ptr(lid(11)), status: ptr("Meeting booked"), value: ptr("-250.00"), cardOrder: ptr(0), created: at(1), updated: at(2)},
		{id: ptr(lid(12)), name: ptr("  "), email: ptr("not-an-email"), notes: ptr(long), status: ptr("Meeting booked"), cardOrder: ptr(1), created: at(1), updated: at(2)},
		{id: ptr(lid(13)), name: ptr("Kim Rounded"), value: ptr("10.005"), notes: ptr(strings.Repeat("x", 10050)), source: ptr("Website"), status: ptr("Meeting booked"), cardOrder: ptr(2), created: at(1), updated: at(2)},
	}
}

// newOriginalDB makes a private database with the original schema holding
// rows, and returns its URL.
func newOriginalDB(t *testing.T, schema string, rows []legacyLead) string {
	t.Helper()
	ctx := context.Background()
	u := storetest.NewEmptyDB(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, schema); err != nil {
		t.Fatalf("original schema: %v", err)
	}
	for _, r := range rows {
		if _, err := conn.Exec(ctx, `INSERT INTO leads (id, name, email, value, notes, status, source, card_order, created_at, updated_at)
VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10)`,
			r.id, r.name, r.email, r.value, r.notes, r.status, r.source, r.cardOrder, r.created, r.updated); err != nil {
			t.Fatalf("original row %v: %v", *r.id, err)
		}
	}
	return u
}

func countRows(t *testing.T, st interface {
	CountLeads(context.Context) (int, error)
}) int {
	t.Helper()
	n, err := st.CountLeads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportLegacy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newOriginalDB(t, originalSchema, oddOriginalLeads())
	st, pool := storetest.NewStore(t)
	ann, err := st.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann Lee", Password: "correct horse battery", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	existing := mustCreate(t, st, "Already Here", "Interest")
	events := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM lead_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventsBefore := events()

	// The dry run plans and writes nothing.
	plan, err := st.ImportLegacy(ctx, store.LegacyImport{SourceURL: src})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if plan.Applied || plan.Read != 13 || plan.Create != 11 || countRows(t, st) != 1 || events() != eventsBefore {
		t.Fatalf("dry run: got applied %v, read %d, create %d, %d leads and %d events here; want nothing written, 13 read, 11 to create",
			plan.Applied, plan.Read, plan.Create, countRows(t, st), events())
	}
	byName := map[string]store.LegacyStatus{}
	for _, s := range plan.Statuses {
		byName[s.Name] = s
	}
	for name, want := range map[string]struct {
		stage string
		leads int
	}{
		"Interest": {"Interest", 4}, "Closed win": {"Closed won", 1}, "Closed won": {"Closed won", 2}, "Qualified": {"", 2}, "Meeting booked": {"Meeting booked", 3}, "(none)": {"Interest", 1},
	} {
		got, ok := byName[name]
		if !ok || got.Stage != want.stage || got.Leads != want.leads {
			t.Errorf("status %q: got %+v, want stage %q with %d leads", name, got, want.stage, want.leads)
		}
	}
	if s := byName["Interest"]; !cmp.Equal(s.Spellings, []string{"interest"}) {
		t.Errorf("Interest's spellings: got %q, want [interest]", s.Spellings)
	}
	if s := byName["Closed won"]; !cmp.Equal(s.Spellings, []string{"closed WON "}) {
		t.Errorf("Closed won's spellings: got %q, want [\"closed WON \"]", s.Spellings)
	}
	if s := byName["Qualified"]; len(s.Spellings) != 1 || s.Spellings[0] != "qualified" {
		t.Errorf("Qualified's spellings: got %q, want [qualified]", s.Spellings)
	}
	if s := byName["Closed win"]; !strings.Contains(s.How, "original's name for Closed won") {
		t.Errorf("Closed win matched how: got %q", s.How)
	}
	warnings := map[string]string{}
	for _, w := range plan.Warnings {
		warnings[w.ID] += w.Message + "\n"
	}
	for id, want := range map[string][]string{
		lid(2):  {"card_order 1 is also lead " + lid(3)},
		lid(4):  {"card_order is NULL"},
		lid(5):  {"has no status: put in Interest"},
		lid(7):  {"card_order 0 is also lead " + lid(6)},
		lid(11): {"name is NULL", "value -250.00 is negative"},
		lid(12): {"name is empty", `email "not-an-email" is not an email address`},
		lid(13): {"notes has 10050 characters", "value 10.005 has more than two decimals: rounded to 10.01"},
	} {
		for _, w := range want {
			if !strings.Contains(warnings[id], w) {
				t.Errorf("warnings of %s: got %q, want one containing %q", id, warnings[id], w)
			}
		}
	}

	// --apply without a stage for Qualified: refused, listing it.
	actx := store.WithActor(ctx, store.LegacyActor(&ann))
	_, err = st.ImportLegacy(actx, store.LegacyImport{SourceURL: src, Apply: true})
	var unmapped *store.LegacyUnmappedError
	if !errors.As(err, &unmapped) || len(unmapped.Statuses) != 1 || unmapped.Statuses[0].Name != "Qualified" || unmapped.Statuses[0].Leads != 2 ||
		!strings.Contains(err.Error(), `"Qualified" (2 leads)`) {
		t.Fatalf("apply without a mapping: got %v, want Qualified (2 leads) listed", err)
	}
	if countRows(t, st) != 1 || events() != eventsBefore {
		t.Fatalf("refused apply wrote: %d leads, %d events", countRows(t, st), events())
	}
	// A mapping to no stage is refused before anything is read.
	if _, err := st.ImportLegacy(actx, store.LegacyImport{SourceURL: src, Apply: true, StatusMap: map[string]string{"Qualified": "Hot"}}); err == nil || !strings.Contains(err.Error(), `"Hot"`) {
		t.Fatalf("mapping to no stage: got %v, want it refused naming Hot", err)
	}

	// --apply with the mapping and an owner.
	plan, err = st.ImportLegacy(actx, store.LegacyImport{SourceURL: src, Apply: true, Owner: "ANN@example.com",
		StatusMap: map[string]string{" QUALIFIED": "meeting BOOKED"}})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !plan.Applied || plan.Create != 13 || countRows(t, st) != 14 {
		t.Fatalf("apply: got applied %v, created %d, %d leads here; want 13 created, 14 leads", plan.Applied, plan.Create, countRows(t, st))
	}
	if events() != eventsBefore+13 {
		t.Errorf("events after apply: got %d, want %d", events(), eventsBefore+13)
	}

	// Order within each column: after the leads already there, then card
	// order, ties by created_at then id, NULL last.
	board := columns(t, pool)
	want := map[string][]string{
		"Interest":       {"Already Here", "Ann First", "Cid Early", "Bob Late", "Eve No Status", "Dee Unordered"},
		"Meeting booked": {"Ida Qualified", "(no name)", "Jo Qualified", "(no name)", "Kim Rounded"},
		"Closed won":     {"Fay Won", "Gus Won", "Hal Won"},
	}
	// In Meeting booked, Ida (card 0 of Qualified) and lead 11 (card 0) tie
	// on card order and created_at: the id breaks it (lid(9) < lid(11)).
	if diff := cmp.Diff(want, board); diff != "" {
		t.Errorf("columns after the import (-want +got):\n%s", diff)
	}

	// Ids, times, notes and fields kept; GetLead finds them.
	first := mustGet(t, st, lid(1))
	if !first.CreatedAt.Equal(at(0)) || !first.UpdatedAt.Equal(at(1)) || first.Value != 100000 || first.CardOrder != 1 ||
		first.Owner == nil || first.Owner.Email != "ann@example.com" || first.ClosedAt != nil || !first.StageEnteredAt.Equal(at(1)) {
		t.Errorf("lead 1: got %+v; want its times, value 1000.00, position 1, Ann owning it, open, in its stage since updated_at", first)
	}
	fay := mustGet(t, st, lid(6))
	if fay.Status != "Closed won" || fay.ClosedAt == nil || !fay.ClosedAt.Equal(at(20)) {
		t.Errorf("won lead: got status %q closed_at %v, want Closed won closed at its updated_at %v", fay.Status, fay.ClosedAt, at(20))
	}
	twelve := mustGet(t, st, lid(12))
	if twelve.Notes != *oddOriginalLeads()[11].notes || twelve.Email != "not-an-email" || twelve.Name != store.LegacyNoName {
		t.Errorf("lead 12: got name %q, email %q, %d characters of notes; want its long notes and email kept", twelve.Name, twelve.Email, len(twelve.Notes))
	}
	if eleven := mustGet(t, st, lid(11)); eleven.Value != 0 || eleven.Name != store.LegacyNoName {
		t.Errorf("lead 11: got value %s name %q, want 0.00 and %q", eleven.Value, eleven.Name, store.LegacyNoName)
	}
	if kim := mustGet(t, st, lid(13)); kim.Value != 1001 || len([]rune(kim.Notes)) != store.MaxNotesLen || kim.Source != "Website" {
		t.Errorf("lead 13: got value %s, %d characters of notes, source %q; want 10.01, cut to %d, Website", kim.Value, len(kim.Notes), kim.Source, store.MaxNotesLen)
	}

	// Each lead's history: its creation, by the import, with its snapshot.
	hist, err := st.LeadHistory(ctx, uuid.MustParse(lid(1)), 10)
	if err != nil || len(hist) != 1 || hist[0].Action != store.EventCreate || hist[0].ActorKind != store.ActorUser ||
		hist[0].ActorName != "imported from the original backend by Ann Lee" {
		t.Fatalf("history of lead 1: got %+v, %v; want one create by the import", hist, err)
	}
	if !cmp.Equal(hist[0].Changes[0], store.FieldChange{Field: "name", New: "Ann First"}) {
		t.Errorf("create event's first change: got %+v", hist[0].Changes[0])
	}
	var snapPos, snapName string
	if err := pool.QueryRow(ctx, "SELECT lead->>'card_order', lead->>'name' FROM lead_events WHERE lead_id = $1", lid(2)).Scan(&snapPos, &snapName); err != nil {
		t.Fatal(err)
	}
	if bob := mustGet(t, st, lid(2)); snapPos != fmt.Sprint(bob.CardOrder) || snapName != "Bob Late" {
		t.Errorf("lead 2's event snapshot: got position %s name %q, want %d, Bob Late", snapPos, snapName, bob.CardOrder)
	}
	var stageRows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM lead_stage_changes WHERE lead_id = ANY($1)", []string{lid(1), lid(6)}).Scan(&stageRows); err != nil || stageRows != 2 {
		t.Errorf("analytics stage rows of imported leads: got %d, %v; want 2", stageRows, err)
	}

	// A move after the import works on the imported keys.
	if _, err := st.MoveLead(ctx, existing.ID, "Interest", 3); err != nil {
		t.Fatalf("move after import: %v", err)
	}

	// Running it again imports nothing twice.
	plan, err = st.ImportLegacy(actx, store.LegacyImport{SourceURL: src, Apply: true, StatusMap: map[string]string{"Qualified": "Meeting booked"}})
	if err != nil || plan.Create != 0 || len(plan.Skipped) != 13 || countRows(t, st) != 14 || events() != eventsBefore+14 {
		t.Fatalf("second run: got %d created, %d skipped, %d leads, err %v; want 0, 13, 14", plan.Create, len(plan.Skipped), countRows(t, st), err)
	}
	if !strings.Contains(plan.Skipped[0].Message, "here already") {
		t.Errorf("second run's skip reason: got %q", plan.Skipped[0].Message)
	}
	// A lead deleted to the trash is not imported again under its id.
	if _, err := st.DeleteLead(ctx, uuid.MustParse(lid(4))); err != nil {
		t.Fatal(err)
	}
	plan, err = st.ImportLegacy(ctx, store.LegacyImport{SourceURL: src, StatusMap: map[string]string{"Qualified": "Meeting booked"}})
	if err != nil || plan.Create != 0 {
		t.Fatalf("after a delete: got %d to create, %v; want 0", plan.Create, err)
	}
	var trashNote string
	for _, s := range plan.Skipped {
		if s.ID == lid(4) {
			trashNote = s.Message
		}
	}
	if !strings.Contains(trashNote, "in the trash") {
		t.Errorf("skip reason of a trashed lead: got %q, want it to say the trash", trashNote)
	}
}

func mustGet(t *testing.T, st *store.Store, id string) store.Lead {
	t.Helper()
	l, err := st.GetLead(context.Background(), uuid.MustParse(id))
	if err != nil {
		t.Fatalf("get lead %s: %v", id, err)
	}
	return l
}

// An original table with integer ids and without some optional columns
// imports, each lead under the uuid derived from its id, the same each run.
func TestImportLegacyIntegerIDsAndMissingColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewEmptyDB(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, status text, value numeric, created_at timestamp, updated_at text);
INSERT INTO leads (name, status, value, created_at, updated_at) VALUES ('One', 'Interest', 10, '2023-05-01 12:00', '2023-05-02 08:00:00'), ('Two', 'Proposal', NULL, NULL, 'garbage'), ('Three', 'Lost', 5, '2023-01-01', NULL)`); err != nil {
		t.Fatal(err)
	}
	st, _ := storetest.NewStore(t)
	// A team that requires a lost reason still gets its lost leads (the
	// original kept no reasons), and is told.
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	plan, err := st.ImportLegacy(ctx, store.LegacyImport{SourceURL: u, Apply: true})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if plan.DerivedIDs != 3 || plan.Create != 3 || plan.LostWithoutReason != 1 || !cmp.Equal(plan.MissingColumns, []string{"company", "email", "phone", "notes", "source", "card_order"}) {
		t.Fatalf("plan: got %d derived ids, %d created, %d lost without a reason, missing %q", plan.DerivedIDs, plan.Create, plan.LostWithoutReason, plan.MissingColumns)
	}
	one := mustGet(t, st, store.LegacyIDFor("1").String())
	if one.Name != "One" || !one.CreatedAt.Equal(time.Date(2023, 5, 1, 12, 0, 0, 0, time.UTC)) || !one.UpdatedAt.Equal(time.Date(2023, 5, 2, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("lead 1: got %+v", one)
	}
	if two := mustGet(t, st, store.LegacyIDFor("2").String()); two.Status != "Proposal sent" {
		t.Errorf("lead 2's stage: got %q, want Proposal sent (the alias)", two.Status)
	}
	if three := mustGet(t, st, store.LegacyIDFor("3").String()); three.Status != "Closed lost" || three.ClosedAt == nil || !three.ClosedAt.Equal(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("lead 3: got status %q closed %v, want Closed lost closed when created", three.Status, three.ClosedAt)
	}
	if got := plan.IDs; len(got) != 3 || got[0].Old != "1" || got[0].New != store.LegacyIDFor("1") {
		t.Errorf("id map: got %+v", got)
	}
	if plan, err = st.ImportLegacy(ctx, store.LegacyImport{SourceURL: u, Apply: true}); err != nil || plan.Create != 0 {
		t.Errorf("second run: got %d created, %v; want none", plan.Create, err)
	}
}

// A source that is not there, or not the original's, is a clear error.
func TestImportLegacyBadSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.NewStore(t)
	empty := storetest.NewEmptyDB(t)
	noName := newOriginalDB(t, `CREATE TABLE leads (id uuid PRIMARY KEY, status text, name text); ALTER TABLE leads DROP COLUMN name`, nil)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"not a url", "postgres://[::1", "the original database's URL"},
		{"nobody listening", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "connect to the original database"},
		{"no such database", strings.Replace(empty, "crm_e_", "crm_nope_", 1), "connect to the original database"},
		{"no leads table", empty, "has no table named leads"},
		{"no name column", noName, "has no column name"},
		{"this CRM's own database", storetest.NewDB(t), "this CRM's own"},
	} {
		if _, err := st.ImportLegacy(ctx, store.LegacyImport{SourceURL: tc.url}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestImportLegacyLineBreaks: the original backend let a name (or company,
// source...) hold line breaks, which the lead-field table refuses in one-line
// fields. Such rows still import, their lines joined with spaces, and the dry
// run says so; notes keep theirs.
func TestImportLegacyLineBreaks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newOriginalDB(t, originalSchema, []legacyLead{
		{id: ptr(lid(1)), name: ptr("Lou\r\n  Multiline \n"), source: ptr("Trade\n\nshow"), notes: ptr("first line\nsecond line"),
			status: ptr("Interest"), cardOrder: ptr(0), created: at(0), updated: at(1)},
	})
	st, _ := storetest.NewStore(t)
	plan, err := st.ImportLegacy(ctx, store.LegacyImport{SourceURL: src})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	var warnings []string
	for _, w := range plan.Warnings {
		warnings = append(warnings, w.Message)
	}
	got := strings.Join(warnings, "\n")
	for _, want := range []string{`name had line breaks: replaced with spaces ("Lou Multiline")`, `source had line breaks: replaced with spaces ("Trade show")`} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run's warnings:\n%s\nwant one saying %s", got, want)
		}
	}
	if strings.Contains(got, "notes") {
		t.Errorf("dry run's warnings mention notes, which keep their line breaks:\n%s", got)
	}
	if _, err := st.ImportLegacy(store.WithActor(ctx, store.LegacyActor(nil)), store.LegacyImport{SourceURL: src, Apply: true}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	id := store.LegacyIDFor(lid(1))
	l, err := st.GetLead(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "Lou Multiline" || l.Source != "Trade show" || l.Notes != "first line\nsecond line" {
		t.Errorf("imported lead: name %q, source %q, notes %q", l.Name, l.Source, l.Notes)
	}
	// The lead is editable as any other: its fields pass the table's rules.
	if _, err := st.UpdateLead(ctx, id, store.LeadInput{Name: ptr(l.Name), Source: ptr(l.Source), Notes: ptr(l.Notes)}); err != nil {
		t.Errorf("editing the imported lead: %v", err)
	}
}
