package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// formValues reads what the lead form of p would post: every input, the
// selected options and the text areas.
func (p page) formValues(t *testing.T) url.Values {
	t.Helper()
	form := p.doc.Find(views.LeadFormID.Sel())
	if form.Length() == 0 {
		t.Fatalf("no lead form in:\n%.2000s", p.rec.Body.String())
	}
	v := url.Values{}
	form.Find("input[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		typ, _ := s.Attr("type")
		if typ == "radio" {
			if _, checked := s.Attr("checked"); !checked {
				return
			}
		}
		val, _ := s.Attr("value")
		v.Add(name, val)
	})
	form.Find("select[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		val, _ := s.Find("option[selected]").Attr("value")
		v.Set(name, val)
	})
	form.Find("textarea[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		v.Set(name, strings.TrimPrefix(s.Text(), "\n"))
	})
	return v
}

// annContext returns a context whose changes the audit trail records as those
// of the user Ann Lee.
func annContext(t *testing.T, st *store.Store) context.Context {
	t.Helper()
	u := UserForTest(t, st, "ann@example.com", store.RoleMember)
	u.Name = "Ann Lee"
	return store.WithActor(context.Background(), store.UserActor(u))
}

func TestBoardStaleMoveRefused(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	asAnn := annContext(t, st)
	jane := newLead(t, st, "Jane Doe", "Example Corp", "Interest", 1000_00)
	newLead(t, st, "Bob Roe", "", "Interest", 0)
	seen := send(t, h, http.MethodGet, "/", nil, false)
	version := seen.attr(views.CardID(jane.ID).Sel(), "data-version")
	if version == "" {
		t.Fatalf("card of Jane Doe: no data-version")
	}
	// Drops, the move menu and the keyboard send the card's data-version
	// (app.js postMove and onDrop); there are no per-card move controls.
	if _, err := st.MoveLead(asAnn, jane.ID, "Negotiation", 0); err != nil {
		t.Fatal(err)
	}
	p := send(t, h, http.MethodPost, views.MovePath(jane.ID), url.Values{
		"status": {"Interest"}, "from": {"Interest"}, "order": {"1"}, "version": {version},
	}, true)
	p.wantStatus(t, http.StatusConflict)
	msg := p.text(".toast-error p")
	if !strings.Contains(msg, "Ann Lee moved Jane Doe to Negotiation") || !strings.Contains(msg, "not made") {
		t.Errorf("message got %q, want it to say Ann Lee moved Jane Doe to Negotiation and the move was not made", msg)
	}
	if got := p.cardNames("Negotiation"); len(got) != 1 || got[0] != "Jane Doe" {
		t.Errorf("Negotiation in the re-rendered board: got %v, want [Jane Doe] (where the card really is)", got)
	}
	if got := p.cardNames("Interest"); len(got) != 1 || got[0] != "Bob Roe" {
		t.Errorf("Interest in the re-rendered board: got %v, want [Bob Roe]", got)
	}
	if now, _ := st.GetLead(context.Background(), jane.ID); now.Status != "Negotiation" {
		t.Errorf("after the refused move Jane Doe is in %s, want Negotiation", now.Status)
	}
	// The version the board now shows moves it.
	fresh := p.attr(views.CardID(jane.ID).Sel(), "data-version")
	p = send(t, h, http.MethodPost, views.MovePath(jane.ID), url.Values{
		"status": {"Interest"}, "from": {"Negotiation"}, "order": {"1"}, "version": {fresh},
	}, true)
	p.wantStatus(t, http.StatusOK)
	if got := p.cardNames("Interest"); len(got) != 2 || got[1] != "Jane Doe" {
		t.Errorf("Interest after a move with the current version: got %v, want [Bob Roe Jane Doe]", got)
	}
}

