package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestBoardLostMove: the board's move takes the lost-reason dialog's answer
// (lost_reason, lost_note) as the API does; the page renders the dialog with
// the admin's reasons, and Skip only while a reason is optional.
func TestBoardLostMove(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	ann := e.browser("ann@example.com")
	ctx := context.Background()
	jane, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Jane")})
	if err != nil {
		t.Fatal(err)
	}
	id := jane.ID.String()
	move := func(form url.Values) response {
		t.Helper()
		return e.postForm(ann, "/board/leads/"+id+"/move", form, "HX-Request", "true")
	}

	doc := e.get(ann, "/").doc(t)
	dlg := doc.Find("dialog#lost-dialog")
	if dlg.Length() != 1 || dlg.AttrOr("aria-labelledby", "") != "lost-dialog-title" {
		t.Fatalf("board page: got %d labelled lost dialogs, want 1", dlg.Length())
	}
	if got := dlg.Find(`input[name=lost_choice][value="Went with a competitor"]`).Length(); got != 1 {
		t.Errorf("the dialog's reasons: got %d 'Went with a competitor', want 1", got)
	}
	if dlg.Find("[data-lost-skip]").Length() != 1 || dlg.Is("[data-required]") {
		t.Errorf("optional reason: want Skip offered and no data-required")
	}

	// Save: the reason in the list's spelling, the note, the message says it.
	r := move(url.Values{"status": {"Closed lost"}, "from": {"Interest"}, "lost_reason": {"price"}, "lost_note": {"Too dear."}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Moved Jane to Closed lost (Price).") {
		t.Fatalf("move with a reason: got %d %s, want 200 saying the reason", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND status = 'Closed lost' AND lost_reason = 'Price' AND lost_note = 'Too dear.' AND closed_at IS NOT NULL`, id); n != 1 {
		t.Errorf("lost with a reason: not stored")
	}
	// A reason for an open stage is refused naming the field; nothing moves.
	r = move(url.Values{"status": {"Interest"}, "lost_reason": {"Price"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "lost") {
		t.Errorf("a reason into an open stage: got %d, want 422", r.status)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND status = 'Closed lost'`, id); n != 1 {
		t.Errorf("the refused move moved the lead")
	}
	// Skip (no reason) while optional: moved, no reason.
	if r := move(url.Values{"status": {"Interest"}}); r.status != http.StatusOK {
		t.Fatalf("back to Interest: %d", r.status)
	}
	if r := move(url.Values{"status": {"Closed lost"}, "lost_reason": {"  "}}); r.status != http.StatusOK {
		t.Errorf("skip while optional: got %d, want 200", r.status)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND status = 'Closed lost' AND lost_reason = ''`, id); n != 1 {
		t.Errorf("skip while optional: want lost without a reason")
	}

	// Required: no Skip on the page; a move without a reason is refused naming
	// lost_reason and nothing changes; with one it is taken.
	if err := e.st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	if r := move(url.Values{"status": {"Interest"}}); r.status != http.StatusOK {
		t.Fatalf("back to Interest: %d", r.status)
	}
	dlg = e.get(ann, "/").doc(t).Find("dialog#lost-dialog")
	if dlg.Find("[data-lost-skip]").Length() != 0 || !dlg.Is("[data-required]") {
		t.Errorf("required reason: want no Skip and data-required")
	}
	r = move(url.Values{"status": {"Closed lost"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "lost_reason") {
		t.Errorf("skip while required: got %d, want 422 naming lost_reason", r.status)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND status = 'Interest'`, id); n != 1 {
		t.Errorf("the refused move moved the lead")
	}
	if r := move(url.Values{"status": {"Closed lost"}, "lost_reason": {"Bad fit"}}); r.status != http.StatusOK {
		t.Errorf("required, with free text: got %d, want 200", r.status)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND lost_reason = 'Bad fit'`, id); n != 1 {
		t.Errorf("free-text reason not stored")
	}
}
