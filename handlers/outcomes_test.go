package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// apiLead sends an API request with token and returns the status and the
// lead (or error) object answered.
func (e *authEnv) apiLead(token, method, path, body string) (int, map[string]any) {
	e.t.Helper()
	r := e.bearer(nil, token, method, path, body)
	return r.status, r.json(e.t)
}

func fieldMsg(obj map[string]any, field string) string {
	fields, _ := obj["fields"].(map[string]any)
	msg, _ := fields[field].(string)
	return msg
}

func ownerEmail(obj map[string]any) any {
	o, ok := obj["owner"].(map[string]any)
	if !ok {
		return obj["owner"]
	}
	return o["email"]
}

func TestAPIOwner(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	token := handlers.TokenForTest(t, e.st, ann, "sync")

	st, l := e.apiLead(token, "POST", "/leads/", `{"name": "Jane"}`)
	if st != http.StatusCreated || ownerEmail(l) != ann.Email {
		t.Fatalf("create: %d, owner %v; want 201 owned by the token's user", st, l["owner"])
	}
	if o := l["owner"].(map[string]any); o["id"] != ann.ID.String() || o["name"] != ann.Name {
		t.Errorf("owner object: %v", o)
	}
	for _, k := range []string{"closed_at", "lost_reason", "lost_note", "stage_entered_at"} {
		if _, ok := l[k]; !ok {
			t.Errorf("lead JSON has no %q", k)
		}
	}
	id := l["id"].(string)
	path := "/leads/" + id + "/"
	for _, tc := range []struct {
		body  string
		want  any
		field string
	}{
		{`{"owner": "BOB@example.com"}`, bob.Email, ""},
		{`{"owner": "` + ann.ID.String() + `"}`, ann.Email, ""},
		{`{"owner": {"id": "` + bob.ID.String() + `", "name": "x"}}`, bob.Email, ""},
		{`{"owner": "nobody@example.com"}`, nil, "owner"},
		{`{"owner": 12}`, nil, "owner"},
		{`{"owner": null}`, nil, ""},
	} {
		st, got := e.apiLead(token, "PATCH", path, tc.body)
		if tc.field != "" {
			if st != http.StatusBadRequest || !strings.Contains(fieldMsg(got, tc.field), "user") {
				t.Errorf("%s: %d %v; want 400 naming owner", tc.body, st, got)
			}
			continue
		}
		if st != http.StatusOK || ownerEmail(got) != tc.want {
			t.Errorf("%s: %d, owner %v; want 200 and %v", tc.body, st, got["owner"], tc.want)
		}
	}
	if st, got := e.apiLead(token, "POST", "/leads/", `{"name": "Kim", "owner": "bob@example.com"}`); st != http.StatusCreated || ownerEmail(got) != bob.Email {
		t.Errorf("create with owner: %d %v", st, got["owner"])
	}
	if st, got := e.apiLead(token, "POST", "/leads/", `{"name": "Lee", "owner": "x@example.com"}`); st != http.StatusBadRequest || fieldMsg(got, "owner") == "" {
		t.Errorf("create with an unknown owner: %d %v", st, got)
	}
}

func TestAPIFieldTableLimits(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	token := handlers.TokenForTest(t, e.st, ann, "sync")
	for field, max := range map[string]int{"name": store.MaxNameLen, "company": store.MaxCompanyLen, "source": store.MaxSourceLen, "lost_note": store.MaxLostNoteLen} {
		body := `{"name": "A", "` + field + `": "` + strings.Repeat("x", max+1) + `"}`
		st, got := e.apiLead(token, "POST", "/leads/", body)
		if st != http.StatusBadRequest || !strings.Contains(fieldMsg(got, field), "at most") {
			t.Errorf("%s too long: %d %v; want 400 naming %s", field, st, got["fields"], field)
		}
	}
	if n := e.count("SELECT count(*) FROM leads"); n != 0 {
		t.Errorf("leads after refusals: %d, want 0", n)
	}
}

