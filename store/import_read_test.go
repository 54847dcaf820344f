package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestImportOddBytesAndQuotes: a control character deep in a file (past the
// part sniffed for binary content) fails its row alone and the rows after it
// are imported; a quote never closed fails its row and names the cause, and no
// lead is made of the rest of the file; a line break in a one-line field fails
// that field.
func TestImportOddBytesAndQuotes(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()

	var b bytes.Buffer
	b.WriteString("Name,Email\n")
	for i := range 6000 { // about 100 KiB: past the first 64 KiB
		fmt.Fprintf(&b, "Row%d,r%d@nul.example\n", i, i)
	}
	b.WriteString("Nul\x00Late,nl@nul.example\nCtl\x01Guy,ctl@nul.example\nAfter,after@nul.example\n")
	imp := runImport(t, st, ctx, "nul.csv", b.Bytes(), "", nil)
	if imp.State != store.ImportDone || imp.Created != 6001 || imp.Failed != 2 {
		t.Fatalf("nul.csv: %s, created %d, failed %d; want done, 6001 and 2", imp.State, imp.Created, imp.Failed)
	}
	for _, e := range imp.Errors {
		if e.Field != "row" || !strings.Contains(e.Message, "control character") {
			t.Errorf("nul.csv error %+v, want the row's control character", e)
		}
	}
	if _, ok := leadsByName(t, st)["After"]; !ok {
		t.Error("the row after the control characters was not imported")
	}

	imp = runImport(t, st, ctx, "quote.csv", []byte("Name,Email\nGood,good@q.example\n\"Open,open@q.example\nAfter,after@q.example\n"), "", nil)
	if imp.Created != 1 || imp.Failed != 1 || len(imp.Errors) != 1 || !strings.Contains(imp.Errors[0].Message, "never closed") {
		t.Fatalf("quote.csv: created %d failed %d errors %+v; want 1, 1 and the unclosed quote named", imp.Created, imp.Failed, imp.Errors)
	}
	for name := range leadsByName(t, st) {
		if strings.ContainsAny(name, "\r\n") {
			t.Errorf("a lead named %q: a line break in a name", name)
		}
	}

	imp = runImport(t, st, ctx, "break.csv", []byte("Name,Company,Notes\nAnna,\"Acme\nWest\",\"line one\nline two\"\n"), "", nil)
	if imp.Created != 0 || len(imp.Errors) != 1 || imp.Errors[0].Field != "company" {
		t.Errorf("break.csv: created %d errors %+v; want the company's line break refused (notes may have them)", imp.Created, imp.Errors)
	}
}

// TestImportMappingMistakes: a mapping naming a column the file does not have,
// or giving one field two columns, is refused naming the mapping; a value
// starting with a quote before a formula character survives an export and
// import.
func TestImportMappingMistakes(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	file := []byte("Name,Email\nAnna,anna@m.example\n")
	for _, m := range []map[string]string{
		{"Nope": "name"},
		{"Name": "email", "Email": "email"},
	} {
		_, err := st.CreateImport(ctx, store.ImportUpload{FileName: "m.csv", Body: bytes.NewReader(file), Mapping: m})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Fields["mapping"] == "" {
			t.Errorf("mapping %v: got %v, want a validation error on mapping", m, err)
		}
	}
	for _, v := range []string{"'=SUM(A1)", "'+1 555", "=SUM(A1)", "'Tis", "''=x", "'", "''", "-5"} {
		if got := store.UnneutralizeForTest(store.NeutralizeCell(v)); got != v {
			t.Errorf("%q exported and imported: %q", v, got)
		}
	}
}

// TestImportOldMacAndSepLine: a file with carriage returns alone as line ends
// (old Mac), and Excel's "sep=;" first line naming the delimiter.
func TestImportOldMacAndSepLine(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	imp := runImport(t, st, ctx, "mac.csv", []byte("Name,Email\rMac One,one@mac.example\rMac Two,two@mac.example\r"), "", nil)
	if imp.Created != 2 || imp.Failed != 0 {
		t.Errorf("mac.csv: created %d failed %d %+v; want 2 and 0", imp.Created, imp.Failed, imp.Errors)
	}
	imp = runImport(t, st, ctx, "sep.csv", []byte("sep=;\r\nName;Company\r\nSep Lead;Acme, Inc.\r\n"), "", nil)
	if imp.Created != 1 || leadsByName(t, st)["Sep Lead"].Company != "Acme, Inc." {
		t.Errorf("sep.csv: created %d %+v; want Sep Lead of Acme, Inc.", imp.Created, imp.Errors)
	}
}
