package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crmteam/crm/static"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// boardTestServer returns the full route table over a fresh database, and the
// store to arrange and check data with. Requests come from a browser signed in
// as a member (its session cookie goes with each request and through the real
// sign-in check).
func boardTestServer(t *testing.T) (http.Handler, *store.Store) {
	t.Helper()
	st, pool := storetest.NewStore(t)
	srv := &Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Sessions: SessionsForTest(pool)}
	h := srv.Routes()
	UserForTest(t, st, "board@example.com", store.RoleMember)
	return WithCookie(h, SignInCookie(t, h, "board@example.com")), st
}

// page is an HTML response, parsed.
type page struct {
	rec *httptest.ResponseRecorder
	doc *goquery.Document
}

// send makes a request through h. form, when not nil, is posted url-encoded;
// htmx adds the headers htmx sends.
func send(t *testing.T, h http.Handler, method, target string, form url.Values, htmx bool) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("%s %s: parse HTML: %v", method, target, err)
	}
	return page{rec: rec, doc: doc}
}

func (p page) wantStatus(t *testing.T, want int) {
	t.Helper()
	if p.rec.Code != want {
		t.Fatalf("status got %d, want %d; body:\n%.2000s", p.rec.Code, want, p.rec.Body.String())
	}
}

func (p page) wantHeader(t *testing.T, name, want string) {
	t.Helper()
	if got := p.rec.Header().Get(name); got != want {
		t.Errorf("header %s got %q, want %q", name, got, want)
	}
}

// text returns the white-space-normalized text of the first match of sel.
func (p page) text(sel string) string {
	return strings.Join(strings.Fields(p.doc.Find(sel).First().Text()), " ")
}

func (p page) wantText(t *testing.T, sel, want string) {
	t.Helper()
	if p.doc.Find(sel).Length() == 0 {
		t.Errorf("%s: got no element, want one with text %q", sel, want)
		return
	}
	if got := p.text(sel); got != want {
		t.Errorf("%s text got %q, want %q", sel, got, want)
	}
}

func (p page) wantCount(t *testing.T, sel string, want int) {
	t.Helper()
	if got := p.doc.Find(sel).Length(); got != want {
		t.Errorf("%s: got %d elements, want %d", sel, got, want)
	}
}

func (p page) attr(sel, name string) string {
	v, _ := p.doc.Find(sel).First().Attr(name)
	return v
}

func (p page) wantAttr(t *testing.T, sel, name, want string) {
	t.Helper()
	if p.doc.Find(sel).Length() == 0 {
		t.Errorf("%s: got no element, want one with %s=%q", sel, name, want)
		return
	}
	if got := p.attr(sel, name); got != want {
		t.Errorf("%s[%s] got %q, want %q", sel, name, got, want)
	}
}

// columnSel is the selector of a stage's column, from the same helper the views use.
func columnSel(stage string) string { return views.ColumnID(stage).Sel() }

// cardNames lists the names on the cards of a stage's column, in order.
func (p page) cardNames(stage string) []string {
	var names []string
	p.doc.Find(columnSel(stage) + " .card .card-name").Each(func(_ int, s *goquery.Selection) {
		names = append(names, strings.TrimSpace(s.Text()))
	})
	return names
}

// header returns the count and the total of a stage's column header.
func (p page) header(stage string) (count, total string) {
	col := p.doc.Find(columnSel(stage))
	count = strings.Fields(col.Find("[data-count]").First().Text())[0]
	total = strings.TrimSpace(col.Find("[data-total]").First().Text())
	return count, total
}

func (p page) wantHeader2(t *testing.T, stage, wantCount, wantTotal string) {
	t.Helper()
	if p.doc.Find(columnSel(stage)).Length() == 0 {
		t.Errorf("column %q: got none, want one with count %s and total %s", stage, wantCount, wantTotal)
		return
	}
	count, total := p.header(stage)
	if count != wantCount || total != wantTotal {
		t.Errorf("column %q header got count %s, total %s; want %s, %s", stage, count, total, wantCount, wantTotal)
	}
}

func newLead(t *testing.T, st *store.Store, name, company, status string, value store.Money) store.Lead {
	t.Helper()
	in := store.LeadInput{Name: &name, Company: &company, Status: &status, Value: &value}
	l, err := st.CreateLead(context.Background(), in)
	if err != nil {
		t.Fatalf("create lead %s: %v", name, err)
	}
	return l
}

func seedDemo(t *testing.T, st *store.Store) {
	t.Helper()
	if _, err := st.SeedDemo(context.Background()); err != nil {
		t.Fatalf("seed demo: %v", err)
	}
}

func leadNamed(t *testing.T, st *store.Store, name string) store.Lead {
	t.Helper()
	board, err := st.ListBoard(context.Background(), store.BoardQuery{})
	if err != nil {
		t.Fatalf("list board: %v", err)
	}
	for _, c := range board.Columns {
		for _, l := range c.Leads {
			if l.Name == name {
				return l
			}
		}
	}
	t.Fatalf("lead %q: got none, want one", name)
	return store.Lead{}
}