func TestAPILostReasonAndClosedAt(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	token := handlers.TokenForTest(t, e.st, ann, "sync")
	ctx := context.Background()
	_, l := e.apiLead(token, "POST", "/leads/", `{"name": "Bob", "status": "Negotiation"}`)
	path := "/leads/" + l["id"].(string) + "/"

	// Optional (the default): the original API's move works as it did.
	st, got := e.apiLead(token, "PUT", path+"status/", `{"status": "Closed lost"}`)
	if st != http.StatusOK || got["closed_at"] == nil || got["lost_reason"] != "" {
		t.Fatalf("optional lost move: %d %v", st, got)
	}
	st, got = e.apiLead(token, "PUT", path+"status/", `{"status": "Negotiation"}`)
	if st != http.StatusOK || got["closed_at"] != nil {
		t.Fatalf("reopen: %d closed_at %v", st, got["closed_at"])
	}

	if err := e.st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", path + "status/", `{"status": "Closed lost"}`},
		{"PUT", path + "status/", `{"status": "Closed lost", "lost_reason": ""}`},
		{"PATCH", path, `{"status": "Closed lost"}`},
		{"PUT", path, `{"status": "Closed lost", "lost_note": "no reason"}`},
	} {
		st, got := e.apiLead(token, tc.method, tc.path, tc.body)
		if st != http.StatusBadRequest || !strings.Contains(fieldMsg(got, "lost_reason"), "lost_reason") {
			t.Errorf("%s %s %s: %d %v; want 400 naming lost_reason", tc.method, tc.path, tc.body, st, got)
		}
	}
	if st, got := e.apiLead(token, "GET", path, ""); st != http.StatusOK || got["status"] != "Negotiation" {
		t.Fatalf("after refusals: %d %v", st, got["status"])
	}

	st, got = e.apiLead(token, "PUT", path+"status/", `{"status": "Closed lost", "lost_reason": "price", "lost_note": "Too dear."}`)
	if st != http.StatusOK || got["lost_reason"] != "Price" || got["lost_note"] != "Too dear." || got["closed_at"] == nil {
		t.Fatalf("lost with a reason: %d %v", st, got)
	}
	st, got = e.apiLead(token, "PATCH", path, `{"status": "Interest"}`)
	if st != http.StatusOK || got["closed_at"] != nil || got["lost_reason"] != "Price" {
		t.Fatalf("reopen by update: %d %v", st, got)
	}
	st, got = e.apiLead(token, "PATCH", path, `{"status": "Closed lost", "lost_reason": "Chose a rival"}`)
	if st != http.StatusOK || got["lost_reason"] != "Chose a rival" || got["lost_note"] != "" {
		t.Fatalf("lost by update with free text: %d %v", st, got)
	}
	if st, got := e.apiLead(token, "PUT", path+"status/", `{"status": "Interest", "lost_reason": "Price"}`); st != http.StatusBadRequest || fieldMsg(got, "lost_reason") == "" {
		t.Errorf("a reason on a move to an open stage: %d %v", st, got)
	}

	// Won: the move may carry the final value.
	st, got = e.apiLead(token, "PUT", path+"status/", `{"status": "Closed won", "value": "12500.50"}`)
	if st != http.StatusOK || got["value"] != 12500.5 || got["closed_at"] == nil {
		t.Fatalf("won with a value: %d %v", st, got)
	}
	if st, got := e.apiLead(token, "PUT", path+"status/", `{"status": "Closed won", "value": "-1"}`); st != http.StatusBadRequest || fieldMsg(got, "value") == "" {
		t.Errorf("won with a bad value: %d %v", st, got)
	}
}

