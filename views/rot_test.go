package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
)

// TestCardRot: a card shows its days in stage; past the stage's rot_days it
// says "Going stale" in words, with an icon; a stage that never rots never
// marks it.
func TestCardRot(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	seven := 7
	d := BoardData{Now: now, Board: store.Board{Columns: []store.Column{
		{Stage: store.Stage{Name: "Meeting booked", RotDays: &seven}},
		{Stage: store.Stage{Name: "Closed won"}},
	}}}
	for _, tc := range []struct {
		status    string
		days      int
		stale     bool
		wantText  string
		wantTitle string
	}{
		{"Meeting booked", 0, false, "new in stage", "In this stage for 0 days"},
		{"Meeting booked", 7, false, "7 d in stage", "In this stage for 7 days"},
		{"Meeting booked", 8, true, "Going stale · 8 d in stage", "longer than its 7 days: going stale"},
		{"Closed won", 400, false, "400 d in stage", "In this stage for 400 days"},
	} {
		l := store.Lead{Name: "Jane", Status: tc.status, StageEnteredAt: now.Add(-time.Duration(tc.days)*24*time.Hour - time.Hour)}
		if got := d.RotOf(l); got.Stale != tc.stale || got.Days != tc.days {
			t.Errorf("%s after %d days: got %+v, want stale %v", tc.status, tc.days, got, tc.stale)
		}
		var b bytes.Buffer
		if err := Card(d, l).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		html := b.String()
		if !strings.Contains(html, tc.wantText) || !strings.Contains(html, tc.wantTitle) {
			t.Errorf("%s after %d days: card %s, want %q titled %q", tc.status, tc.days, html, tc.wantText, tc.wantTitle)
		}
		if strings.Contains(html, "card-stale") != tc.stale {
			t.Errorf("%s after %d days: stale mark %v, want %v", tc.status, tc.days, !tc.stale, tc.stale)
		}
	}
}
