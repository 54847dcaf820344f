package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// leadInColumn returns the lead's card_order in stage as GET /leads/ shows it,
// or -1.
func (e *authEnv) leadInColumn(token, stage, id string) (int, int) {
	e.t.Helper()
	r := e.bearer(nil, token, "GET", "/leads/", "")
	col, _ := r.json(e.t)[stage].([]any)
	for i, l := range col {
		if l.(map[string]any)["id"] == id {
			return i, len(col)
		}
	}
	return -1, len(col)
}

func TestTrashAndRestore(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleMember)
	token := handlers.TokenForTest(t, e.st, ann, "script")
	browser := e.browser("ann@example.com")
	if _, err := e.st.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	bob := findLead(t, e.st, "Bob Martin")
	id := bob.ID.String()

	// Deleted through the API: 204, gone from the lists, in the trash.
	wantStatus(t, "DELETE", e.bearer(nil, token, "DELETE", "/leads/"+id+"/", ""), http.StatusNoContent)
	if pos, _ := e.leadInColumn(token, "Interest", id); pos != -1 {
		t.Errorf("GET /leads/ after the delete: got Bob at %d, want him gone", pos)
	}
	wantStatus(t, "GET the deleted lead", e.bearer(nil, token, "GET", "/leads/"+id+"/", ""), http.StatusNotFound)
	trash := e.get(browser, "/trash").doc(t)
	row := trash.Find("#trash-" + id)
	if row.Length() != 1 || !strings.Contains(row.Text(), "by API token “script” of Ann") {
		t.Errorf("trash page: got %q, want Bob's row deleted by the token", strings.Join(strings.Fields(row.Text()), " "))
	}
	if !strings.Contains(row.Text(), "in 29 days") && !strings.Contains(row.Text(), "in 30 days") {
		t.Errorf("trash page: got %q, want it purged in 30 days", strings.Join(strings.Fields(row.Text()), " "))
	}

	// Restored through the API: back at the end of its column, with its id.
	r := e.bearer(nil, token, "POST", "/leads/"+id+"/restore/", "")
	wantStatus(t, "restore", r, http.StatusOK)
	pos, n := e.leadInColumn(token, "Interest", id)
	if pos != n-1 || r.json(t)["card_order"] != float64(n-1) {
		t.Errorf("restored lead: got position %d of %d (card_order %v), want the end", pos, n, r.json(t)["card_order"])
	}
	wantStatus(t, "restore again", e.bearer(nil, token, "POST", "/leads/"+id+"/restore/", ""), http.StatusNotFound)

	// Deleted from the board, restored from the trash page.
	wantRedirect(t, "board delete", e.postForm(browser, "/board/leads/"+id+"/delete", nil), "/")
	if e.get(browser, "/trash").doc(t).Find("#trash-"+id).Length() != 1 {
		t.Errorf("trash after the board's delete: got no row for Bob, want one")
	}
	wantRedirect(t, "restore from the trash page", e.postForm(browser, "/trash/"+id+"/restore", nil), "/trash?done=restored")
	if p, _ := e.leadInColumn(token, "Interest", id); p == -1 {
		t.Errorf("Bob after the trash page's restore: got him missing from Interest, want him back")
	}
	wantStatus(t, "restore a lead that is on the board", e.postForm(browser, "/trash/"+id+"/restore", nil), http.StatusNotFound)

	// The dialog's history tells the whole story, newest first.
	events := e.get(browser, "/board/leads/"+id).doc(t).Find("#lead-history li.event")
	var got []string
	events.Each(func(_ int, s *goquery.Selection) {
		got = append(got, s.AttrOr("data-action", "")+" by "+s.Find(".event-actor").Text())
	})
	want := []string{"restore by Ann", "delete by Ann", "restore by API token “script” of Ann", "delete by API token “script” of Ann", "create by system"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("history: got %q, want %q", got, want)
	}
}