// columnOrder lists the names in a stage's column as stored, in card order.
func columnOrder(t *testing.T, st *store.Store, stage string) []string {
	t.Helper()
	board, err := st.ListBoard(context.Background(), store.BoardQuery{Status: stage})
	if err != nil {
		t.Fatalf("list %s: %v", stage, err)
	}
	names := []string{}
	for _, l := range board.Columns[0].Leads {
		names = append(names, l.Name)
	}
	return names
}

var stageNames = []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}

func TestBoardPage(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)

	p := send(t, h, http.MethodGet, "/", nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader(t, "Content-Type", "text/html; charset=utf-8")
	p.wantHeader(t, "Vary", "HX-Request")
	p.wantHeader(t, "Cache-Control", "no-store")
	p.wantText(t, "title", "Board · CRM")

	var stages []string
	p.doc.Find("#board > section.column").Each(func(_ int, s *goquery.Selection) {
		stages = append(stages, s.AttrOr("data-status", ""))
	})
	if diff := cmp.Diff(stageNames, stages); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ stage, count, total string }{
		{"Interest", "3", "$100,000"},
		{"Meeting booked", "2", "$60,500"},
		{"Proposal sent", "2", "$129,500"},
		{"Negotiation", "2", "$99,000"},
		{"Closed won", "2", "$204,000"},
		{"Closed lost", "1", "$12,000"},
	} {
		p.wantHeader2(t, tt.stage, tt.count, tt.total)
	}
	if diff := cmp.Diff([]string{"Jane Doe", "Bob Martin", "Oliver Smith"}, p.cardNames("Interest")); diff != "" {
		t.Errorf("Interest cards (-want +got):\n%s", diff)
	}
	p.wantText(t, "#board-summary", "12 leads · $389k open")

	jane := leadNamed(t, st, "Jane Doe")
	card := views.CardID(jane.ID).Sel()
	p.wantText(t, card+" .card-name", "Jane Doe")
	p.wantText(t, card+" .card-company", "Example Corp")
	p.wantText(t, card+" .card-value", "$75,000")
	p.wantText(t, card+" .tag", "Website")
	p.wantText(t, card+" time", "just now")
	p.wantAttr(t, card, "data-order", "0")
	p.wantAttr(t, card, "data-move-url", "/board/leads/"+jane.ID.String()+"/move")
	p.wantAttr(t, card+" .card-name", "href", "/board/leads/"+jane.ID.String())
	p.wantAttr(t, card+" .card-name", "data-open-lead", "")

	// The card's button for the board's one move menu, which lists every stage.
	p.wantAttr(t, card+" .card-menu-btn", "aria-label", "Move Jane Doe")
	p.wantAttr(t, card+" .card-menu-btn", "aria-controls", views.MoveMenuID.String())
	p.wantCount(t, views.MoveMenuID.Sel()+" [data-move-to]", 6)
	p.wantCount(t, views.BoardID.Sel()+" select", 0) // no per-card selects (the filters have one)

	// Each column has a new-lead button for its stage; the empty state is rendered.
	p.wantAttr(t, columnSel("Negotiation")+" .column-head a.column-add", "hx-get", "/board/leads/new?status=Negotiation")
	p.wantAttr(t, columnSel("Negotiation")+" .column-head a.column-add", "aria-label", "New lead in Negotiation")
	p.wantText(t, columnSel("Closed lost")+" .column-empty", "No leads yet. Drag a card here or add one.")

	// The search box, the assistant's panel and the dialog.
	p.wantAttr(t, "input#board-search", "name", "q")
	p.wantAttr(t, "input#board-search", "hx-get", "/")
	p.wantAttr(t, "input#board-search", "hx-target", "#board")
	p.wantText(t, "label[for=board-search]", "Search leads by name, company, email, phone or notes")
	p.wantAttr(t, "aside#chat-panel", "hx-get", "/chat/panel")
	p.wantAttr(t, "aside#chat-panel", "hx-trigger", "load")
	p.wantAttr(t, "aside#chat-panel", "hx-swap", "innerHTML scroll:#chat-messages:bottom")
	p.wantText(t, "aside#chat-panel", "Loading the assistant…")
	p.wantAttr(t, "#board", "hx-trigger", "leads-changed from:body")
	p.wantCount(t, "dialog#lead-dialog #lead-dialog-body", 1)
	p.wantCount(t, "#lead-dialog-body > *", 0)

	// Static files by content-hashed URL; htmx configured to swap 422.
	for _, name := range []string{"app.css", "chat.css"} {
		p.wantCount(t, fmt.Sprintf("link[rel=stylesheet][href=%q]", static.URL(name)), 1)
	}
	for _, name := range []string{"htmx.min.js", "Sortable.min.js", "app.js"} {
		p.wantCount(t, fmt.Sprintf("script[src=%q][defer]", static.URL(name)), 1)
	}
	if cfg := p.attr("meta[name=htmx-config]", "content"); !strings.Contains(cfg, `{"code":"422","swap":true}`) {
		t.Errorf("htmx-config got %s, want 422 responses to swap", cfg)
	}
	wantNoInlineCode(t, p)
	wantTargetsExist(t, p)
}

