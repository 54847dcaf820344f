package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// matchFixture is a small pipeline with the traps forgiving matching must handle:
// two Janes, a Jane Doe and a Jane Doerr, two leads at one company.
var matchFixture = []struct{ name, company, email string }{
	{"Jane Doe", "Example Corp", "jane@example.com"},
	{"Jane Smith", "Acme Inc", "jsmith@acme.test"},
	{"Jane Doerr", "Doerr Hardware", "jd@doerr.test"},
	{"Bob Martin", "Acme Inc", "bob.martin@acme.test"},
	{"Priya Raman", "Northwind Traders", "priya@northwind.test"},
	{"Kenji Watanabe", "Osaka Robotics", "kenji@osakarobotics.test"},
	{"Emily Chen", "Brightside Health", "emily.chen@brightside.test"},
}

func seedMatch(t *testing.T) *store.Store {
	t.Helper()
	st, _ := storetest.NewStore(t)
	for _, f := range matchFixture {
		name, company, email := f.name, f.company, f.email
		if _, err := st.CreateLead(context.Background(), store.LeadInput{Name: &name, Company: &company, Email: &email}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	return st
}

func TestMatchLeads(t *testing.T) {
	t.Parallel()
	st := seedMatch(t)
	tests := []struct {
		query string
		// want is the best match, ahead of the next by more than
		// store.AmbiguityMargin; "" when the query must be ambiguous or match nothing.
		want string
		// tied lists the leads that must score about equally at the top.
		tied []string
		none bool
	}{
		{query: "Jane Doe", want: "Jane Doe"},
		{query: "jane doe", want: "Jane Doe"},
		{query: "JANE DOE", want: "Jane Doe"},
		{query: "  jane   doe ", want: "Jane Doe"},
		{query: "jnae doe", want: "Jane Doe"},
		{query: "Jane Doerr", want: "Jane Doerr"},
		{query: "jane smith", want: "Jane Smith"},
		{query: "jane@example.com", want: "Jane Doe"},
		{query: "Example Corp", want: "Jane Doe"},
		{query: "exmaple", want: "Jane Doe"},
		{query: "jane from example", want: "Jane Doe"},
		{query: "Bob", want: "Bob Martin"},
		{query: "martn", want: "Bob Martin"},
		{query: "bob.martin@acme.test", want: "Bob Martin"},
		{query: "priya", want: "Priya Raman"},
		{query: "Priya Ramen", want: "Priya Raman"},
		{query: "kenj", want: "Kenji Watanabe"},
		{query: "watanabe", want: "Kenji Watanabe"},
		{query: "osaka", want: "Kenji Watanabe"},
		{query: "brightside", want: "Emily Chen"},
		{query: "emily chen", want: "Emily Chen"},
		{query: "Jane", tied: []string{"Jane Doe", "Jane Doerr", "Jane Smith"}},
		{query: "acme", tied: []string{"Bob Martin", "Jane Smith"}},
		{query: "zebulon", none: true},
		{query: "", none: true},
		// PostgreSQL's levenshtein refuses words of more than 255 characters.
		{query: strings.Repeat("x", 256), none: true},
		{query: "bob " + strings.Repeat("é", 300), none: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := st.MatchLeads(context.Background(), tt.query, 5)
			if err != nil {
				t.Fatal(err)
			}
			if tt.none {
				if len(got) != 0 {
					t.Errorf("got %s, want no match", describe(got))
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("got no match, want %q %v", tt.want, tt.tied)
			}
			if tt.want != "" {
				if got[0].Lead.Name != tt.want {
					t.Errorf("best match: got %s, want %s", describe(got), tt.want)
				}
				if len(got) > 1 && got[0].Score-got[1].Score <= store.AmbiguityMargin {
					t.Errorf("got %s, want %s ahead by more than %v", describe(got), tt.want, store.AmbiguityMargin)
				}
				return
			}
			if len(got) < len(tt.tied) {
				t.Fatalf("got %s, want at least %v tied", describe(got), tt.tied)
			}
			for _, m := range got[:len(tt.tied)] {
				if got[0].Score-m.Score > store.AmbiguityMargin {
					t.Errorf("got %s, want %v within %v of each other", describe(got), tt.tied, store.AmbiguityMargin)
				}
			}
		})
	}
}

func describe(ms []store.LeadMatch) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s=%.2f", m.Lead.Name, m.Score)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
