package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestPipelinePage drives the admins' pipeline settings page with its forms:
// add, rename, move up (the keyboard's way to reorder), a whole order (a
// drag), delete with the leads going elsewhere, refusals shown on the page,
// the lost reasons and the "reason required" switch. Members are refused.
func TestPipelinePage(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("root@example.com", store.RoleAdmin)
	e.user("mem@example.com", store.RoleMember)
	root, member := e.browser("root@example.com"), e.browser("mem@example.com")
	ctx := context.Background()
	lead, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptr("Jane Doe"), Status: ptr("Proposal sent")})
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		stages, err := e.st.Stages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return stageNames(stages)
	}
	idOf := func(name string) string {
		stages, _ := e.st.Stages(ctx)
		for _, s := range stages {
			if s.Name == name {
				return strconv.Itoa(s.ID)
			}
		}
		t.Fatalf("no stage %s", name)
		return ""
	}
	post := func(path string, form url.Values, want int, text string) {
		t.Helper()
		r := e.postForm(root, path, form)
		if r.status != want || !strings.Contains(string(r.body), text) {
			t.Errorf("POST %s %v: got %d, want %d with %q", path, form, r.status, want, text)
		}
	}

	page := e.get(root, "/admin/pipeline")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `<label for="stage-1-name">Name</label>`) {
		t.Fatalf("the page: got %d, want 200 with a labelled name per stage", page.status)
	}
	if r := e.get(member, "/admin/pipeline"); r.status != http.StatusForbidden {
		t.Errorf("a member: got %d, want 403", r.status)
	}

	post("/admin/pipeline/stages", url.Values{"name": {"Qualified"}, "kind": {"open"}, "probability": {"20"}, "rot_days": {""}}, 200, "Added the stage Qualified")
	post("/admin/pipeline/stages/"+idOf("Qualified"), url.Values{"name": {"Vetted"}, "kind": {"open"}, "probability": {"30"}, "rot_days": {"9"}}, 200, "Saved the stage Vetted")
	post("/admin/pipeline/stages/"+idOf("Vetted")+"/move", url.Values{"position": {"3"}}, 200, "Vetted is now stage 4")
	if got, want := names(), []string{"Interest", "Meeting booked", "Proposal sent", "Vetted", "Negotiation", "Closed won", "Closed lost"}; !slices.Equal(got, want) {
		t.Errorf("after add, rename, move up: got %v, want %v", got, want)
	}
	order := url.Values{}
	for _, n := range []string{"Vetted", "Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"} {
		order.Add("order", idOf(n))
	}
	post("/admin/pipeline/stages/order", order, 200, "Saved the order")
	if got := names()[0]; got != "Vetted" {
		t.Errorf("after the drag: first stage %s, want Vetted", got)
	}
	post("/admin/pipeline/stages/"+idOf("Proposal sent")+"/delete", url.Values{"move_to": {idOf("Vetted")}}, 200, "1 lead moved")
	if l, err := e.st.GetLead(ctx, lead.ID); err != nil || l.Status != "Vetted" {
		t.Errorf("Jane after her stage was deleted: got %v %v, want in Vetted", l.Status, err)
	}

	// Refusals: the page again with the reason, nothing changed.
	before := names()
	post("/admin/pipeline/stages", url.Values{"name": {"vetted"}}, 409, "exists already")
	post("/admin/pipeline/stages/"+idOf("Vetted"), url.Values{"probability": {"300"}}, 400, "probability must be")
	post("/admin/pipeline/stages/"+idOf("Closed won")+"/delete", url.Values{"move_to": {idOf("Vetted")}}, 409, "at least one won stage")
	post("/admin/pipeline/stages/"+idOf("Vetted")+"/delete", url.Values{"move_to": {idOf("Vetted")}}, 400, "move to must be another stage")
	if got := names(); !slices.Equal(got, before) {
		t.Errorf("after refusals: got %v, want %v", got, before)
	}

	post("/admin/pipeline/reasons", url.Values{"name": {"Too slow"}}, 200, "Added the lost reason Too slow")
	reasons, err := e.st.ListLostReasons(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(int(reasons[0].ID))
	post("/admin/pipeline/reasons/"+id, url.Values{"name": {"Pricing"}, "active": {"false"}}, 200, "Retired the lost reason Pricing")
	post("/admin/pipeline/settings", url.Values{"lost_reason_required": {"1"}}, 200, "now required")
	if s, err := e.st.GetPipelineSettings(ctx); err != nil || !s.LostReasonRequired {
		t.Errorf("settings: got %+v %v, want a reason required", s, err)
	}
	active, err := e.st.ListLostReasons(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.Name == "Pricing" {
			t.Error("a retired reason is still offered")
		}
	}
}
