package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// Browser tests: Debian's chromium, headless, driven through chromedp against
// the real route table and a real database per test. One browser serves every
// test; each test gets its own tab, database and server, so they run in
// parallel. Waits are on page state (chromedp.Poll), never on time; the only
// sleeps pace the mouse during a drag, because SortableJS samples the pointer
// every 50 ms.

// chromiumPath finds the browser; the tests fail without it when
// REQUIRE_TEST_DB=1 (CI), and skip otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if os.Getenv("REQUIRE_TEST_DB") == "1" {
		t.Fatalf("chromium is required (REQUIRE_TEST_DB=1) but not installed; apt-get install chromium")
	}
	t.Skip("chromium not installed, skipping the browser tests")
	return ""
}

// startBrowser launches one headless chromium for the calling test and its
// subtests, and returns a context to make tabs from.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// tab is one browser tab on a server of its own.
type tab struct {
	t    *testing.T
	ctx  context.Context
	url  string
	st   *store.Store
	pool interface{ Close() }
	h    http.Handler

	mu         sync.Mutex
	exceptions []string
	// violations are the Content-Security-Policy violations chromium reported.
	violations []string
	// confirms are the messages of the confirm() dialogs the page asked,
	// answered with confirmAnswer (OK unless a test says otherwise).
	confirms      []string
	confirmCancel bool
}

// newTab starts a server over a fresh database and opens a tab for it, signed
// in as a member. Uncaught JavaScript exceptions fail the test.
func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	tb := newSignedOutTab(t, browser)
	// The browser is signed in: its session cookie goes with every request.
	tb.signIn(tb.h, tb.url, tb.st, "browser@example.com")
	return tb
}

// newSignedOutTab is newTab without an account: the database has no users.
func newSignedOutTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	st, pool := storetest.NewStore(t)
	srv := &Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Sessions: SessionsForTest(pool)}
	h := srv.Routes()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return newTabOn(t, browser, ts.URL, st, pool, h)
}

// newTabOn opens a signed-out tab on the server at url, whose handler is h.
func newTabOn(t *testing.T, browser context.Context, url string, st *store.Store, pool interface{ Close() }, h http.Handler) *tab {
	t.Helper()
	// A browser context of its own: its own cookies, so the session of one
	// tab's server never replaces another's (cookies ignore the port).
	tabCtx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, url: url, st: st, pool: pool, h: h}
	if err := chromedp.Listen(tabCtx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			tb.mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			tb.exceptions = append(tb.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			tb.mu.Unlock()
		}
		if e, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			tb.mu.Lock()
			tb.confirms = append(tb.confirms, e.Message)
			accept := !tb.confirmCancel
			tb.mu.Unlock()
			go func() {
				_ = chromedp.Do(tabCtx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
					_, err := cdp.Call(ctx, target, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: accept})
					return err
				}))
			}()
		}
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry != nil &&
			(e.Entry.Source == cdplog.EntrySourceSecurity || strings.Contains(e.Entry.Text, "Content Security Policy")) {
			tb.mu.Lock()
			tb.violations = append(tb.violations, fmt.Sprintf("%s (%s)", e.Entry.Text, e.Entry.URL))
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	tb.ctx = ctx
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.exceptions {
			t.Errorf("JavaScript exception: got %s, want none", e)
		}
		for _, v := range tb.violations {
			t.Errorf("Content-Security-Policy violation: got %s, want none", v)
		}
	})
	return tb
}

// takeConfirms returns the confirm() messages asked so far and forgets them.
func (tb *tab) takeConfirms() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	c := tb.confirms
	tb.confirms = nil
	return c
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a page of the server and waits until app.js has wired the board.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path,
		chromedp.Navigate(tb.url+path),
		chromedp.WaitReady(chromedp.CSS("#board")),
	)
	tb.waitFor("the board is wired", `typeof htmx === 'object' && typeof Sortable === 'function' && [...document.querySelectorAll('.cards')].every(l => l.dataset.sortable === 'on')`)
}

// waitFor waits until the JavaScript condition holds, and fails the test with
// what when it does not within the tab's time.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		var state string
		if raw, eerr := chromedp.Run(context.WithoutCancel(tb.ctx), chromedp.Evaluate[string](pageState)); eerr == nil {
			state = raw
		}
		tb.t.Fatalf("waiting until %s (%s): %v\npage: %s", what, cond, err, state)
	}
}

