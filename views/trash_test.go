package views

import (
	"testing"
	"time"

	"github.com/crmteam/crm/store"
)

// TestPurgeIn: a lead deleted a moment ago is purged "in 30 days", as the
// trash page says, and the count rounds up all the way down.
func TestPurgeIn(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		deleted time.Duration // how long ago
		want    string
	}{
		{2 * time.Second, "in 30 days"},
		{24 * time.Hour, "in 29 days"},
		{store.TrashRetention - 47*time.Hour - 30*time.Minute, "in 48 hours"},
		{store.TrashRetention - 2*time.Hour - time.Minute, "in 3 hours"},
		{store.TrashRetention - 30*time.Minute, "within the hour"},
		{store.TrashRetention + time.Minute, "at the next purge"},
	} {
		l := store.TrashedLead{DeletedAt: now.Add(-tc.deleted)}
		if got := purgeIn(l, now); got != tc.want {
			t.Errorf("deleted %v ago: got %q, want %q", tc.deleted, got, tc.want)
		}
	}
}
