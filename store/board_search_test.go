package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestBoardSearchPhonesAndTypos: the board's search finds a phone number
// however its digits are spaced, and, when the text as typed finds nothing,
// tolerates typos as the assistant does; a search that finds something as
// typed is not widened.
func TestBoardSearchPhonesAndTypos(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := st.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	names := func(q string) ([]string, int) {
		t.Helper()
		b, err := st.ListBoard(ctx, store.BoardQuery{Search: q, WithTotals: true, Limit: 50})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var out []string
		count := 0
		for _, c := range b.Columns {
			for _, l := range c.Leads {
				out = append(out, l.Name)
			}
			count += c.Count
		}
		return out, count
	}
	emily, err := st.ListBoard(ctx, store.BoardQuery{Search: "Emily Chen"})
	if err != nil {
		t.Fatal(err)
	}
	phone := ""
	for _, c := range emily.Columns {
		for _, l := range c.Leads {
			phone = l.Phone
		}
	}
	if phone != "+1-555-0175" {
		t.Fatalf("Emily's demo phone: got %q, want +1-555-0175", phone)
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"5550175", []string{"Emily Chen"}},
		{"555 0175", []string{"Emily Chen"}},
		{"(555) 0175", []string{"Emily Chen"}},
		{"+1 555 0175", []string{"Emily Chen"}},
		{"Emilly Chen", []string{"Emily Chen"}}, // a typo
		{"brightsde", []string{"Emily Chen"}},   // a typo in the company
		{"acme", []string{"Bob Martin"}},        // found as typed: nothing more
		{"zzzzqqq-nobody", nil},                 // nothing close
	} {
		got, count := names(tc.q)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("search %q (-want +got):\n%s", tc.q, diff)
		}
		if count != len(tc.want) {
			t.Errorf("search %q: counted %d in the column headers, want %d", tc.q, count, len(tc.want))
		}
	}
}
