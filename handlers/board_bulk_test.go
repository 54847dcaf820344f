package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestBoardBulk drives the bulk bar's form route: a move (into a lost stage,
// with the reason), an assign, a delete, each with its Undo; bad input is a
// 4xx that changes nothing.
func TestBoardBulk(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleMember)
	b := e.browser("ann@example.com")
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"Jane", "Bob", "Kim"} {
		l, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo(n)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID.String())
	}
	all := strings.Join(ids, ",")
	post := func(form url.Values) response {
		t.Helper()
		return e.postForm(b, "/board/bulk", form, "HX-Request", "true")
	}
	undoURL := regexp.MustCompile(`hx-post="(/board/bulk/[0-9a-f-]{36}/undo)"`)
	undo := func(r response, want string) {
		t.Helper()
		m := undoURL.FindStringSubmatch(string(r.body))
		if m == nil {
			t.Fatalf("no Undo in %s", r.body)
		}
		u := e.postForm(b, m[1], url.Values{}, "HX-Request", "true")
		if u.status != http.StatusOK || !strings.Contains(string(u.body), want) {
			t.Errorf("undo: got %d %s, want 200 with %q", u.status, u.body, want)
		}
		// Undo clicked again (another tab, a double click): 409, saying so.
		u = e.postForm(b, m[1], url.Values{}, "HX-Request", "true")
		if u.status != http.StatusConflict || !strings.Contains(string(u.body), "This bulk action was undone already.") {
			t.Errorf("second undo: got %d %s, want 409 saying it was undone already", u.status, u.body)
		}
	}

	r := post(url.Values{"ids": {all}, "action": {"move"}, "status": {"Closed lost"}, "lost_reason": {"price"}, "lost_note": {"All three."}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Moved 3 leads to Closed lost (Price).") {
		t.Fatalf("move: got %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE status = 'Closed lost' AND lost_reason = 'Price' AND lost_note = 'All three.'`); n != 3 {
		t.Errorf("moved with the reason: got %d, want 3", n)
	}
	undo(r, "Put back 3 leads.")
	if n := e.count(`SELECT count(*) FROM leads WHERE status = 'Interest'`); n != 3 {
		t.Errorf("after undo in Interest: got %d, want 3", n)
	}

	r = post(url.Values{"ids": {ids[0] + "," + ids[1]}, "action": {"assign"}, "owner": {ann.Email}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Gave 2 leads to "+ann.Name+".") {
		t.Errorf("assign: got %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE owner_id = $1`, ann.ID); n < 2 {
		t.Errorf("assigned: got %d, want at least 2", n)
	}

	r = post(url.Values{"ids": {all}, "action": {"delete"}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Deleted 3 leads; they are in the trash.") {
		t.Fatalf("delete: got %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM leads`); n != 0 {
		t.Errorf("after delete: %d leads on the board, want 0", n)
	}
	undo(r, "Put back 3 leads.")
	if n := e.count(`SELECT count(*) FROM leads`); n != 3 {
		t.Errorf("after undoing the delete: %d leads, want 3", n)
	}

	// Refusals: 4xx, nothing changed.
	if err := e.st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"ids": {all}, "action": {"move"}, "status": {"Closed lost"}}, "lost_reason"},
		{url.Values{"ids": {all}, "action": {"move"}, "status": {"Nowhere"}}, "must be one of"},
		{url.Values{"ids": {"not-an-id"}, "action": {"delete"}}, "not-an-id is not one"},
		{url.Values{"ids": {""}, "action": {"delete"}}, "at least one"},
		{url.Values{"ids": {all}, "action": {"burn"}}, "move, assign or delete"},
		{url.Values{"ids": {all}, "action": {"assign"}, "owner": {"nobody@example.com"}}, "active user"},
		{url.Values{"ids": {all}, "action": {"delete"}, "versions": {`{"` + ids[0] + `": 999}`}}, "changed by someone meanwhile"},
		{url.Values{"ids": {all}, "action": {"delete"}, "versions": {`[1]`}}, "versions"},
		{url.Values{"ids": {ids[0] + ",00000000-0000-0000-0000-000000000000"}, "action": {"delete"}}, "no longer exist"},
	} {
		r := post(tc.form)
		if r.status < 400 || r.status >= 500 || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%v: got %d %s, want 4xx with %q", tc.form, r.status, r.body, tc.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE status = 'Interest'`); n != 3 {
		t.Errorf("after refusals in Interest: got %d, want 3", n)
	}
	if r := e.postForm(b, "/board/bulk/00000000-0000-0000-0000-000000000000/undo", url.Values{}, "HX-Request", "true"); r.status != http.StatusNotFound {
		t.Errorf("undo of no action: got %d, want 404", r.status)
	}
}