// wantNoInlineCode checks that a strict Content-Security-Policy would not break
// the page: no inline script, no event-handler attribute, no style attribute.
func wantNoInlineCode(t *testing.T, p page) {
	t.Helper()
	p.doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("got an inline <script> %q, want scripts by src only", s.Text())
		}
	})
	if n := p.doc.Find("style").Length(); n > 0 {
		t.Errorf("got %d <style> elements, want none", n)
	}
	p.doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(a.Key, "hx-on") {
				t.Errorf("<%s %s=%q>: got an inline handler or style, want none", goquery.NodeName(s), a.Key, a.Val)
			}
		}
	})
}

// wantTargetsExist checks that every hx-target by id names an element of the
// page: ids and targets both come from views' id helpers.
func wantTargetsExist(t *testing.T, p page) {
	t.Helper()
	p.doc.Find("[hx-target]").Each(func(_ int, s *goquery.Selection) {
		target := s.AttrOr("hx-target", "")
		if target == "this" || !strings.HasPrefix(target, "#") {
			return
		}
		if p.doc.Find(target).Length() != 1 {
			t.Errorf("hx-target %q: got %d elements with that id, want 1", target, p.doc.Find(target).Length())
		}
	})
}

func TestBoardFragmentForHTMX(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)

	p := send(t, h, http.MethodGet, "/", nil, true)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader(t, "Vary", "HX-Request")
	if body := strings.ToLower(p.rec.Body.String()); strings.Contains(body, "<!doctype") || strings.Contains(body, "<html") || strings.Contains(body, "<head>") {
		t.Errorf("fragment got a whole document, want only the board")
	}
	p.wantCount(t, "#board > section.column", 6)
	p.wantAttr(t, "#board-summary", "hx-swap-oob", "true")
	p.wantHeader(t, "HX-Replace-Url", "") // only the search box's requests change the URL

	// A history restore asks for the whole page even with HX-Request.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-History-Restore-Request", "true")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("history restore got a fragment, want the whole page")
	}
}

func TestBoardSearch(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)

	p := send(t, h, http.MethodGet, "/?q=acme", nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantAttr(t, "#board-search", "value", "acme")
	p.wantText(t, "title", "“acme” · Board · CRM")
	p.wantHeader2(t, "Interest", "1", "$20,000")
	p.wantHeader2(t, "Negotiation", "0", "$0")
	if diff := cmp.Diff([]string{"Bob Martin"}, p.cardNames("Interest")); diff != "" {
		t.Errorf("Interest cards (-want +got):\n%s", diff)
	}
	p.wantCount(t, ".card", 1)
	// Columns the search leaves empty say nothing; an empty result says so once.
	p.wantCount(t, ".column-empty", 0)
	p.wantCount(t, ".board-empty", 0)
	p.wantText(t, "#board-summary", "1 lead match · $20k open")

	// Notes and email match too, case-insensitively.
	p = send(t, h, http.MethodGet, "/?q=HIPAA", nil, false)
	if diff := cmp.Diff([]string{"Emily Chen"}, p.cardNames("Proposal sent")); diff != "" {
		t.Errorf("search in notes (-want +got):\n%s", diff)
	}
	p = send(t, h, http.MethodGet, "/?q=lagosfintech.test", nil, false)
	if diff := cmp.Diff([]string{"Aisha Okafor"}, p.cardNames("Negotiation")); diff != "" {
		t.Errorf("search in email (-want +got):\n%s", diff)
	}
	p = send(t, h, http.MethodGet, "/?q=zzzz-nobody", nil, false)
	p.wantCount(t, ".card", 0)
	p.wantCount(t, ".board-empty", 1)
	p.wantText(t, ".board-empty a[data-clear-search]", "Clear the search")

	// The search box's own request replaces the URL, so a filtered board can be
	// bookmarked; an empty search goes back to /.
	req := httptest.NewRequest(http.MethodGet, "/?q=acme", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Trigger", views.SearchID.String())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("HX-Replace-Url"); got != "/?q=acme" {
		t.Errorf("HX-Replace-Url got %q, want %q", got, "/?q=acme")
	}
	req = httptest.NewRequest(http.MethodGet, "/?q=", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Trigger", views.SearchID.String())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("HX-Replace-Url"); got != "/" {
		t.Errorf("HX-Replace-Url for an empty search got %q, want %q", got, "/")
	}

	p = send(t, h, http.MethodGet, "/?q="+strings.Repeat("x", 201), nil, false)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantText(t, ".error-page p", "The search must be at most 200 characters.")
}