func TestBoardOwnerAndLostReason(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	annB := e.browser(ann.Email)
	ctx := context.Background()

	// The create form preselects the creator and lists the users.
	doc := e.get(annB, "/board/leads/new", "HX-Request", "true").doc(t)
	if got := doc.Find(`select[name=owner] option[selected]`).AttrOr("value", ""); got != ann.Email {
		t.Errorf("new form's owner: got %q, want %q", got, ann.Email)
	}
	if n := doc.Find(`select[name=owner] option`).Length(); n != 3 {
		t.Errorf("owner options: got %d, want nobody + 2 users", n)
	}
	form := url.Values{"name": {"Jane"}, "status": {"Interest"}, "owner": {bob.Email}}
	if r := e.postForm(annB, "/board/leads", form, "HX-Request", "true"); r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var id string
	if err := e.pool.QueryRow(ctx, `SELECT id::text FROM leads WHERE name = 'Jane' AND owner_id = $1`, bob.ID).Scan(&id); err != nil {
		t.Fatalf("Jane owned by bob: %v", err)
	}
	board := e.get(annB, "/").doc(t)
	if owner := board.Find(`.card[data-id="` + id + `"] .card-owner`); owner.Find(`[aria-hidden]`).Text() != "B" || owner.AttrOr("title", "") != "Owner: "+bob.Name {
		t.Errorf("card owner: %q %q", owner.Text(), owner.AttrOr("title", ""))
	}

	// A field over its limit comes back naming the field.
	long := url.Values{"name": {"X"}, "company": {strings.Repeat("c", store.MaxCompanyLen+1)}, "status": {"Interest"}}
	r := e.postForm(annB, "/board/leads", long, "HX-Request", "true")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.doc(t).Find("#lead-company-error").Text(), "at most 200") {
		t.Errorf("long company: %d %q", r.status, r.doc(t).Find("#lead-company-error").Text())
	}

	// Required reason: the form, the board move refuse alike; nothing changes.
	if err := e.st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	edit := url.Values{"name": {"Jane"}, "status": {"Closed lost"}}
	r = e.postForm(annB, "/board/leads/"+id, edit, "HX-Request", "true")
	if msg := r.doc(t).Find("#lead-lost_reason-error").Text(); r.status != http.StatusUnprocessableEntity || !strings.Contains(msg, "lost_reason") {
		t.Errorf("form into lost without a reason: %d %q", r.status, msg)
	}
	r = e.postForm(annB, "/board/leads/"+id+"/move", url.Values{"status": {"Closed lost"}}, "HX-Request", "true")
	if r.status < 400 || r.status >= 500 || !strings.Contains(string(r.body), "lost_reason") {
		t.Errorf("board move into lost without a reason: %d", r.status)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND status = 'Interest' AND closed_at IS NULL`, id); n != 1 {
		t.Errorf("after refusals the lead moved")
	}
	edit.Set("lost_reason", "no budget")
	edit.Set("lost_note", "Next year.")
	if r := e.postForm(annB, "/board/leads/"+id, edit, "HX-Request", "true"); r.status != http.StatusOK {
		t.Fatalf("form into lost with a reason: %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE id = $1 AND lost_reason = 'No budget' AND lost_note = 'Next year.' AND closed_at IS NOT NULL`, id); n != 1 {
		t.Errorf("lost by form: not stored")
	}
	// The dialog of a lost lead shows its reason and note.
	doc = e.get(annB, "/board/leads/"+id, "HX-Request", "true").doc(t)
	if got := doc.Find(`input[name=lost_reason]`).AttrOr("value", ""); got != "No budget" {
		t.Errorf("dialog's lost reason: %q", got)
	}
	// Optional: a board move into lost without a reason is taken.
	if err := e.st.UpdatePipelineSettings(ctx, store.PipelineSettings{}); err != nil {
		t.Fatal(err)
	}
	other, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Kim")})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.postForm(annB, "/board/leads/"+other.ID.String()+"/move", url.Values{"status": {"Closed lost"}}, "HX-Request", "true"); r.status != http.StatusOK {
		t.Errorf("optional board move: %d", r.status)
	}

	// A deactivated owner stays on the select of their lead.
	if _, err := e.st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	doc = e.get(annB, "/board/leads/"+id, "HX-Request", "true").doc(t)
	if got := doc.Find(`select[name=owner] option[selected]`).Text(); !strings.Contains(got, "deactivated") {
		t.Errorf("deactivated owner's option: %q", got)
	}
}