// click clicks the element sel once htmx has wired it (or the element of its
// request: the form of a submit button), as a person can only click what the
// page shows: a click in the moment between a swap and htmx processing the new
// content would be a plain link or form post, a full page load.
func (tb *tab) click(what, sel string) {
	tb.t.Helper()
	tb.waitWired(what, sel)
	tb.do(what, chromedp.Click(chromedp.CSS(sel)))
}

// pressEnter focuses the element sel once htmx has wired it (see click) and
// presses Enter, as a keyboard user does.
func (tb *tab) pressEnter(what, sel string) {
	tb.t.Helper()
	tb.waitWired(what, sel)
	tb.do(what, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(kb.Enter))
}

// waitWired waits until the element sel is on the page and htmx has processed
// it, or the element that makes its request. htmx wires new content when it
// settles, a moment after the swap.
func (tb *tab) waitWired(what, sel string) {
	tb.t.Helper()
	tb.waitFor(what+": htmx has wired it", fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return false;
		const req = el.closest('[hx-get],[hx-post],[hx-put],[hx-patch],[hx-delete]') || (el.form && el.form.matches('[hx-post]') ? el.form : null);
		return !req || !!(req['htmx-internal-data'] && req['htmx-internal-data'].initHash);
	})()`, js(sel)))
}

// pageState describes the page for a failure message.
const pageState = `JSON.stringify({url: location.href, focus: document.activeElement && document.activeElement.id,
	dialogOpen: !!(document.getElementById('lead-dialog') || {}).open,
	dialog: ((document.getElementById('lead-dialog-body') || {}).innerText || '').slice(0, 600),
	flash: ((document.getElementById('flash') || {}).innerText || '')})`

func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		tb.t.Fatalf("evaluate %s: decode %s: %v", expr, raw, err)
	}
}

func (tb *tab) evalString(expr string) string {
	var s string
	tb.eval(expr, &s)
	return s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cardNamesJS lists the names on the cards of a stage's column, in order.
func (tb *tab) cardNames(stage string) []string {
	tb.t.Helper()
	var names []string
	tb.eval(fmt.Sprintf(`[...document.querySelectorAll(%s + ' .card .card-name')].map(a => a.textContent.trim())`, js(views.CardListID(stage).Sel())), &names)
	return names
}

// header returns the count and total shown in a stage's column header.
func (tb *tab) header(stage string) (string, string) {
	tb.t.Helper()
	var ct []string
	tb.eval(fmt.Sprintf(`(() => { const c = document.querySelector(%s); return [c.querySelector('[data-count]').firstChild.textContent.trim(), c.querySelector('[data-total]').textContent.trim()] })()`, js(columnSel(stage))), &ct)
	return ct[0], ct[1]
}

func (tb *tab) wantHeader(stage, count, total string) {
	tb.t.Helper()
	if c, tot := tb.header(stage); c != count || tot != total {
		tb.t.Errorf("column %q header got count %s, total %s; want %s, %s", stage, c, tot, count, total)
	}
}

// waitHeader waits until a column's header shows count.
func (tb *tab) waitHeader(stage, count string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s shows %s leads", stage, count), fmt.Sprintf(
		`(() => { const c = document.querySelector(%s + ' [data-count]'); return c && c.firstChild.textContent.trim() === %s && !document.querySelector('.card-saving') })()`,
		js(columnSel(stage)), js(count)))
}

// center returns the viewport coordinates of the middle of the element, or of
// the point at fraction fy of its height.
func (tb *tab) point(sel string, fy float64) (float64, float64) {
	tb.t.Helper()
	var xy []float64
	tb.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%s).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height * %f] })()`, js(sel), fy), &xy)
	return xy[0], xy[1]
}

