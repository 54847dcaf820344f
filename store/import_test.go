package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// runImport uploads data as name and runs its job, as the worker would.
func runImport(t *testing.T, st *store.Store, ctx context.Context, name string, data []byte, dup string, mapping map[string]string) store.Import {
	t.Helper()
	imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: name, Body: bytes.NewReader(data), Duplicates: dup, Mapping: mapping})
	if err != nil {
		t.Fatalf("CreateImport(%s): %v", name, err)
	}
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatalf("RunImport(%s): %v", name, err)
	}
	imp, err = st.GetImport(ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	return imp
}

func testdataFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leadsByName returns every lead on the board by name.
func leadsByName(t *testing.T, st *store.Store) map[string]store.Lead {
	t.Helper()
	b, err := st.ListBoard(context.Background(), store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Lead{}
	for _, c := range b.Columns {
		for _, l := range c.Leads {
			out[l.Name] = l
		}
	}
	return out
}

func leadLine(l store.Lead) string {
	owner := ""
	if l.Owner != nil {
		owner = l.Owner.Email
	}
	return strings.Join([]string{l.Name, l.Company, l.Email, l.Phone, l.Value.String(), l.Status, l.Source, owner, l.LostReason, l.Notes}, "|")
}

func TestImportRealFiles(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann, err := st.CreateUser(context.Background(), store.NewUser{Email: "ann@example.com", Name: "Ann Lee", Password: goodPassword, Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	cases := []struct {
		file  string
		enc   string
		delim string
		want  []string
		fails map[int]string // row → field
	}{
		{"excel_bom_semicolon.csv", "utf-8", "semicolon", []string{
			"John Smith|Acme GmbH|john@acme.example|+49 30 1234567|1200.50|Interest|Trade fair|ann@example.com||Met at the booth",
			"Maria García|Ibérica SL|maria@iberica.example|+34 91 123 45 67|20000.00|Proposal sent|Website|ann@example.com||Wants a demo\nnext week",
			"Pierre Dupont|Dupont & Fils|pierre@dupont.example||3500.00|Negotiation|Referral|ann@example.com||",
		}, nil},
		{"google_sheets.csv", "utf-8", "comma", []string{
			"Aisha Khan|Northwind|aisha@northwind.example|555-0100|1200.50|Meeting booked|Google Ads|ann@example.com||",
			"Ben Okafor||ben@okafor.example|555-0101|750.00|Interest|Newsletter|ann@example.com||",
			"Chen, Li|Contoso|li.chen@contoso.example||15000.00|Closed won|Referral|ann@example.com||",
		}, nil},
		{"pipedrive.csv", "utf-8", "comma", []string{
			"Dana Scully|Northwind|dana@fbi.example|555-0199|4500.00|Negotiation||ann@example.com||",
			"Fox Mulder|Acme|fox@fbi.example||1200.50|Closed lost||ann@example.com|Too expensive|",
		}, nil},
		{"hubspot.csv", "utf-8", "comma", []string{
			"Grace Hopper|Navy|grace@navy.example|555-0142|2000.00|Interest|Offline Sources|ann@example.com||",
			"Alan Turing|Bletchley|alan@bletchley.example||0.00|Interest|Direct Traffic|ann@example.com||",
		}, nil},
		{"windows1252.csv", "windows-1252", "semicolon", []string{
			"José Martínez|Café Sol|jose@cafe.example||0.00|Interest||ann@example.com||Señor € 100",
			"Renée François|Crème Brûlée|renee@creme.example||0.00|Interest||ann@example.com||naïve",
		}, nil},
		{"broken_quoting.csv", "utf-8", "comma", []string{
			"Good One|Acme|good1@example.com||0.00|Interest||ann@example.com||fine",
			"Good Two|Acme|good2@example.com||0.00|Interest||ann@example.com||a \"quoted\" word",
		}, map[int]string{3: "row"}},
	}
	for _, c := range cases {
		imp := runImport(t, st, ctx, c.file, testdataFile(t, c.file), "", nil)
		if imp.State != store.ImportDone || imp.Encoding != c.enc || imp.Delimiter != c.delim {
			t.Errorf("%s: state %s, encoding %s, delimiter %s; want done, %s, %s", c.file, imp.State, imp.Encoding, imp.Delimiter, c.enc, c.delim)
		}
		if imp.Created != len(c.want) || imp.Failed != len(c.fails) {
			t.Errorf("%s: created %d, failed %d (%v); want %d, %d", c.file, imp.Created, imp.Failed, imp.Errors, len(c.want), len(c.fails))
		}
		for _, e := range imp.Errors {
			if c.fails[e.Row] != e.Field {
				t.Errorf("%s: error %+v, want failures %v", c.file, e, c.fails)
			}
		}
		leads := leadsByName(t, st)
		for _, w := range c.want {
			name := strings.SplitN(w, "|", 2)[0]
			if got := leadLine(leads[name]); got != w {
				t.Errorf("%s: lead %s\n got %q\nwant %q", c.file, name, got, w)
			}
		}
	}
	// Each change is the import's in the history.
	l := leadsByName(t, st)["José Martínez"]
	ev, err := st.LastLeadEvent(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "import “windows1252.csv” by " + ann.Name; ev.ActorName != want || ev.Action != "create" {
		t.Errorf("event of an imported lead: %s by %q, want create by %q", ev.Action, ev.ActorName, want)
	}
	wantOrders(t, st, "Interest")
}

func TestImportBadFiles(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	zip := append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0, 1, 2}, 100)...)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 0xff, 3}, 100)...)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.csv", testdataFile(t, "empty.csv"), "empty"},
		{"blank.csv", []byte("\r\n\n  \n"), "empty"},
		{"no_header.csv", testdataFile(t, "no_header.csv"), "header row"},
		{"header_only.csv", []byte("name,email\n"), "no rows"},
		{"book.xlsx", zip, "Excel workbook"},
		{"image.png", png, "not text"},
	}
	for _, c := range cases {
		_, err := st.CreateImport(ctx, store.ImportUpload{FileName: c.name, Body: bytes.NewReader(c.data)})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Fields["file"], c.want) {
			t.Errorf("%s: got %v, want a file error saying %q", c.name, err, c.want)
		}
		if _, err := st.PreviewImport(ctx, store.ImportUpload{FileName: c.name, Body: bytes.NewReader(c.data)}); !errors.As(err, &ve) {
			t.Errorf("preview of %s: got %v, want a validation error", c.name, err)
		}
	}
	imps, err := st.ListImports(ctx, 10)
	if err != nil || len(imps) != 0 {
		t.Errorf("imports after bad files: %d, %v; want none", len(imps), err)
	}
	// Every value invalid: the import finishes with every row failed.
	imp := runImport(t, st, ctx, "bad.csv", []byte("name,email,value,stage,owner\n,not-an-email,lots,Nowhere,nobody@example.com\nX,also bad,-5,Interest,\n"), "", nil)
	if imp.State != store.ImportDone || imp.Failed != 2 || imp.Created != 0 {
		t.Fatalf("all invalid: %s created %d failed %d", imp.State, imp.Created, imp.Failed)
	}
	var got []string
	for _, e := range imp.Errors {
		got = append(got, fmt.Sprintf("%d %s", e.Row, e.Field))
	}
	if want := []string{"2 email", "2 owner", "2 status", "2 value", "3 email", "3 value"}; !cmp.Equal(got, want) {
		t.Errorf("errors: got %v, want %v", got, want)
	}
	if n, _ := st.CountLeads(ctx); n != 0 {
		t.Errorf("leads after an all-invalid import: %d", n)
	}
}