func TestAdminReassignLeads(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	root := e.browser(ann.Email)
	ctx := context.Background()
	for _, name := range []string{"B1", "B2", "B3"} {
		if _, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo(name), Owner: ptrTo(bob.Email)}); err != nil {
			t.Fatal(err)
		}
	}
	wantRedirect(t, "deactivate bob", e.postForm(root, "/admin/users/"+bob.ID.String()+"/deactivate", nil), "/admin/users?done=deactivated")
	if n := e.count(`SELECT count(*) FROM leads WHERE owner_id = $1`, bob.ID); n != 3 {
		t.Fatalf("bob's leads after deactivation: %d, want 3 kept", n)
	}
	page := e.get(root, "/admin/users").doc(t)
	if got := page.Find(`form[action="/admin/users/` + bob.ID.String() + `/reassign"] label`).Text(); !strings.Contains(got, "3 leads") {
		t.Errorf("reassign form label: %q", got)
	}
	bad := e.postForm(root, "/admin/users/"+bob.ID.String()+"/reassign", url.Values{"to": {bob.ID.String()}})
	wantStatus(t, "reassign to a deactivated user", bad, http.StatusUnprocessableEntity)
	wantStatus(t, "reassign to nobody", e.postForm(root, "/admin/users/"+bob.ID.String()+"/reassign", url.Values{"to": {"x"}}), http.StatusBadRequest)
	wantRedirect(t, "reassign", e.postForm(root, "/admin/users/"+bob.ID.String()+"/reassign", url.Values{"to": {ann.ID.String()}}), "/admin/users?done=reassigned")
	if n := e.count(`SELECT count(*) FROM leads WHERE owner_id = $1`, ann.ID); n != 3 {
		t.Errorf("ann's leads after reassign: %d, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM lead_events WHERE action = 'update' AND actor_user_id = $1 AND changes @> '[{"field": "owner", "old": "bob@example.com", "new": "ann@example.com"}]'`, ann.ID); n != 3 {
		t.Errorf("reassign events: %d, want 3", n)
	}
}

// TestBoardMergeKeepsOwnerAndNotes: one person changes the owner in the
// dialog while another changes the notes; both changes are kept (the form's
// version and base_<field> merge covers the table's new fields).
func TestBoardMergeKeepsOwnerAndNotes(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	annB := e.browser(ann.Email)
	asBob := store.WithActor(context.Background(), store.UserActor(bob))
	lead, err := e.st.CreateLead(asBob, store.LeadInput{Name: ptrTo("Jane"), Status: ptrTo("Closed lost"), LostReason: ptrTo("Price")})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	doc := e.get(annB, "/board/leads/"+lead.ID.String(), "HX-Request", "true").doc(t)
	doc.Find("#lead-form input[name], #lead-form textarea[name], #lead-form select[name]").Each(func(_ int, s *goquery.Selection) {
		name := s.AttrOr("name", "")
		switch {
		case goquery.NodeName(s) == "textarea":
			form.Set(name, s.Text())
		case goquery.NodeName(s) == "select":
			form.Set(name, s.Find("option[selected]").AttrOr("value", ""))
		default:
			form.Set(name, s.AttrOr("value", ""))
		}
	})
	if form.Get("base_owner") != bob.Email || form.Get("lost_reason") != "Price" {
		t.Fatalf("form: base_owner %q lost_reason %q", form.Get("base_owner"), form.Get("lost_reason"))
	}
	// Bob edits the note meanwhile.
	if _, err := e.st.UpdateLead(asBob, lead.ID, store.LeadInput{LostNote: ptrTo("They said next year.")}); err != nil {
		t.Fatal(err)
	}
	form.Set("owner", ann.Email)
	if r := e.postForm(annB, "/board/leads/"+lead.ID.String(), form, "HX-Request", "true"); r.status != http.StatusOK {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	got, err := e.st.GetLead(context.Background(), lead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner == nil || got.Owner.ID != ann.ID || got.LostNote != "They said next year." || got.LostReason != "Price" {
		t.Errorf("merged: owner %+v note %q reason %q", got.Owner, got.LostNote, got.LostReason)
	}
	// Both change the reason, differently: a conflict naming it.
	if _, err := e.st.UpdateLead(asBob, lead.ID, store.LeadInput{LostReason: ptrTo("No budget")}); err != nil {
		t.Fatal(err)
	}
	form.Set("owner", ann.Email)
	form.Set("base_owner", ann.Email)
	form.Set("version", "1")
	form.Set("lost_reason", "Bad timing")
	r := e.postForm(annB, "/board/leads/"+lead.ID.String(), form, "HX-Request", "true")
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "Lost reason") {
		t.Errorf("conflicting reasons: %d", r.status)
	}
}