func TestBoardPaging(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("Lead %03d", i)
		company := "Other"
		if i%2 == 0 {
			company = "Even Co"
		}
		newLead(t, st, name, company, "Interest", 100_00)
		want = append(want, name)
	}

	p := send(t, h, http.MethodGet, "/", nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader2(t, "Interest", "120", "$12,000")
	if diff := cmp.Diff(want[:50], p.cardNames("Interest")); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	more := views.LoadMoreID("Interest").Sel()
	// The loader asks for the cards after the 50th (by its sort key).
	page, err := st.ListBoard(context.Background(), store.BoardQuery{Status: "Interest", Limit: views.PageSize})
	if err != nil {
		t.Fatal(err)
	}
	p.wantAttr(t, more, "hx-get", views.CardsURL("Interest", page.Columns[0].NextAfter(), ""))
	p.wantAttr(t, more, "hx-trigger", "intersect once")
	p.wantAttr(t, more, "hx-swap", "outerHTML")

	// Scrolling loads the rest, page by page, until no loader is left.
	got := append(p.cardNames("Interest"), loadRest(t, h, p, more)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("all pages (-want +got):\n%s", diff)
	}

	// Paging keeps the search.
	p = send(t, h, http.MethodGet, "/?q=even", nil, false)
	p.wantHeader2(t, "Interest", "60", "$6,000")
	page, err = st.ListBoard(context.Background(), store.BoardQuery{Status: "Interest", Limit: views.PageSize, Search: "even"})
	if err != nil {
		t.Fatal(err)
	}
	p.wantAttr(t, more, "hx-get", views.CardsURL("Interest", page.Columns[0].NextAfter(), "even"))
	frag := send(t, h, http.MethodGet, views.CardsURL("Interest", page.Columns[0].NextAfter(), "even"), nil, true)
	frag.wantCount(t, ".card", 10)
	frag.wantCount(t, more, 0)
	frag.wantText(t, ".card .card-name", "Lead 100")

	// A re-render keeps as many cards as the browser showed.
	form := url.Values{"shown": {`{"Interest":120}`}}
	p = send(t, h, http.MethodGet, "/?"+form.Encode(), nil, true)
	p.wantCount(t, columnSel("Interest")+" .card", 120)
	p.wantCount(t, more, 0)
}

// TestBoardPagingUnevenColumns re-renders a board whose columns the browser had
// loaded to different lengths: each column's loader must ask for the cards after
// its own last card, not after the longest column's.
func TestBoardPagingUnevenColumns(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	var meetings []string
	for i := range 120 {
		newLead(t, st, fmt.Sprintf("Interest %03d", i), "Acme", "Interest", 100_00)
		name := fmt.Sprintf("Meeting %03d", i)
		newLead(t, st, name, "Acme", "Meeting booked", 100_00)
		meetings = append(meetings, name)
	}
	form := url.Values{"shown": {`{"Interest":100}`}}
	p := send(t, h, http.MethodGet, "/?"+form.Encode(), nil, true)
	p.wantCount(t, columnSel("Interest")+" .card", 100)
	p.wantCount(t, columnSel("Meeting booked")+" .card", views.PageSize)
	more := views.LoadMoreID("Meeting booked").Sel()
	if diff := cmp.Diff(meetings[views.PageSize:], loadRest(t, h, p, more)); diff != "" {
		t.Errorf("the rest of Meeting booked, page by page (-want +got):\n%s", diff)
	}
}

// loadRest follows the loader more of page p, as scrolling does, page by page
// until no loader is left, and returns the names of the cards loaded.
func loadRest(t *testing.T, h http.Handler, p page, more string) []string {
	t.Helper()
	var got []string
	next := p.attr(more, "hx-get")
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatalf("got more than 5 further pages, want at most 2")
		}
		frag := send(t, h, http.MethodGet, next, nil, true)
		frag.wantStatus(t, http.StatusOK)
		frag.doc.Find(".card .card-name").Each(func(_ int, s *goquery.Selection) {
			got = append(got, strings.TrimSpace(s.Text()))
		})
		next = frag.attr(more, "hx-get")
	}
	return got
}

func TestBoardCardsBadInput(t *testing.T) {
	t.Parallel()
	h, _ := boardTestServer(t)
	for _, tt := range []struct{ target, want string }{
		{"/board/cards?after=0", "Stage is required."},
		{"/board/cards?status=Nope&after=0", "Stage must be one of: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost."},
		{"/board/cards?status=Interest&after=x", "After is not a valid card key."},
	} {
		p := send(t, h, http.MethodGet, tt.target, nil, true)
		p.wantStatus(t, http.StatusUnprocessableEntity)
		p.wantHeader(t, "HX-Retarget", "#flash")
		p.wantText(t, ".toast-error p", tt.want)
	}
}

