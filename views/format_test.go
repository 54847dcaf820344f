package views

import (
	"testing"
	"time"

	"github.com/crmteam/crm/store"
)

func TestMoney(t *testing.T) {
	for _, tt := range []struct {
		in        store.Money
		want      string
		wantShort string
	}{
		{0, "$0", "$0"},
		{5, "$0.05", "$0"},
		{950_00, "$950", "$950"},
		{1_000_00, "$1,000", "$1k"},
		{1_999_50, "$1,999.50", "$2k"},
		{75_000_00, "$75,000", "$75k"},
		{389_000_00, "$389,000", "$389k"},
		{1_250_000_00, "$1,250,000", "$1.2M"},
		{12_345_678_901_23, "$12,345,678,901.23", "$12.3B"},
	} {
		if got := Money(tt.in); got != tt.want {
			t.Errorf("Money(%d) got %q, want %q", tt.in, got, tt.want)
		}
		if got := MoneyShort(tt.in); got != tt.wantShort {
			t.Errorf("MoneyShort(%d) got %q, want %q", tt.in, got, tt.wantShort)
		}
	}
}

func TestMoneyInput(t *testing.T) {
	for in, want := range map[store.Money]string{0: "", 12_500_00: "12500", 1_999_50: "1999.50", 7: "0.07"} {
		if got := MoneyInput(in); got != want {
			t.Errorf("MoneyInput(%d) got %q, want %q", in, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		before time.Duration
		want   string
	}{
		{10 * time.Second, "just now"},
		{5 * time.Minute, "5 min ago"},
		{3 * time.Hour, "3 h ago"},
		{30 * time.Hour, "yesterday"},
		{4 * 24 * time.Hour, "4 days ago"},
		{20 * 24 * time.Hour, "18 Feb"},
		{400 * 24 * time.Hour, "3 Feb 2025"},
	} {
		if got := Ago(now.Add(-tt.before), now); got != tt.want {
			t.Errorf("Ago(now-%s) got %q, want %q", tt.before, got, tt.want)
		}
	}
}

func TestIDs(t *testing.T) {
	if got, want := ColumnID("Meeting booked").Sel(), "#"+ColumnID("Meeting booked").String(); got != want {
		t.Errorf("Sel got %q, want %q", got, want)
	}
	// Names that slug alike still get distinct ids.
	seen := map[ID]string{}
	for _, name := range []string{"Won!", "Won?", "won", "Meeting booked", "meeting-booked", "Ünïcode stage", ""} {
		id := ColumnID(name)
		if prev, dup := seen[id]; dup {
			t.Errorf("ColumnID(%q) = ColumnID(%q) = %q, want distinct ids", name, prev, id)
		}
		seen[id] = name
		for _, r := range id.String() {
			if !(r == '-' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
				t.Errorf("ColumnID(%q) = %q: got character %q, want only [a-z0-9-]", name, id, r)
			}
		}
	}
}

func TestURLs(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{BoardURL(""), "/"},
		{BoardURL("a&b c"), "/?q=a%26b+c"},
		{NewLeadURL("Meeting booked"), "/board/leads/new?status=Meeting+booked"},
		{CardsURL("Interest", 49, ""), "/board/cards?after=49&status=Interest"},
		{CardsURL("Interest", 49, "x"), "/board/cards?after=49&q=x&status=Interest"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