func TestImportMoney(t *testing.T) {
	for in, want := range map[string]string{
		"1200": "1200.00", "$1,200.50": "1200.50", "1.200,50": "1200.50", "1 200,5": "1200.50", "20k": "20000.00",
		"1.5M": "1500000.00", "€ 99": "99.00", "1,5": "1.50", "1.200": "1200.00", "1,200": "1200.00", "0.5": "0.50",
		"1,234,567.89": "1234567.89", "1.234.567,89": "1234567.89", "2.5k": "2500.00", "USD 10": "10.00",
	} {
		m, err := store.ParseImportMoney(in)
		if err != nil || m.String() != want {
			t.Errorf("ParseImportMoney(%q) = %v, %v; want %s", in, m, err, want)
		}
	}
	for _, in := range []string{"lots", "-5", "0.125", "1,2,3.4.5", "k", "1,2,3", "1.2.3,4", "12,34,567", "1,2345.00", "1.234,5.6"} {
		if m, err := store.ParseImportMoney(in); err == nil {
			t.Errorf("ParseImportMoney(%q) = %v, want an error", in, m)
		}
	}
}

func TestImportDuplicatesAndUndo(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleMember)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	bctx := store.WithActor(context.Background(), store.UserActor(bob))
	jane, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Jane Doe"), Company: ptr("Acme"), Email: ptr("Jane@Acme.example"), Phone: ptr("555-0001")})
	if err != nil {
		t.Fatal(err)
	}
	tom, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Tom Lee"), Company: ptr("Globex")})
	if err != nil {
		t.Fatal(err)
	}
	file := []byte("name,company,email,phone,value\n" +
		"Jane D.,Acme,jane@acme.example,,500\n" + // Jane by email: her phone stays, her name and value change
		"tom lee,GLOBEX,,555-0002,\n" + // Tom by name and company
		"New Person,Initech,new@initech.example,,100\n" +
		"New Person again,Initech,NEW@initech.example,555-0003,\n") // the same as the row before

	skip := runImport(t, st, ctx, "skip.csv", file, store.ImportSkip, nil)
	if skip.Created != 1 || skip.Skipped != 3 || skip.Updated != 0 {
		t.Fatalf("skip: created %d skipped %d updated %d", skip.Created, skip.Skipped, skip.Updated)
	}
	create := runImport(t, st, ctx, "create.csv", file, store.ImportCreate, nil)
	if create.Created != 4 {
		t.Fatalf("create anyway: created %d", create.Created)
	}
	for _, imp := range []store.Import{create, skip} {
		if _, err := st.UndoImport(bctx, imp.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := st.CountLeads(ctx); n != 2 {
		t.Fatalf("leads after undoing skip and create: %d, want 2", n)
	}

	upd := runImport(t, st, ctx, "update.csv", file, store.ImportUpdate, nil)
	if upd.Created != 1 || upd.Updated != 3 || upd.Failed != 0 {
		t.Fatalf("update: created %d updated %d failed %d %v", upd.Created, upd.Updated, upd.Failed, upd.Errors)
	}
	leads := leadsByName(t, st)
	if got, want := leadLine(leads["Jane D."]), "Jane D.|Acme|jane@acme.example|555-0001|500.00|Interest||ann@example.com||"; got != want {
		t.Errorf("Jane updated: got %q, want %q", got, want)
	}
	if got, want := leadLine(leads["tom lee"]), "tom lee|GLOBEX||555-0002|0.00|Interest||ann@example.com||"; got != want {
		t.Errorf("Tom updated: got %q, want %q", got, want)
	}
	if got, want := leadLine(leads["New Person again"]), "New Person again|Initech|NEW@initech.example|555-0003|100.00|Interest||ann@example.com||"; got != want {
		t.Errorf("new person, created then updated by the next row: got %q, want %q", got, want)
	}
	// Bob changes Tom since the import: the undo keeps Tom as he is.
	if _, err := st.UpdateLead(bctx, tom.ID, store.LeadInput{Notes: ptr("called")}); err != nil {
		t.Fatal(err)
	}
	rep, err := st.UndoImport(bctx, upd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || rep.Restored != 1 || !cmp.Equal(rep.Kept, []uuid.UUID{tom.ID}) {
		t.Errorf("undo: %+v, want removed 1, restored 1 (Jane), kept Tom", rep)
	}
	got, err := st.GetLead(ctx, jane.ID)
	if err != nil {
		t.Fatal(err)
	}
	if leadLine(got) != leadLine(jane) {
		t.Errorf("Jane after undo: got %q, want %q", leadLine(got), leadLine(jane))
	}
	if _, err := st.UndoImport(bctx, upd.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second undo: got %v, want a conflict", err)
	}
	if names := sortedNames(leadsByName(t, st)); !cmp.Equal(names, []string{"Jane Doe", "tom lee"}) {
		t.Errorf("leads after undo: %v", names)
	}
	trash, err := st.ListTrash(ctx, 10)
	if err != nil || len(trash) != 6 {
		t.Errorf("trash after the undos: %d leads, %v; want 6", len(trash), err)
	}
	wantOrders(t, st, "Interest")
}

func sortedNames(m map[string]store.Lead) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestImportLostReasonAndStages(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	file := []byte("Name,Status,Reason\nA,closed lost,price\nB,Closed lost,\nC,closed WON,\n")
	imp := runImport(t, st, ctx, "lost.csv", file, "", nil)
	if imp.Created != 2 || imp.Failed != 1 || len(imp.Errors) != 1 || imp.Errors[0].Row != 3 || imp.Errors[0].Field != "lost_reason" {
		t.Fatalf("lost without a reason: created %d, errors %+v", imp.Created, imp.Errors)
	}
	// The failed rows, to fix and import again.
	var out [][]string
	if err := st.ImportFailures(ctx, imp.ID, func(cells []string) error { out = append(out, cells); return nil }); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Name", "Status", "Reason", "error"}, {"B", "Closed lost", "", "row 3: lost_reason: " + store.MsgLostReasonRequired}}
	if !cmp.Equal(out, want) {
		t.Errorf("failed rows: got %q, want %q", out, want)
	}
	// A mapping changed by the person: Reason is not imported, Status is the source.
	imp = runImport(t, st, ctx, "remapped.csv", []byte("Name,Status,Reason\nD,Web,x\n"), "", map[string]string{"status": "source", "REASON": ""})
	if imp.Created != 1 || leadsByName(t, st)["D"].Source != "Web" || leadsByName(t, st)["D"].LostReason != "" {
		t.Errorf("remapped: %+v %+v", imp, leadsByName(t, st)["D"])
	}
	if _, err := st.CreateImport(ctx, store.ImportUpload{Body: strings.NewReader("a\nb\n"), Mapping: map[string]string{"a": "shoe size"}}); err == nil {
		t.Error("a mapping to no field: got no error")
	}
}

func TestImportTenThousandRows(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	var b bytes.Buffer
	b.WriteString("name,company,email,value,stage\n")
	stages := []string{"Interest", "Meeting booked", "Negotiation"}
	for i := range 10_000 {
		fmt.Fprintf(&b, "Lead %d,Company %d,lead%d@example.com,%d,%s\n", i, i%100, i, i, stages[i%3])
	}
	fmt.Fprintf(&b, "Lead 5,Company 5,LEAD5@example.com,1,Interest\n") // a duplicate of row 7
	imp := runImport(t, st, ctx, "big.csv", b.Bytes(), store.ImportSkip, nil)
	if imp.Created != 10_000 || imp.Skipped != 1 || imp.RowsDone != 10_001 || imp.RowsTotal != 10_001 {
		t.Fatalf("10,000 rows: %+v", imp)
	}
	for _, s := range stages {
		wantOrders(t, st, s)
	}
	if n, _ := st.CountLeads(ctx); n != 10_000 {
		t.Errorf("leads: %d", n)
	}
	rep, err := st.UndoImport(ctx, imp.ID)
	if err != nil || rep.Removed != 10_000 {
		t.Fatalf("undo: %+v %v", rep, err)
	}
}

func TestImportResumesAndLeases(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: "resume.csv", Body: strings.NewReader("name\nA\nB\nC\nD\n")})
	if err != nil {
		t.Fatal(err)
	}
	// A worker holds it: another one's job is to be tried later.
	if _, err := pool.Exec(ctx, `UPDATE imports SET state = 'running', rows_done = 2, lease_until = now() + interval '1 minute' WHERE id = $1`, imp.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RunImport(ctx, imp.ID); !errors.Is(err, store.ErrImportBusy) {
		t.Fatalf("a held import: got %v, want ErrImportBusy", err)
	}
	// Its worker died after committing two rows: the next carries on after them.
	if _, err := pool.Exec(ctx, `UPDATE imports SET lease_until = now() - interval '1 second' WHERE id = $1`, imp.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	if names := sortedNames(leadsByName(t, st)); !cmp.Equal(names, []string{"C", "D"}) {
		t.Errorf("after resuming: %v, want C and D (A and B were the first run's)", names)
	}
	// A finished import's job does nothing.
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountLeads(ctx); n != 2 {
		t.Errorf("after running a finished import again: %d leads", n)
	}
}

func TestImportUTF16AndPreview(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	text := "Name\tCompany\tNotes\r\nZoë\tÅngström AB\t\"two\r\nlines\"\r\n"
	u16 := []byte{0xFF, 0xFE}
	for _, r := range text {
		u16 = append(u16, byte(r), byte(r>>8))
	}
	p, err := st.PreviewImport(ctx, store.ImportUpload{FileName: "unicode.txt", Body: bytes.NewReader(u16)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Encoding != "utf-16" || p.Delimiter != "tab" || p.Rows != 1 || len(p.Sample) != 1 ||
		!cmp.Equal(p.Sample[0].Cells, []string{"Zoë", "Ångström AB", "two\nlines"}) || p.Sample[0].Action != "create" {
		t.Errorf("preview of UTF-16: %+v", p)
	}
	if n, _ := st.CountLeads(ctx); n != 0 {
		t.Errorf("a preview wrote %d leads", n)
	}
	imp := runImport(t, st, ctx, "unicode.txt", u16, "", nil)
	if imp.Created != 1 || leadsByName(t, st)["Zoë"].Company != "Ångström AB" {
		t.Errorf("UTF-16 import: %+v", imp)
	}
}

// An undo puts back a past state, not a new edit: the rules that came in since
// (a lost reason required) do not stop it, and one lead never blocks the rest.
func TestImportUndoIgnoresNewRules(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	lost, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Lost One"), Email: ptr("x@l.com"), Status: ptr("Closed lost")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Other"), Email: ptr("y@l.com"), Phone: ptr("555-0001")})
	if err != nil {
		t.Fatal(err)
	}
	imp := runImport(t, st, ctx, "stages.csv", []byte("Email,Stage,Phone\nx@l.com,Interest,\ny@l.com,Negotiation,555-0002\n"), store.ImportUpdate, nil)
	if imp.Updated != 2 {
		t.Fatalf("import: %+v", imp)
	}
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := st.UndoImport(ctx, imp.ID)
	if err != nil {
		t.Fatalf("undo with a lost reason required since: %v", err)
	}
	if rep.Restored != 2 || len(rep.Kept) != 0 {
		t.Errorf("undo: %+v, want both leads restored", rep)
	}
	for _, want := range []store.Lead{lost, other} {
		got, err := st.GetLead(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if leadLine(got) != leadLine(want) {
			t.Errorf("after undo: got %q, want %q", leadLine(got), leadLine(want))
		}
	}
}

// An undo puts a lead whose stage the import changed back at its old place in
// its old column, with the times it entered that stage and closed.
func TestImportUndoStagePlaceAndTimes(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	ann := mustUser(t, st, "ann@example.com", store.RoleMember)
	actx := store.WithActor(ctx, store.UserActor(ann))
	for _, n := range []string{"A", "B", "C", "D"} {
		if _, err := st.CreateLead(ctx, store.LeadInput{Name: ptr(n), Email: ptr(strings.ToLower(n) + "@x.com")}); err != nil {
			t.Fatal(err)
		}
	}
	won, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("W"), Email: ptr("w@x.com"), Status: ptr("Closed won")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE leads SET stage_entered_at = '2026-01-02T03:04:05.123456Z' WHERE name IN ('B', 'C')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE leads SET stage_entered_at = '2025-06-01T10:00:00Z', closed_at = '2025-06-01T10:00:00Z' WHERE name = 'W'`); err != nil {
		t.Fatal(err)
	}
	before := leadsByName(t, st)
	imp := runImport(t, st, ctx, "moves.csv", []byte("Email,Stage\nb@x.com,Negotiation\nc@x.com,Negotiation\nw@x.com,Interest\n"), store.ImportUpdate, nil)
	if imp.Updated != 3 {
		t.Fatalf("import: %+v", imp)
	}
	rep, err := st.UndoImport(actx, imp.ID)
	if err != nil || rep.Restored != 3 {
		t.Fatalf("undo: %+v, %v", rep, err)
	}
	after := leadsByName(t, st)
	for _, n := range []string{"A", "B", "C", "D", "W"} {
		b, a := before[n], after[n]
		if a.Status != b.Status || a.CardOrder != b.CardOrder {
			t.Errorf("%s after undo: %s #%d, want %s #%d", n, a.Status, a.CardOrder, b.Status, b.CardOrder)
		}
		if !a.StageEnteredAt.Equal(b.StageEnteredAt) || fmt.Sprint(a.ClosedAt) != fmt.Sprint(b.ClosedAt) {
			t.Errorf("%s after undo: entered %v closed %v, want %v %v", n, a.StageEnteredAt, a.ClosedAt, b.StageEnteredAt, b.ClosedAt)
		}
	}
	wantOrders(t, st, "Interest")
	// The undo's events are the undoer's, naming the import.
	ev, err := st.LastLeadEvent(ctx, won.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "undo of import “moves.csv” by " + ann.Name; ev.ActorName != want || ev.Action != store.EventMove {
		t.Errorf("undo event: %s by %q, want move by %q", ev.Action, ev.ActorName, want)
	}
}

// The undo's message counts every lead the import touched: a created lead
// someone deleted since is kept (not there to remove), with its reason.
func TestImportUndoMessage(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	imp := runImport(t, st, ctx, "two.csv", []byte("Name\nOne\nTwo\n"), store.ImportSkip, nil)
	if imp.Created != 2 {
		t.Fatalf("import: %+v", imp)
	}
	two := leadsByName(t, st)["Two"]
	if _, err := st.DeleteLead(ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := st.UndoImport(ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || !cmp.Equal(rep.Kept, []uuid.UUID{two.ID}) || len(rep.KeptLeads) != 1 || rep.KeptLeads[0].Why != "deleted by someone since the import" {
		t.Errorf("undo: %+v, want removed 1, kept Two (deleted)", rep)
	}
	if want := "Removed 1 lead the import created (to the trash). Kept 1 as it is: deleted by someone since the import."; rep.Message != want {
		t.Errorf("message: %q, want %q", rep.Message, want)
	}
	// An import that created nothing does not say it removed nothing.
	if _, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Three"), Email: ptr("t@x.com")}); err != nil {
		t.Fatal(err)
	}
	upd := runImport(t, st, ctx, "upd.csv", []byte("Email,Phone\nt@x.com,555\n"), store.ImportUpdate, nil)
	rep, err = st.UndoImport(ctx, upd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Put back the fields of 1 lead the import updated."; rep.Message != want {
		t.Errorf("message: %q, want %q", rep.Message, want)
	}
}

// A lead two rows of the file updated gets back what it had before the first
// of them, every field either changed; an owner deactivated since comes back.
func TestImportUndoMergesRowsAndOwners(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	mustUser(t, st, "ann@example.com", store.RoleMember)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	lead, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Pat"), Email: ptr("pat@x.com"), Phone: ptr("1"), Owner: ptr("bob@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	file := []byte("Email,Phone,Stage,Owner\npat@x.com,2,,ann@example.com\npat@x.com,3,Negotiation,\n")
	imp := runImport(t, st, ctx, "twice.csv", file, store.ImportUpdate, nil)
	if imp.Updated != 2 {
		t.Fatalf("import: %+v", imp)
	}
	if _, err := st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	rep, err := st.UndoImport(ctx, imp.ID)
	if err != nil || rep.Restored != 1 {
		t.Fatalf("undo: %+v, %v", rep, err)
	}
	got, err := st.GetLead(ctx, lead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if leadLine(got) != leadLine(lead) {
		t.Errorf("after undo: got %q, want %q", leadLine(got), leadLine(lead))
	}
}