func TestLeadNewForm(t *testing.T) {
	t.Parallel()
	h, _ := boardTestServer(t)

	p := send(t, h, http.MethodGet, "/board/leads/new?status=negotiation", nil, true)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader(t, "Vary", "HX-Request")
	p.wantAttr(t, "form#lead-form", "hx-post", "/board/leads")
	p.wantAttr(t, "form#lead-form", "action", "/board/leads")
	p.wantAttr(t, "form#lead-form", "hx-target", "#lead-dialog-body")
	p.wantText(t, "#lead-dialog-title", "New lead")
	p.wantText(t, "#lead-status option[selected]", "Negotiation")
	for _, f := range []struct{ field, label string }{
		{"name", "Name*"}, {"company", "Company"}, {"email", "Email"}, {"phone", "Phone"},
		{"value", "Deal value (USD)"}, {"status", "Stage"}, {"source", "Source"}, {"notes", "Notes"},
	} {
		p.wantText(t, "label[for="+views.FieldID(f.field).String()+"]", f.label)
		p.wantAttr(t, views.FieldID(f.field).Sel(), "name", f.field)
	}
	p.wantCount(t, "#lead-name[autofocus]", 1)

	// The direct URL is the board with the dialog open on the form.
	p = send(t, h, http.MethodGet, "/board/leads/new?status=Closed+won", nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantCount(t, "#board > section.column", 6)
	p.wantCount(t, "#lead-dialog-body form#lead-form", 1)
	p.wantText(t, "#lead-dialog-body #lead-status option[selected]", "Closed won")
	wantTargetsExist(t, p)
	wantNoInlineCode(t, p)
}

func leadForm(name, company, email, phone, value, status, source, notes string) url.Values {
	return url.Values{"name": {name}, "company": {company}, "email": {email}, "phone": {phone},
		"value": {value}, "status": {status}, "source": {source}, "notes": {notes}}
}

func TestLeadCreateForm(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	newLead(t, st, "Existing", "", "Meeting booked", 1000_00)

	form := leadForm("  Ada Lovelace ", "Analytical Engines", "ada@example.com", "+44 20 0000", "$12,500.50", "Meeting booked", "Referral", "Line one\nLine two")
	form.Set("shown", `{"Meeting booked":1}`)
	p := send(t, h, http.MethodPost, "/board/leads", form, true)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader(t, "Vary", "HX-Request")
	// The dialog's content is emptied (closing it); column, summary and message
	// come out of band.
	p.wantCount(t, "body > :not([hx-swap-oob])", 0)
	p.wantAttr(t, columnSel("Meeting booked"), "hx-swap-oob", "true")
	p.wantHeader2(t, "Meeting booked", "2", "$13,500.50")
	if diff := cmp.Diff([]string{"Existing", "Ada Lovelace"}, p.cardNames("Meeting booked")); diff != "" {
		t.Errorf("re-rendered column (-want +got):\n%s", diff)
	}
	p.wantCount(t, columnSel("Interest"), 0)
	p.wantAttr(t, "#flash", "hx-swap-oob", "innerHTML")
	p.wantText(t, "#flash .toast-ok p", "Added Ada Lovelace to Meeting booked.")
	p.wantAttr(t, "#board-summary", "hx-swap-oob", "true")

	ada := leadNamed(t, st, "Ada Lovelace")
	wantLead := store.Lead{Name: "Ada Lovelace", Company: "Analytical Engines", Email: "ada@example.com", Phone: "+44 20 0000",
		Value: 12_500_50, Notes: "Line one\nLine two", Status: "Meeting booked", Source: "Referral", CardOrder: 1,
		Owner: &store.LeadOwner{Name: "Board", Email: "board@example.com"}}
	if diff := cmp.Diff(wantLead, ada, cmpLeadFields); diff != "" {
		t.Errorf("stored lead (-want +got):\n%s", diff)
	}

	// Without htmx: 303 back to the board.
	p = send(t, h, http.MethodPost, "/board/leads", leadForm("Plain Post", "", "", "", "", "Interest", "", ""), false)
	p.wantStatus(t, http.StatusSeeOther)
	p.wantHeader(t, "Location", "/")
	leadNamed(t, st, "Plain Post")
}

var cmpLeadFields = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.Last().String() {
	case ".ID", ".CreatedAt", ".UpdatedAt", ".Version", ".StageEnteredAt":
		return true
	}
	return false
}, cmp.Ignore())

func TestLeadCreateFormInvalid(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)

	form := leadForm("   ", "Co", "not-an-email", "", "12abc", "Proposal sent", "", "typed notes")
	p := send(t, h, http.MethodPost, "/board/leads", form, true)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantText(t, ".form-alert", "Some fields need a fix; see the messages below.")
	for _, tt := range []struct{ field, msg string }{
		{"name", "Enter a name."},
		{"email", "Must be an email address like name@example.com."},
		{"value", "Enter an amount such as 12500 or 12,500.50."},
	} {
		p.wantText(t, views.FieldErrorID(tt.field).Sel(), tt.msg)
		p.wantAttr(t, views.FieldID(tt.field).Sel(), "aria-invalid", "true")
		p.wantAttr(t, views.FieldID(tt.field).Sel(), "aria-describedby", views.FieldErrorID(tt.field).String())
	}
	p.wantCount(t, ".field-error", 3)
	// What was typed is kept.
	p.wantAttr(t, "#lead-company", "value", "Co")
	p.wantAttr(t, "#lead-email", "value", "not-an-email")
	p.wantAttr(t, "#lead-value", "value", "12abc")
	p.wantText(t, "#lead-notes", "typed notes")
	p.wantText(t, "#lead-status option[selected]", "Proposal sent")
	p.wantCount(t, "#lead-name[autofocus]", 1)

	for _, tt := range []struct{ value, msg string }{
		{"-5", "Must not be negative."},
		{"1.234", "Must have at most two decimals."},
		{"1e13", "Is too large."},
	} {
		p = send(t, h, http.MethodPost, "/board/leads", leadForm("Val", "", "", "", tt.value, "Interest", "", ""), true)
		p.wantStatus(t, http.StatusUnprocessableEntity)
		p.wantText(t, views.FieldErrorID("value").Sel(), tt.msg)
		p.wantCount(t, "#lead-value[autofocus]", 1)
	}

	// Without htmx, the board page with the form open, also 422.
	p = send(t, h, http.MethodPost, "/board/leads", leadForm("", "", "", "", "", "Interest", "", ""), false)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantCount(t, "#board > section.column", 6)
	p.wantText(t, "#lead-dialog-body "+views.FieldErrorID("name").Sel(), "Enter a name.")

	if n, err := st.CountLeads(context.Background()); err != nil || n != 0 {
		t.Errorf("leads stored got %d (err %v), want 0", n, err)
	}
}