// drag presses the left button at (x0, y0), moves the mouse in small steps to
// (x1, y1) and releases it there: real pointer events, as a person's drag.
func (tb *tab) drag(x0, y0, x1, y1 float64) {
	tb.t.Helper()
	buttons := func(n int64) chromedp.MouseOption {
		return func(p *input.DispatchMouseEventParams) { p.Buttons = n }
	}
	pause := func(d time.Duration) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(chromedp.MousePressed, x0, y0, chromedp.ButtonLeft, buttons(1), chromedp.ClickCount(1)),
		pause(60 * time.Millisecond),
		// A few pixels first, past Sortable's tolerance, to start the drag.
		chromedp.MouseEvent(chromedp.MouseMoved, x0+3, y0+6, chromedp.ButtonLeft, buttons(1)),
		pause(80 * time.Millisecond),
	}
	const n = 16
	for i := 1; i <= n; i++ {
		x := x0 + (x1-x0)*float64(i)/n
		y := y0 + (y1-y0)*float64(i)/n
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x, y, chromedp.ButtonLeft, buttons(1)), pause(30*time.Millisecond))
	}
	// Rest on the drop point for several of Sortable's 50 ms samples, past its
	// 150 ms animation, before letting go.
	steps = append(steps,
		pause(350*time.Millisecond),
		chromedp.MouseEvent(chromedp.MouseMoved, x1, y1+1, chromedp.ButtonLeft, buttons(1)),
		pause(150*time.Millisecond),
		chromedp.MouseEvent(chromedp.MouseReleased, x1, y1+1, chromedp.ButtonLeft, buttons(0), chromedp.ClickCount(1)),
	)
	tb.do("drag", steps...)
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatalf("screenshot dir: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatalf("write screenshot: %v", err)
	}
	abs, _ := filepath.Abs(path)
	tb.t.Logf("screenshot: %s", abs)
}

func (tb *tab) wantDB(stage string, want []string) {
	tb.t.Helper()
	if diff := cmp.Diff(want, columnOrder(tb.t, tb.st, stage)); diff != "" {
		tb.t.Errorf("%s in the database (-want +got):\n%s", stage, diff)
	}
}

func (tb *tab) wantCards(stage string, want []string) {
	tb.t.Helper()
	if diff := cmp.Diff(want, tb.cardNames(stage)); diff != "" {
		tb.t.Errorf("%s on the board (-want +got):\n%s", stage, diff)
	}
}