// TestAssistantChangesInTheAuditTrail: what the assistant does is recorded as
// the assistant on behalf of the person who asked, and its delete goes to the
// trash like any other.
func TestAssistantChangesInTheAuditTrail(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.startWorker()
	e.user("ann@example.com", store.RoleMember)
	ann := e.browser("ann@example.com")
	if _, err := e.st.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	jane := findLead(t, e.st, "Jane Doe")

	e.chat(ann, "move Jane Doe to negotiation")
	e.chat(ann, "delete Jane Doe")
	if m := e.chat(ann, "yes"); m["state"] != "SUCCESS" {
		t.Fatalf("confirm the delete: got %v, want SUCCESS", m)
	}
	tl, err := e.st.GetTrashedLead(context.Background(), jane.ID)
	if err != nil || tl.DeletedBy != "assistant on behalf of Ann" {
		t.Fatalf("Jane in the trash: got %+v, %v; want her deleted by the assistant on behalf of Ann", tl, err)
	}
	page := e.get(ann, "/trash/"+jane.ID.String()).doc(t)
	var got []string
	page.Find("#lead-history li.event").Each(func(_ int, s *goquery.Selection) {
		got = append(got, s.AttrOr("data-action", "")+" by "+s.Find(".event-actor").Text())
	})
	// The assistant moves a lead by changing its stage: recorded as a move, as
	// every path that changes the stage is.
	want := []string{"delete by assistant on behalf of Ann", "move by assistant on behalf of Ann", "create by system"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("history on the trash page: got %q, want %q", got, want)
	}
	move := page.Find(`#lead-history li[data-action=move] li[data-field=status]`)
	if old, nw := move.Find(".change-old").Text(), move.Find(".change-new").Text(); old != "Interest" || nw != "Negotiation" {
		t.Errorf("the move's stage: got %q → %q, want Interest → Negotiation", old, nw)
	}

	wantRedirect(t, "restore", e.postForm(ann, "/trash/"+jane.ID.String()+"/restore", nil), "/trash?done=restored")
	back, err := e.st.GetLead(context.Background(), jane.ID)
	if err != nil || back.Status != "Negotiation" || back.Name != "Jane Doe" || back.Notes != jane.Notes {
		t.Errorf("Jane restored: got %+v, %v; want her back in Negotiation with her notes", back, err)
	}
}

func TestTrashPurge(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	ann := e.browser("ann@example.com")
	ctx := context.Background()
	l, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Old Lead")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DeleteLead(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	// The purge of today keeps it; the purge as of 30 days and a minute later
	// removes it with its history.
	if err := handlers.PurgeTrash(ctx, e.st, discardLog(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if e.get(ann, "/trash").doc(t).Find("#trash-"+l.ID.String()).Length() != 1 {
		t.Errorf("trash after today's purge: got no row, want the lead kept")
	}
	if err := handlers.PurgeTrash(ctx, e.st, discardLog(), time.Now().Add(store.TrashRetention+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if e.get(ann, "/trash").doc(t).Find("#trash-"+l.ID.String()).Length() != 0 {
		t.Errorf("trash after the purge past retention: got the lead, want it gone")
	}
	wantStatus(t, "the purged lead's page", e.get(ann, "/trash/"+l.ID.String()), http.StatusNotFound)
	if n := e.count("SELECT count(*) FROM lead_events WHERE lead_id = $1", l.ID); n != 0 {
		t.Errorf("history of the purged lead: got %d events, want 0", n)
	}

	// A round of the worker's housekeeping: today it keeps a lead trashed
	// today, 30 days on it purges it; expired sessions go.
	l2, _ := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Kept Lead")})
	if _, err := e.st.DeleteLead(ctx, l2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, "UPDATE user_sessions SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	if err := handlers.Housekeep(ctx, e.st, discardLog(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetTrashedLead(ctx, l2.ID); err != nil {
		t.Errorf("a lead trashed today after housekeeping: got %v, want it kept", err)
	}
	if n := e.count("SELECT count(*) FROM user_sessions"); n != 0 {
		t.Errorf("expired sessions after housekeeping: got %d, want 0", n)
	}
	if err := handlers.Housekeep(ctx, e.st, discardLog(), time.Now().Add(store.TrashRetention+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetTrashedLead(ctx, l2.ID); err == nil {
		t.Errorf("a lead trashed 30 days before housekeeping: got it kept, want it purged")
	}
}

func findLead(t *testing.T, st *store.Store, name string) store.Lead {
	t.Helper()
	b, err := st.ListBoard(context.Background(), store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.Columns {
		for _, l := range c.Leads {
			if l.Name == name {
				return l
			}
		}
	}
	t.Fatalf("lead %q: got none, want one", name)
	return store.Lead{}
}