func TestLeadDetailForm(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)
	emily := leadNamed(t, st, "Emily Chen")

	p := send(t, h, http.MethodGet, "/board/leads/"+emily.ID.String(), nil, true)
	p.wantStatus(t, http.StatusOK)
	p.wantHeader(t, "Vary", "HX-Request")
	p.wantText(t, "#lead-dialog-title", "Emily Chen")
	p.wantAttr(t, "form#lead-form", "hx-post", "/board/leads/"+emily.ID.String())
	p.wantAttr(t, "form#lead-form input[name=from]", "value", "Proposal sent")
	for field, want := range map[string]string{
		"name": "Emily Chen", "company": "Brightside Health", "email": "emily.chen@brightside.test",
		"phone": "+1-555-0175", "value": "120000", "source": "Website",
	} {
		p.wantAttr(t, views.FieldID(field).Sel(), "value", want)
	}
	p.wantText(t, "#lead-notes", "Needs HIPAA paperwork before signing.")
	p.wantText(t, "#lead-status option[selected]", "Proposal sent")
	p.wantAttr(t, "a.btn-danger", "hx-get", "/board/leads/"+emily.ID.String()+"/delete")

	p = send(t, h, http.MethodGet, "/board/leads/"+emily.ID.String(), nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, "title", "Emily Chen · CRM")
	p.wantText(t, "#lead-dialog-body #lead-dialog-title", "Emily Chen")
	p.wantCount(t, "#board > section.column", 6)

	for _, target := range []string{"/board/leads/" + uuid.NewString(), "/board/leads/not-a-uuid"} {
		p = send(t, h, http.MethodGet, target, nil, true)
		p.wantStatus(t, http.StatusNotFound)
		p.wantHeader(t, "HX-Retarget", "#flash")
		p.wantHeader(t, "HX-Reswap", "innerHTML")
		p.wantText(t, ".toast-error p", leadGone)
		p = send(t, h, http.MethodGet, target, nil, false)
		p.wantStatus(t, http.StatusNotFound)
		p.wantText(t, ".error-page h1", "Not found")
	}
}

func TestLeadUpdateForm(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)
	tom := leadNamed(t, st, "Tom Becker")

	form := leadForm("Tom Becker Jr", "Becker & Sons", "tom@beckersons.test", "", "11000", "Negotiation", "Cold email", "New notes.")
	form.Set("from", "Proposal sent")
	p := send(t, h, http.MethodPost, "/board/leads/"+tom.ID.String(), form, true)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, "#flash .toast-ok p", "Saved Tom Becker Jr.")
	p.wantHeader2(t, "Proposal sent", "1", "$120,000")
	p.wantHeader2(t, "Negotiation", "3", "$110,000")
	if diff := cmp.Diff([]string{"Aisha Okafor", "Lukas Novak", "Tom Becker Jr"}, p.cardNames("Negotiation")); diff != "" {
		t.Errorf("Negotiation re-rendered (-want +got):\n%s", diff)
	}
	got, err := st.GetLead(context.Background(), tom.ID)
	if err != nil {
		t.Fatalf("get lead: %v", err)
	}
	want := store.Lead{Name: "Tom Becker Jr", Company: "Becker & Sons", Email: "tom@beckersons.test", Value: 11_000_00,
		Notes: "New notes.", Status: "Negotiation", Source: "Cold email", CardOrder: 2}
	if diff := cmp.Diff(want, got, cmpLeadFields); diff != "" {
		t.Errorf("stored lead (-want +got):\n%s", diff)
	}

	// Invalid: 422, the typed values kept, the heading still the stored lead.
	form = leadForm("Tom", "", "bad@", "", "", "Negotiation", "", "")
	p = send(t, h, http.MethodPost, "/board/leads/"+tom.ID.String(), form, true)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantText(t, "#lead-dialog-title", "Tom Becker Jr")
	p.wantAttr(t, "#lead-email", "value", "bad@")
	p.wantAttr(t, "#lead-name", "value", "Tom")
	p.wantCount(t, "#lead-email[autofocus]", 1)

	p = send(t, h, http.MethodPost, "/board/leads/"+uuid.NewString(), leadForm("X", "", "", "", "", "Interest", "", ""), true)
	p.wantStatus(t, http.StatusNotFound)
	p.wantText(t, ".toast-error p", leadGone)

	p = send(t, h, http.MethodPost, "/board/leads/"+tom.ID.String(), leadForm("Tom", "", "", "", "", "Interest", "", ""), false)
	p.wantStatus(t, http.StatusSeeOther)
	p.wantHeader(t, "Location", "/")
}