func TestBrowser(t *testing.T) {
	browser := startBrowser(t)

	t.Run("load board with the demo leads", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.do("viewport", chromedp.EmulateViewport(1920, 1000))
		tb.open("/")
		var stages []string
		tb.eval(`[...document.querySelectorAll('#board > .column')].map(c => c.dataset.status)`, &stages)
		if diff := cmp.Diff(stageNames, stages); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
		tb.wantHeader("Interest", "3", "$100,000")
		tb.wantHeader("Closed won", "2", "$204,000")
		tb.wantCards("Proposal sent", []string{"Emily Chen", "Tom Becker"})
		if got := tb.evalString(`document.getElementById('board-summary').innerText.trim()`); got != "12 leads · $389k open" {
			t.Errorf("summary got %q, want %q", got, "12 leads · $389k open")
		}
		// The assistant's panel sits beside the board, not under it.
		var side bool
		tb.eval(`(() => { const b = document.getElementById('board').getBoundingClientRect(), c = document.getElementById('chat-panel').getBoundingClientRect(); return c.width > 200 && c.left >= b.right - 1 && c.top < b.bottom })()`, &side)
		if !side {
			t.Errorf("chat panel beside the board: got false, want true")
		}
		tb.screenshot("board.png")

		// A narrow window: columns scroll sideways, the panel folds away behind
		// its toggle, which opens it.
		tb.do("narrow viewport", chromedp.EmulateViewport(420, 860))
		tb.waitFor("the chat panel folds away", `getComputedStyle(document.getElementById('chat-panel')).display === 'none'`)
		var scrolls bool
		tb.eval(`document.getElementById('board').scrollWidth > document.getElementById('board').clientWidth`, &scrolls)
		if !scrolls {
			t.Errorf("board scrolls sideways in a narrow window: got false, want true")
		}
		tb.screenshot("board-narrow.png")
		tb.click("open the assistant", "[data-chat-toggle]")
		tb.waitFor("the chat panel shows", `getComputedStyle(document.getElementById('chat-panel')).display !== 'none' && document.querySelector('[data-chat-toggle]').getAttribute('aria-expanded') === 'true'`)
	})

	t.Run("create a lead through the form", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		tb.click("open the form", columnSel("Meeting booked")+" .column-head a.icon-btn")
		tb.waitFor("the dialog is open with the form", `document.getElementById('lead-dialog').open && document.activeElement.id === 'lead-name'`)
		if got := tb.evalString(`document.getElementById('lead-status').value`); got != "Meeting booked" {
			t.Errorf("stage preselected got %q, want %q", got, "Meeting booked")
		}
		tb.do("fill in the form",
			chromedp.SendKeys(chromedp.CSS("#lead-name"), "Ada Lovelace"),
			chromedp.SendKeys(chromedp.CSS("#lead-company"), "Analytical Engines"),
			chromedp.SendKeys(chromedp.CSS("#lead-email"), "ada@example.com"),
			chromedp.SendKeys(chromedp.CSS("#lead-value"), "12,500"),
			chromedp.SendKeys(chromedp.CSS("#lead-source"), "Referral"),
			chromedp.SendKeys(chromedp.CSS("#lead-notes"), "Wants a demo."),
		)
		tb.screenshot("lead-form.png")
		tb.click("submit", "#lead-form button[type=submit]")
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		tb.waitHeader("Meeting booked", "3")
		tb.wantHeader("Meeting booked", "3", "$73,000")
		tb.wantCards("Meeting booked", []string{"Priya Raman", "Carlos Mendes", "Ada Lovelace"})
		tb.waitFor("the message says so", `document.getElementById('flash').innerText.includes('Added Ada Lovelace to Meeting booked.')`)
		ada := leadNamed(t, tb.st, "Ada Lovelace")
		if ada.Company != "Analytical Engines" || ada.Email != "ada@example.com" || ada.Value != 12_500_00 || ada.Source != "Referral" || ada.Notes != "Wants a demo." || ada.Status != "Meeting booked" {
			t.Errorf("stored lead got %+v, want the form's values", ada)
		}

		// A bad one: the field errors show, the dialog stays, the input is kept.
		tb.click("open the form again", columnSel("Interest")+" .column-head a.icon-btn")
		tb.waitFor("the dialog is open", `document.getElementById('lead-dialog').open && document.activeElement.id === 'lead-name'`)
		tb.do("fill in bad values",
			chromedp.SendKeys(chromedp.CSS("#lead-email"), "not-an-email"),
			chromedp.SendKeys(chromedp.CSS("#lead-value"), "lots"),
			chromedp.Click(chromedp.CSS("#lead-form button[type=submit]")),
		)
		tb.waitFor("the field errors show", `!!document.getElementById('lead-name-error') && !!document.getElementById('lead-email-error') && !!document.getElementById('lead-value-error')`)
		tb.screenshot("lead-form-errors.png")
		var state struct {
			Open          bool
			Email, Value  string
			Focus, NameEr string
		}
		tb.eval(`({Open: document.getElementById('lead-dialog').open, Email: document.getElementById('lead-email').value, Value: document.getElementById('lead-value').value, Focus: document.activeElement.id, NameEr: document.getElementById('lead-name-error').innerText})`, &state)
		want := struct {
			Open          bool
			Email, Value  string
			Focus, NameEr string
		}{true, "not-an-email", "lots", "lead-name", "Enter a name."}
		if diff := cmp.Diff(want, state); diff != "" {
			t.Errorf("after a bad submit (-want +got):\n%s", diff)
		}
		if n, err := tb.st.CountLeads(context.Background()); err != nil || n != 13 {
			t.Errorf("leads stored got %d (err %v), want 13", n, err)
		}
		// Escape asks before the typed values are lost, then closes the dialog
		// and empties it.
		tb.do("escape", chromedp.KeyEvent(kb.Escape))
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		if got := tb.takeConfirms(); len(got) != 1 || got[0] != "Discard your unsaved changes to this lead?" {
			t.Errorf("questions on Escape with unsaved changes: got %q, want one asking to discard them", got)
		}
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open && document.getElementById('lead-dialog-body').children.length === 0`)
	})

	t.Run("drag a card to another column", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		jane := leadNamed(t, tb.st, "Jane Doe")
		x0, y0 := tb.point(views.CardID(jane.ID).Sel(), 0.3)
		// Drop below the last card of Negotiation: the end of the column.
		lukas := leadNamed(t, tb.st, "Lukas Novak")
		x1, y1 := tb.point(views.CardID(lukas.ID).Sel(), 1.0)
		tb.drag(x0, y0, x1, y1+40)
		tb.waitHeader("Negotiation", "3")
		tb.wantDB("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Jane Doe"})
		tb.wantDB("Interest", []string{"Bob Martin", "Oliver Smith"})
		tb.wantHeader("Negotiation", "3", "$174,000")
		tb.wantHeader("Interest", "2", "$25,000")
		tb.wantCards("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Jane Doe"})
		tb.wantCards("Interest", []string{"Bob Martin", "Oliver Smith"})
		if got := tb.evalString(`document.getElementById('board-summary').innerText.trim()`); got != "12 leads · $389k open" {
			t.Errorf("summary got %q, want %q", got, "12 leads · $389k open")
		}
		// The drag did not open the lead.
		if open := tb.evalString(`String(document.getElementById('lead-dialog').open)`); open != "false" {
			t.Errorf("dialog open after a drag: got %s, want false", open)
		}
	})

	t.Run("reorder within a column by dragging", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		oliver := leadNamed(t, tb.st, "Oliver Smith")
		jane := leadNamed(t, tb.st, "Jane Doe")
		x0, y0 := tb.point(views.CardID(oliver.ID).Sel(), 0.3)
		x1, y1 := tb.point(views.CardID(jane.ID).Sel(), 0.2)
		tb.drag(x0, y0, x1, y1)
		tb.waitFor("the column is re-rendered with Oliver first", fmt.Sprintf(
			`(() => { const l = document.querySelector(%s); return l && l.querySelector('.card').id === %s && !document.querySelector('.card-saving') })()`,
			js(views.CardListID("Interest").Sel()), js(views.CardID(oliver.ID).String())))
		tb.wantDB("Interest", []string{"Oliver Smith", "Jane Doe", "Bob Martin"})
		tb.wantCards("Interest", []string{"Oliver Smith", "Jane Doe", "Bob Martin"})
		var orders []string
		tb.eval(fmt.Sprintf(`[...document.querySelectorAll(%s + ' .card')].map(c => c.dataset.order)`, js(views.CardListID("Interest").Sel())), &orders)
		if diff := cmp.Diff([]string{"0", "1", "2"}, orders); diff != "" {
			t.Errorf("re-rendered positions (-want +got):\n%s", diff)
		}
		tb.wantHeader("Interest", "3", "$100,000")
	})

	t.Run("move with the keyboard", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		jane := leadNamed(t, tb.st, "Jane Doe")
		bob := leadNamed(t, tb.st, "Bob Martin")
		carlos := leadNamed(t, tb.st, "Carlos Mendes")
		// The board is one Tab stop: one card's link, the first card's at first.
		var stops []string
		tb.eval(`[...document.querySelectorAll('#board .card a, #board .card button')].filter(e => e.tabIndex >= 0).map(e => e.id || e.className)`, &stops)
		if diff := cmp.Diff([]string{views.CardOpenID(jane.ID).String()}, stops); diff != "" {
			t.Errorf("Tab stops among the cards (-want +got):\n%s", diff)
		}
		// Arrow keys go down a column, across to the next, and back.
		tb.do("focus the card", chromedp.Focus(chromedp.CSS(views.CardOpenID(jane.ID).Sel())))
		var path []string
		for _, k := range []string{kb.ArrowDown, kb.ArrowRight, kb.ArrowLeft, kb.ArrowUp} {
			tb.do("arrow", chromedp.KeyEvent(k))
			path = append(path, tb.evalString(`document.activeElement.id`))
		}
		wantPath := []string{views.CardOpenID(bob.ID).String(), views.CardOpenID(carlos.ID).String(), views.CardOpenID(bob.ID).String(), views.CardOpenID(jane.ID).String()}
		if diff := cmp.Diff(wantPath, path); diff != "" {
			t.Errorf("focus along the arrow keys (-want +got):\n%s", diff)
		}
		tb.eval(`[...document.querySelectorAll('#board .card-name')].filter(e => e.tabIndex === 0).map(e => e.id)`, &stops)
		if diff := cmp.Diff([]string{views.CardOpenID(jane.ID).String()}, stops); diff != "" {
			t.Errorf("Tab stops after moving the focus (-want +got):\n%s", diff)
		}
		var ring struct{ Style, Width string }
		tb.eval(`(() => { const s = getComputedStyle(document.activeElement, '::after'); return {Style: s.outlineStyle, Width: s.outlineWidth} })()`, &ring)
		if ring.Style != "solid" || ring.Width != "2px" {
			t.Errorf("focused card got outline %s %s; want solid 2px", ring.Style, ring.Width)
		}
		tb.screenshot("keyboard-focus.png")

		// M opens the move menu on the card; its first item is "Move down"
		// (Jane is first, so "Move up" is disabled), then the other stages.
		tb.do("open the move menu", chromedp.KeyEvent("m"))
		tb.waitFor("the menu is open", `document.getElementById('move-menu').matches(':popover-open') && document.activeElement.dataset.move === 'down'`)
		if got := tb.evalString(`document.getElementById('move-menu-title').innerText`); got != "Move Jane Doe" {
			t.Errorf("menu title got %q, want %q", got, "Move Jane Doe")
		}
		tb.screenshot("move-menu.png")
		tb.do("choose Proposal sent", chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
		if got := tb.evalString(`document.activeElement.innerText`); got != "To Proposal sent" {
			t.Fatalf("menu item after two arrow keys got %q, want %q", got, "To Proposal sent")
		}
		tb.do("move", chromedp.KeyEvent(kb.Enter))
		tb.waitHeader("Proposal sent", "3")
		// A move that names no position puts the card at the end, as the API does.
		tb.wantDB("Proposal sent", []string{"Emily Chen", "Tom Becker", "Jane Doe"})
		tb.wantCards("Proposal sent", []string{"Emily Chen", "Tom Becker", "Jane Doe"})
		tb.wantHeader("Interest", "2", "$25,000")
		tb.wantHeader("Proposal sent", "3", "$204,500")
		// Focus follows the card to its new column.
		tb.waitFor("focus stays on the card", fmt.Sprintf(`document.activeElement.id === %s`, js(views.CardOpenID(jane.ID).String())))

		// Alt+Up moves it one place up.
		tb.do("alt+up", chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
		tb.waitFor("Jane is second", fmt.Sprintf(`document.querySelectorAll(%s + ' .card')[1].id === %s && !document.querySelector('.card-saving')`,
			js(views.CardListID("Proposal sent").Sel()), js(views.CardID(jane.ID).String())))
		tb.wantDB("Proposal sent", []string{"Emily Chen", "Jane Doe", "Tom Becker"})
		tb.waitFor("the move is announced", `document.getElementById('flash').innerText.includes('Jane Doe is now number 2 in Proposal sent.')`)

		// Undo in the message takes the last move back.
		tb.click("undo", "#flash .toast-undo")
		tb.waitFor("Jane is last again", fmt.Sprintf(`document.querySelectorAll(%s + ' .card')[2].id === %s && !document.querySelector('.card-saving')`,
			js(views.CardListID("Proposal sent").Sel()), js(views.CardID(jane.ID).String())))
		tb.wantDB("Proposal sent", []string{"Emily Chen", "Tom Becker", "Jane Doe"})
	})

	t.Run("a refused move puts the card back and says why", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		bob := leadNamed(t, tb.st, "Bob Martin")
		// Someone else deletes Bob while this page shows him.
		if _, err := tb.st.DeleteLead(context.Background(), bob.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		x0, y0 := tb.point(views.CardID(bob.ID).Sel(), 0.3)
		emily := leadNamed(t, tb.st, "Emily Chen")
		x1, y1 := tb.point(views.CardID(emily.ID).Sel(), 0.2)
		tb.drag(x0, y0, x1, y1)
		tb.waitFor("the error shows", `document.querySelector('#flash .toast-error') !== null`)
		if got := tb.evalString(`document.querySelector('#flash .toast-error p').innerText.trim()`); got != leadGone {
			t.Errorf("message got %q, want %q", got, leadGone)
		}
		tb.waitHeader("Interest", "2")
		tb.wantCards("Interest", []string{"Jane Doe", "Oliver Smith"})
		tb.wantCards("Proposal sent", []string{"Emily Chen", "Tom Becker"})
		tb.wantHeader("Proposal sent", "2", "$129,500")
	})

	t.Run("a server error puts the dragged card back", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		jane := leadNamed(t, tb.st, "Jane Doe")
		lukas := leadNamed(t, tb.st, "Lukas Novak")
		x0, y0 := tb.point(views.CardID(jane.ID).Sel(), 0.3)
		x1, y1 := tb.point(views.CardID(lukas.ID).Sel(), 1.0)
		tb.pool.Close() // the database is gone: the move fails with a 5xx and no columns
		tb.drag(x0, y0, x1, y1+40)
		tb.waitFor("the error shows", `document.querySelector('#flash .toast-error') !== null`)
		if got := tb.evalString(`document.querySelector('#flash .toast-error').innerText`); !strings.Contains(got, "Request id") {
			t.Errorf("message got %q, want one with the request id", got)
		}
		tb.waitFor("the card is back", fmt.Sprintf(`document.querySelector(%s).parentElement.id === %s && !document.querySelector('.card-saving')`,
			js(views.CardID(jane.ID).Sel()), js(views.CardListID("Interest").String())))
		tb.wantCards("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.wantCards("Negotiation", []string{"Aisha Okafor", "Lukas Novak"})
	})

	t.Run("edit a lead", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		emily := leadNamed(t, tb.st, "Emily Chen")
		tb.click("open the card", views.CardOpenID(emily.ID).Sel())
		tb.waitFor("the detail is open", `document.getElementById('lead-dialog').open && document.getElementById('lead-dialog-title').innerText === 'Emily Chen'`)
		if got := tb.evalString(`document.getElementById('lead-notes').value`); got != "Needs HIPAA paperwork before signing." {
			t.Errorf("notes got %q, want them in full", got)
		}
		tb.screenshot("lead-detail.png")
		tb.do("edit",
			chromedp.Clear(chromedp.CSS("#lead-value")),
			chromedp.SendKeys(chromedp.CSS("#lead-value"), "130000"),
			chromedp.Focus(chromedp.CSS("#lead-notes")),
			chromedp.KeyEvent(kb.End, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent(" Paperwork signed."),
			chromedp.SetValue(chromedp.CSS("#lead-status"), "Negotiation"),
			chromedp.Click(chromedp.CSS("#lead-form button[type=submit]")),
		)
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		tb.waitHeader("Negotiation", "3")
		tb.wantHeader("Negotiation", "3", "$229,000")
		tb.wantHeader("Proposal sent", "1", "$9,500")
		tb.wantCards("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Emily Chen"})
		if got := tb.evalString(fmt.Sprintf(`document.querySelector(%s + ' .card-value').innerText`, js(views.CardID(emily.ID).Sel()))); got != "$130,000" {
			t.Errorf("card value got %q, want %q", got, "$130,000")
		}
		got, err := tb.st.GetLead(context.Background(), emily.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Value != 130_000_00 || got.Notes != "Needs HIPAA paperwork before signing. Paperwork signed." || got.Status != "Negotiation" {
			t.Errorf("stored lead got value %d, notes %q, status %q; want 13000000, the appended notes, Negotiation", got.Value, got.Notes, got.Status)
		}
		// Focus went back to the card it was opened from.
		tb.waitFor("focus returns to the card", fmt.Sprintf(`document.activeElement.id === %s`, js(views.CardOpenID(emily.ID).String())))
	})

	t.Run("delete a lead after confirming", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		tom := leadNamed(t, tb.st, "Tom Becker")
		tb.click("open the card", views.CardOpenID(tom.ID).Sel())
		tb.waitFor("the detail is open", `document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form a.btn-danger')`)
		tb.click("delete…", "#lead-form a.btn-danger")
		tb.waitFor("the confirmation shows", `document.getElementById('lead-dialog-title').innerText === 'Delete Tom Becker?'`)
		if _, err := tb.st.GetLead(context.Background(), tom.ID); err != nil {
			t.Errorf("lead before confirming: got err %v, want it still there", err)
		}
		tb.click("confirm", "#lead-dialog-body button.btn-danger-solid")
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		tb.waitHeader("Proposal sent", "1")
		tb.wantHeader("Proposal sent", "1", "$120,000")
		tb.wantCards("Proposal sent", []string{"Emily Chen"})
		if _, err := tb.st.GetLead(context.Background(), tom.ID); err != store.ErrNotFound {
			t.Errorf("lead after deleting: got err %v, want ErrNotFound", err)
		}
	})

	t.Run("search as you type", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.open("/")
		tb.do("type", chromedp.SendKeys(chromedp.CSS("#board-search"), "acme"))
		tb.waitFor("the board is filtered", `document.querySelectorAll('#board .card').length === 1 && location.search === '?q=acme'`)
		tb.wantCards("Interest", []string{"Bob Martin"})
		tb.wantHeader("Interest", "1", "$20,000")
		tb.wantHeader("Negotiation", "0", "$0")
		// Reload: the URL keeps the search.
		tb.open("/?q=acme")
		if got := tb.evalString(`document.getElementById('board-search').value`); got != "acme" {
			t.Errorf("search box after reload got %q, want acme", got)
		}
		tb.wantCards("Interest", []string{"Bob Martin"})
		// The assistant changed leads: the board re-renders, keeping the search.
		newLead(t, tb.st, "Acme Two", "Acme Inc", "Negotiation", 1_000_00)
		newLead(t, tb.st, "Zed", "Elsewhere", "Negotiation", 1_000_00)
		tb.do("leads-changed", chromedp.Evaluate[chromedp.Void](`htmx.trigger(document.body, 'leads-changed')`))
		tb.waitHeader("Negotiation", "1")
		tb.wantCards("Negotiation", []string{"Acme Two"})
		// Clearing the search shows everything again, at /.
		tb.do("clear", chromedp.Focus(chromedp.CSS("#board-search")), chromedp.KeyEvent(kb.End))
		for range 4 {
			tb.do("backspace", chromedp.KeyEvent(kb.Backspace))
		}
		tb.waitFor("the board is whole again", `document.querySelectorAll('#board .card').length === 14 && location.search === ''`)
		tb.wantHeader("Negotiation", "4", "$101,000")
	})

	t.Run("scroll a column of 200 leads until all are loaded", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		for i := range 200 {
			newLead(t, tb.st, fmt.Sprintf("Lead %03d", i), "Bulk Co", "Interest", 10_00)
		}
		tb.open("/")
		list := js(views.CardListID("Interest").Sel())
		var n int
		tb.eval(fmt.Sprintf(`document.querySelectorAll(%s + ' .card').length`, list), &n)
		if n != views.PageSize {
			t.Errorf("cards on first paint got %d, want %d", n, views.PageSize)
		}
		tb.wantHeader("Interest", "200", "$2,000")
		for loaded := n; loaded < 200; {
			tb.do("scroll", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const l = document.querySelector(%s); l.scrollTop = l.scrollHeight })()`, list)))
			tb.waitFor("more cards load", fmt.Sprintf(`document.querySelectorAll(%s + ' .card').length > %d`, list, loaded))
			tb.eval(fmt.Sprintf(`document.querySelectorAll(%s + ' .card').length`, list), &loaded)
		}
		var names []string
		tb.eval(fmt.Sprintf(`[...document.querySelectorAll(%s + ' .card .card-name')].map(a => a.textContent)`, list), &names)
		if len(names) != 200 || names[0] != "Lead 000" || names[199] != "Lead 199" {
			t.Errorf("loaded cards got %d (%s … %s), want 200 (Lead 000 … Lead 199)", len(names), first(names), last(names))
		}
		var dup bool
		tb.eval(fmt.Sprintf(`new Set([...document.querySelectorAll(%s + ' .card')].map(c => c.id)).size !== 200`, list), &dup)
		if dup {
			t.Errorf("loaded cards: got duplicates, want 200 distinct")
		}
		tb.waitFor("no loader is left", fmt.Sprintf(`!document.querySelector(%s)`, js(views.LoadMoreID("Interest").Sel())))
		tb.wantHeader("Interest", "200", "$2,000")
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return strings.TrimSpace(s[len(s)-1])
}
