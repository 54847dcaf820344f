package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestImportFromPostgres runs crm import --from-postgres against a database
// with the original backend's schema (its documentation's columns) and odd
// rows: the dry run, the refused apply, the apply, and a second run.
func TestImportFromPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := storetest.NewEmptyDB(t)
	conn, err := pgx.Connect(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE leads (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name varchar(255), company varchar(255),
    email varchar(255), phone varchar(50), value numeric, notes text, status varchar(50),
    source varchar(100), card_order integer, created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now());
INSERT INTO leads (id, name, company, email, value, notes, status, card_order, created_at, updated_at) VALUES
    ('11111111-1111-4111-8111-111111111111', 'Jane Doe', 'Example Corp', 'jane@example.com', 75000, 'Met at the fair', 'Meeting booked', 0, '2024-01-15T10:30:00Z', '2024-01-15T14:45:00Z'),
    ('22222222-2222-4222-8222-222222222222', NULL, 'Nameless Inc', 'odd@@example', -5, NULL, 'Closed win', 0, '2023-06-01T00:00:00Z', '2023-07-01T00:00:00Z'),
    ('33333333-3333-4333-8333-333333333333', 'Tom Hot', NULL, NULL, NULL, NULL, 'Hot', 0, '2023-06-01T00:00:00Z', '2023-06-02T00:00:00Z'),
    ('44444444-4444-4444-8444-444444444444', 'Sue Hot', NULL, NULL, 10, NULL, ' hot', 0, '2023-05-01T00:00:00Z', '2023-06-02T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	dbURL := storetest.NewDB(t)
	const pw = "correct horse battery staple"
	if _, _, err := runCmd(t, dbURL, pw+"\n", "user", "add", "--email", "ann@example.com", "--name", "Ann Lee", "--admin"); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	count := func() int {
		n, err := st.CountLeads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The dry run prints the plan, the unknown status and what to type, and
	// writes nothing.
	out, _, err := runCmd(t, dbURL, "", "import", "--from-postgres", src)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"table leads: 4 rows",
		`"Closed win"`, "-> Closed won",
		`"Hot" (also " hot")`, "NOT A STAGE: map it with --map-status \"Hot=STAGE\"",
		"Would create 2 leads",
		"2 leads wait for a stage: 1 unknown status",
		"lead 22222222-2222-4222-8222-222222222222: name is NULL",
		"lead 22222222-2222-4222-8222-222222222222: value -5 is negative",
		`email "odd@@example" is not an email address`,
		"Dry run: nothing was written.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("leads after the dry run: got %d, want 0", n)
	}

	// --apply refuses while Hot has no stage, naming it and its leads.
	out, _, err = runCmd(t, dbURL, "", "import", "--from-postgres", src, "--apply")
	if err == nil || !strings.Contains(err.Error(), `"Hot" (2 leads)`) || !strings.Contains(err.Error(), "--map-status") {
		t.Fatalf("apply without a mapping: got %v, want Hot (2 leads) and --map-status named", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("leads after the refused apply: got %d, want 0", n)
	}

	// Flags that name nobody or no stage are refused before anything.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--map-status", "Hot=Scorching"}, `"Scorching"`},
		{[]string{"--map-status", "Hot"}, "want OLD=STAGE"},
		{[]string{"--owner", "nobody@example.com"}, "--owner: no user has the email"},
		{[]string{"--as", "nobody@example.com"}, "--as: no account has the email"},
	} {
		args := append([]string{"import", "--from-postgres", src, "--apply"}, tc.args...)
		if _, _, err := runCmd(t, dbURL, "", args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := runCmd(t, dbURL, "", "import"); err == nil || !strings.Contains(err.Error(), "--from-postgres URL is required") {
		t.Errorf("import without a source: got %v", err)
	}
	if _, _, err := runCmd(t, dbURL, "", "import", "--from-postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"); err == nil ||
		!strings.Contains(err.Error(), "connect to the original database") {
		t.Errorf("import from nowhere: got %v", err)
	}

	// --apply with the mapping writes every lead.
	idMap := filepath.Join(t.TempDir(), "ids.csv")
	out, _, err = runCmd(t, dbURL, "", "import", "--from-postgres", src, "--map-status", "hot=negotiation",
		"--as", "ann@example.com", "--owner", "ann@example.com", "--id-map", idMap, "--apply")
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, want := range []string{"Created 4 leads", "Negotiation", "Applied: 4 leads created in one transaction.", "Owner: ann@example.com.",
		`History: each lead's creation, by "imported from the original backend by Ann Lee".`} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	jane, err := st.GetLead(ctx, uuid.MustParse("11111111-1111-4111-8111-111111111111"))
	if err != nil || jane.Name != "Jane Doe" || jane.Status != "Meeting booked" || jane.Notes != "Met at the fair" || jane.Value != 7500000 {
		t.Fatalf("Jane after the import: got %+v, %v", jane, err)
	}
	sue, err := st.GetLead(ctx, uuid.MustParse("44444444-4444-4444-8444-444444444444"))
	if err != nil || sue.Status != "Negotiation" || sue.CardOrder != 0 {
		t.Errorf("Sue (older, same card order as Tom): got %+v, %v; want first in Negotiation", sue, err)
	}
	if b, err := os.ReadFile(idMap); err != nil || !strings.HasPrefix(string(b), "original_id,id\n11111111-1111-4111-8111-111111111111,11111111-1111-4111-8111-111111111111\n") {
		t.Errorf("id map: got %q, %v", b, err)
	}

	// Again: nothing to do.
	out, _, err = runCmd(t, dbURL, "", "import", "--from-postgres", src, "--map-status", "Hot=Negotiation", "--apply")
	if err != nil || !strings.Contains(out, "Created 0 leads") || !strings.Contains(out, "Skipped (4)") || count() != 4 {
		t.Errorf("second run: got %v, %d leads:\n%s", err, count(), out)
	}
}