func TestLeadDelete(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)
	bob := leadNamed(t, st, "Bob Martin")

	p := send(t, h, http.MethodGet, "/board/leads/"+bob.ID.String()+"/delete", nil, true)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, "#lead-dialog-title", "Delete Bob Martin?")
	p.wantAttr(t, "form", "hx-post", "/board/leads/"+bob.ID.String()+"/delete")
	p.wantText(t, "button[type=submit]", "Delete lead")
	p.wantAttr(t, "a.btn[autofocus]", "hx-get", "/board/leads/"+bob.ID.String())

	p = send(t, h, http.MethodGet, "/board/leads/"+bob.ID.String()+"/delete", nil, false)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, "#lead-dialog-body #lead-dialog-title", "Delete Bob Martin?")

	p = send(t, h, http.MethodPost, "/board/leads/"+bob.ID.String()+"/delete", url.Values{}, true)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, "#flash .toast-ok p", "Deleted Bob Martin.")
	p.wantHeader2(t, "Interest", "2", "$80,000")
	if diff := cmp.Diff([]string{"Jane Doe", "Oliver Smith"}, p.cardNames("Interest")); diff != "" {
		t.Errorf("Interest re-rendered (-want +got):\n%s", diff)
	}
	if _, err := st.GetLead(context.Background(), bob.ID); err != store.ErrNotFound {
		t.Errorf("get deleted lead: got err %v, want ErrNotFound", err)
	}

	p = send(t, h, http.MethodPost, "/board/leads/"+bob.ID.String()+"/delete", url.Values{}, true)
	p.wantStatus(t, http.StatusNotFound)
	p.wantText(t, ".toast-error p", leadGone)
}

func TestBoardMove(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)
	jane := leadNamed(t, st, "Jane Doe")
	move := "/board/leads/" + jane.ID.String() + "/move"

	// Across columns, to a position.
	p := send(t, h, http.MethodPost, move, url.Values{"status": {"Negotiation"}, "order": {"1"}, "from": {"Interest"}}, true)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, ".toast-ok p", "Moved Jane Doe to Negotiation.")
	p.wantCount(t, "section.column[hx-swap-oob=true]", 2)
	p.wantHeader2(t, "Interest", "2", "$25,000")
	p.wantHeader2(t, "Negotiation", "3", "$174,000")
	if diff := cmp.Diff([]string{"Aisha Okafor", "Jane Doe", "Lukas Novak"}, p.cardNames("Negotiation")); diff != "" {
		t.Errorf("Negotiation re-rendered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Aisha Okafor", "Jane Doe", "Lukas Novak"}, columnOrder(t, st, "Negotiation")); diff != "" {
		t.Errorf("Negotiation stored (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Bob Martin", "Oliver Smith"}, columnOrder(t, st, "Interest")); diff != "" {
		t.Errorf("Interest stored (-want +got):\n%s", diff)
	}

	// Within a column.
	p = send(t, h, http.MethodPost, move, url.Values{"status": {"Negotiation"}, "order": {"0"}, "from": {"Negotiation"}}, true)
	p.wantStatus(t, http.StatusOK)
	p.wantText(t, ".toast-ok p", "Jane Doe is now number 1 in Negotiation.")
	p.wantCount(t, "section.column[hx-swap-oob=true]", 1)
	if diff := cmp.Diff([]string{"Jane Doe", "Aisha Okafor", "Lukas Novak"}, columnOrder(t, st, "Negotiation")); diff != "" {
		t.Errorf("Negotiation stored (-want +got):\n%s", diff)
	}

	// Without order: the end of the column. Out of range: clamped.
	p = send(t, h, http.MethodPost, move, url.Values{"status": {"Interest"}, "from": {"Negotiation"}}, true)
	p.wantStatus(t, http.StatusOK)
	if diff := cmp.Diff([]string{"Bob Martin", "Oliver Smith", "Jane Doe"}, columnOrder(t, st, "Interest")); diff != "" {
		t.Errorf("Interest stored (-want +got):\n%s", diff)
	}
	p = send(t, h, http.MethodPost, move, url.Values{"status": {"Interest"}, "order": {"-7"}, "from": {"Interest"}}, true)
	p.wantStatus(t, http.StatusOK)
	if diff := cmp.Diff([]string{"Jane Doe", "Bob Martin", "Oliver Smith"}, columnOrder(t, st, "Interest")); diff != "" {
		t.Errorf("Interest stored (-want +got):\n%s", diff)
	}

	// Without htmx: back to the board.
	p = send(t, h, http.MethodPost, move, url.Values{"status": {"Closed won"}, "order": {"0"}}, false)
	p.wantStatus(t, http.StatusSeeOther)
	p.wantHeader(t, "Location", "/")
}