func TestBoardEditMerges(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	asAnn := annContext(t, st)
	jane := newLead(t, st, "Jane Doe", "Example Corp", "Interest", 1000_00)
	form := send(t, h, http.MethodGet, views.LeadPath(jane.ID), nil, true).formValues(t)
	if form.Get("version") == "" || form.Get("base_value") != "1000" {
		t.Fatalf("edit form: version %q, base_value %q; want the version and the value shown", form.Get("version"), form.Get("base_value"))
	}
	// Ann changes the value and moves the lead; this person adds a note.
	if _, err := st.UpdateLead(asAnn, jane.ID, store.LeadInput{Value: ptrTo(store.Money(99_000_00))}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveLead(asAnn, jane.ID, "Negotiation", 0); err != nil {
		t.Fatal(err)
	}
	form.Set("notes", "Called on Monday.\r\nLikes blue.")
	p := send(t, h, http.MethodPost, views.LeadPath(jane.ID), form, true)
	p.wantStatus(t, http.StatusOK)
	got, _ := st.GetLead(context.Background(), jane.ID)
	if got.Value != 99_000_00 || got.Status != "Negotiation" || got.Notes != "Called on Monday.\r\nLikes blue." || got.Company != "Example Corp" {
		t.Errorf("after both edits: value %v, stage %s, notes %q, company %q; want Ann's value and stage and this person's notes",
			got.Value, got.Status, got.Notes, got.Company)
	}
}

func TestBoardEditConflict(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	asAnn := annContext(t, st)
	jane := newLead(t, st, "Jane Doe", "Example Corp", "Interest", 1000_00)
	form := send(t, h, http.MethodGet, views.LeadPath(jane.ID), nil, true).formValues(t)
	if _, err := st.UpdateLead(asAnn, jane.ID, store.LeadInput{Value: ptrTo(store.Money(99_000_00))}); err != nil {
		t.Fatal(err)
	}
	form.Set("value", "50,000")
	form.Set("phone", "+1 555 0100")
	p := send(t, h, http.MethodPost, views.LeadPath(jane.ID), form, true)
	p.wantStatus(t, http.StatusConflict)
	p.wantHeader(t, "HX-Retarget", views.DialogBodyID.Sel())
	p.wantText(t, "#conflict-value .conflict-mine", "$50,000")
	p.wantText(t, "#conflict-value .conflict-theirs", "$99,000")
	if by := p.text("#conflict-value .conflict-by"); !strings.HasPrefix(by, "(Ann Lee,") {
		t.Errorf("who changed the value: got %q, want Ann Lee", by)
	}
	p.wantCount(t, ".conflict", 1) // the phone is merged, not a conflict
	got, _ := st.GetLead(context.Background(), jane.ID)
	if got.Value != 99_000_00 || got.Phone != "" {
		t.Errorf("after the conflict: value %v, phone %q; want nothing written (99000, empty)", got.Value, got.Phone)
	}

	// Take theirs for the value: Ann's value stays, the phone is written.
	again := p.formValues(t)
	if again.Get("value") != "50,000" || again.Get("phone") != "+1 555 0100" || again.Get("resolve_value") != "mine" {
		t.Errorf("conflict form: value %q, phone %q, choice %q; want what this person typed and keep mine chosen",
			again.Get("value"), again.Get("phone"), again.Get("resolve_value"))
	}
	again.Set("resolve_value", "theirs")
	send(t, h, http.MethodPost, views.LeadPath(jane.ID), again, true).wantStatus(t, http.StatusOK)
	got, _ = st.GetLead(context.Background(), jane.ID)
	if got.Value != 99_000_00 || got.Phone != "+1 555 0100" {
		t.Errorf("after taking theirs: value %v, phone %q; want 99000 and the phone", got.Value, got.Phone)
	}

	// Keep mine: both edit again, the second one keeps theirs over the first.
	form = send(t, h, http.MethodGet, views.LeadPath(jane.ID), nil, true).formValues(t)
	if _, err := st.UpdateLead(asAnn, jane.ID, store.LeadInput{Value: ptrTo(store.Money(1_00))}); err != nil {
		t.Fatal(err)
	}
	form.Set("value", "7")
	p = send(t, h, http.MethodPost, views.LeadPath(jane.ID), form, true)
	p.wantStatus(t, http.StatusConflict)
	send(t, h, http.MethodPost, views.LeadPath(jane.ID), p.formValues(t), true).wantStatus(t, http.StatusOK)
	if got, _ = st.GetLead(context.Background(), jane.ID); got.Value != 7_00 {
		t.Errorf("after keeping mine: value %v, want 7", got.Value)
	}
}

// TestBoardPageETag: the board page and its fragments carry an ETag that 304s
// while nothing changes, changes with any write, and differs between users
// (the page names who is signed in).
func TestBoardPageETag(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	srv := &Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Sessions: SessionsForTest(pool)}
	h := srv.Routes()
	UserForTest(t, st, "ann@example.com", store.RoleMember)
	UserForTest(t, st, "bob@example.com", store.RoleMember)
	ann := WithCookie(h, SignInCookie(t, h, "ann@example.com"))
	bob := WithCookie(h, SignInCookie(t, h, "bob@example.com"))
	jane := newLead(t, st, "Jane Doe", "", "Interest", 0)
	get := func(h http.Handler, target, inm string, htmx bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, tc := range []struct {
		target string
		htmx   bool
	}{{"/", false}, {"/", true}, {"/?q=jane", true}, {"/board/cards?status=Interest&after=-1", true}} {
		first := get(ann, tc.target, "", tc.htmx)
		tag := first.Header().Get("ETag")
		if first.Code != 200 || tag == "" {
			t.Fatalf("GET %s: got %d, ETag %q; want 200 with an ETag", tc.target, first.Code, tag)
		}
		if r := get(ann, tc.target, tag, tc.htmx); r.Code != http.StatusNotModified || r.Body.Len() != 0 {
			t.Errorf("GET %s again with its tag: got %d with %d bytes, want 304 and no body", tc.target, r.Code, r.Body.Len())
		}
		if r := get(bob, tc.target, tag, tc.htmx); r.Code != 200 {
			t.Errorf("GET %s by another user with Ann's tag: got %d, want 200 (the page names who is signed in)", tc.target, r.Code)
		}
		if r := get(ann, tc.target, tag, !tc.htmx); r.Code != 200 {
			t.Errorf("GET %s as page/fragment with the other's tag: got %d, want 200", tc.target, r.Code)
		}
		if _, err := st.UpdateLead(context.Background(), jane.ID, store.LeadInput{Notes: ptrTo(fmt.Sprintf("seen %d %s", i, tc.target))}); err != nil {
			t.Fatal(err)
		}
		if r := get(ann, tc.target, tag, tc.htmx); r.Code != 200 || r.Header().Get("ETag") == tag {
			t.Errorf("GET %s after a change with the old tag: got %d, ETag %q; want 200 and a new tag", tc.target, r.Code, r.Header().Get("ETag"))
		}
	}
}