func TestBoardMoveRefused(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	seedDemo(t, st)
	jane := leadNamed(t, st, "Jane Doe")

	// An unknown stage: 422 with the message, and the whole board as stored so
	// the card goes back.
	p := send(t, h, http.MethodPost, "/board/leads/"+jane.ID.String()+"/move",
		url.Values{"status": {"Nowhere"}, "order": {"0"}, "from": {"Interest"}, "q": {""}}, true)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantHeader(t, "HX-Retarget", "#flash")
	p.wantText(t, ".toast-error p", "Stage must be one of: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost.")
	p.wantAttr(t, "#board", "hx-swap-oob", "true")
	if diff := cmp.Diff([]string{"Jane Doe", "Bob Martin", "Oliver Smith"}, p.cardNames("Interest")); diff != "" {
		t.Errorf("board sent back (-want +got):\n%s", diff)
	}

	p = send(t, h, http.MethodPost, "/board/leads/"+jane.ID.String()+"/move", url.Values{"status": {"Interest"}, "order": {"x"}}, true)
	p.wantStatus(t, http.StatusUnprocessableEntity)
	p.wantText(t, ".toast-error p", "Order must be a card position.")

	// A lead deleted meanwhile: 404, and the board without it.
	if _, err := st.DeleteLead(context.Background(), jane.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	p = send(t, h, http.MethodPost, "/board/leads/"+jane.ID.String()+"/move",
		url.Values{"status": {"Negotiation"}, "order": {"0"}, "from": {"Interest"}}, true)
	p.wantStatus(t, http.StatusNotFound)
	p.wantText(t, ".toast-error p", leadGone)
	p.wantAttr(t, "#board", "hx-swap-oob", "true")
	p.wantHeader2(t, "Interest", "2", "$25,000")
	if diff := cmp.Diff([]string{"Bob Martin", "Oliver Smith"}, p.cardNames("Interest")); diff != "" {
		t.Errorf("board sent back (-want +got):\n%s", diff)
	}
}

func TestBoardPostsRefuseCrossOrigin(t *testing.T) {
	t.Parallel()
	h, st := boardTestServer(t)
	l := newLead(t, st, "Target", "", "Interest", 0)
	for _, target := range []string{"/board/leads", "/board/leads/" + l.ID.String(), "/board/leads/" + l.ID.String() + "/move", "/board/leads/" + l.ID.String() + "/delete"} {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader("name=x&status=Interest"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status got %d, want %d", target, rec.Code, http.StatusForbidden)
		}
	}
	if got := leadNamed(t, st, "Target"); got.Status != "Interest" {
		t.Errorf("lead after refused posts: status got %q, want Interest", got.Status)
	}
}

func TestBoardStaticFiles(t *testing.T) {
	t.Parallel()
	srv := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := srv.Routes()
	for _, name := range []string{"app.css", "app.js", "htmx.min.js", "Sortable.min.js", "chat.css", "icon.svg"} {
		req := httptest.NewRequest(http.MethodGet, static.URL(name), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status got %d, want 200", static.URL(name), rec.Code)
		}
		if got, want := rec.Header().Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
			t.Errorf("GET %s: Cache-Control got %q, want %q", static.URL(name), got, want)
		}
		if !strings.HasSuffix(name, ".svg") && rec.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: Content-Encoding got %q, want gzip", static.URL(name), rec.Header().Get("Content-Encoding"))
		}
	}
}

// lockedBuffer collects log output written from handler goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBoardServerErrors(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	logs := &lockedBuffer{}
	srv := &Server{Store: st, Log: slog.New(slog.NewTextHandler(logs, nil)), Sessions: SessionsForTest(pool)}
	h := srv.Routes()
	UserForTest(t, st, "board@example.com", store.RoleMember)
	h = WithCookie(h, SignInCookie(t, h, "board@example.com"))
	pool.Close() // every query now fails: a fault of the server, not of the request

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-ID", "req-board-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code < 500 {
		t.Fatalf("status got %d, want 5xx", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "req-board-1") {
		t.Errorf("error page got no request id, want req-board-1")
	}
	if strings.Contains(body, "closed pool") {
		t.Errorf("error page shows the internal error %q, want a generic message", "closed pool")
	}

	req = httptest.NewRequest(http.MethodPost, "/board/leads", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-Request-ID", "req-board-2")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code < 500 {
		t.Fatalf("htmx post: status got %d, want 5xx", rec.Code)
	}
	if got := rec.Header().Get("HX-Retarget"); got != "#flash" {
		t.Errorf("htmx post: HX-Retarget got %q, want #flash", got)
	}
	if !strings.Contains(rec.Body.String(), "Request id req-board-2") {
		t.Errorf("htmx post: body got %q, want the request id", rec.Body.String())
	}

	logged := logs.String()
	for _, id := range []string{"req-board-1", "req-board-2"} {
		if n := len(regexp.MustCompile(`level=ERROR.*request_id=`+id).FindAllString(logged, -1)); n != 1 {
			t.Errorf("error log lines for %s: got %d, want 1; log:\n%s", id, n, logged)
		}
	}
}

func TestFieldsMessage(t *testing.T) {
	got := fieldsMessage(map[string]string{"value": "must be a number", "status": "is required"})
	if want := "Stage is required. Deal value must be a number."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
