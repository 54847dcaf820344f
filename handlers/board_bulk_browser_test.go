package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// Browser tests of bulk selection on the board (issue 13, "Bulk actions"):
// cards selected by checkbox, Shift-click and the keyboard, moved, deleted and
// put back with the message's one Undo; the selection survives another
// person's change re-rendering the column.

// newLiveTab is newTab on a server with the event stream (live.js), over a
// database with the demo leads.
func newLiveTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	st, pool := storetest.NewStore(t)
	seedDemo(t, st)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := NewEventHub(st, nil, log)
	srv := &Server{Store: st, Log: log, Version: "test", Sessions: SessionsForTest(pool), Events: hub}
	h := srv.Routes()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close) // before ts.Close, which waits for the streams
	tb := newTabOn(t, browser, ts.URL, st, pool, h)
	tb.signIn(h, ts.URL, st, "browser@example.com")
	return tb
}

// checkSel is the selector of the checkbox on the card of l.
func checkSel(l store.Lead) string { return views.CardID(l.ID).Sel() + " .card-check input" }

// selectedNames lists the names of the selected cards, in board order.
func (tb *tab) selectedNames() []string {
	tb.t.Helper()
	var names []string
	tb.eval(`[...document.querySelectorAll('#board .card')].filter(c => c.classList.contains('card-selected') && c.querySelector('.card-check input').checked).map(c => c.querySelector('.card-name').textContent.trim())`, &names)
	return names
}

// waitSelected waits until the bulk bar says n selected.
func (tb *tab) waitSelected(n int) {
	tb.t.Helper()
	if n == 0 {
		tb.waitFor("the bulk bar hides", `document.getElementById('bulk-bar').hidden`)
		return
	}
	tb.waitFor(fmt.Sprintf("the bulk bar says %d selected", n), fmt.Sprintf(`!document.getElementById('bulk-bar').hidden && document.getElementById('bulk-count').textContent === %s`, js(fmt.Sprintf("%d selected", n))))
}

// shiftClick clicks the element sel with Shift held.
func (tb *tab) shiftClick(what, sel string) {
	tb.t.Helper()
	x, y := tb.point(sel, 0.5)
	tb.do(what, chromedp.MouseClickXY(x, y, chromedp.ButtonModifiers(chromedp.ModifierShift)))
}

func TestBrowserBulk(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)

	t.Run("select by checkbox, Shift-click and keyboard; move; Undo", func(t *testing.T) {
		t.Parallel()
		tb := newLiveTab(t, browser)
		ctx := context.Background()
		jane, bob, oliver := leadNamed(t, tb.st, "Jane Doe"), leadNamed(t, tb.st, "Bob Martin"), leadNamed(t, tb.st, "Oliver Smith")
		priya := leadNamed(t, tb.st, "Priya Raman")
		tb.do("viewport", chromedp.EmulateViewport(1600, 1000))
		tb.open("/")
		tb.click("select Jane", checkSel(jane))
		tb.waitSelected(1)
		tb.shiftClick("shift-click Oliver", checkSel(oliver))
		tb.waitSelected(3)
		if got := tb.selectedNames(); fmt.Sprint(got) != "[Jane Doe Bob Martin Oliver Smith]" {
			t.Errorf("after Shift-click: got %v selected, want Jane, Bob, Oliver", got)
		}
		// The keyboard: X on a focused card toggles it, Space too.
		tb.do("focus Bob, press x", chromedp.Focus(chromedp.CSS(views.CardOpenID(bob.ID).Sel())), chromedp.KeyEvent("x"))
		tb.waitSelected(2)
		tb.do("space", chromedp.KeyEvent(" "))
		tb.waitSelected(3)
		tb.do("focus Priya, press x", chromedp.Focus(chromedp.CSS(views.CardOpenID(priya.ID).Sel())), chromedp.KeyEvent("x"))
		tb.waitSelected(4)
		if got := tb.evalString(`document.querySelector('#flash [data-announce]').textContent`); got != "Priya Raman selected. 4 selected." {
			t.Errorf("announced %q, want %q", got, "Priya Raman selected. 4 selected.")
		}
		tb.do("x again", chromedp.KeyEvent("x"))
		tb.waitSelected(3)
		tb.axe("the board with the bulk bar", src)

		// Someone else changes Jane: her column is re-rendered, she stays selected.
		if _, err := tb.st.UpdateLead(ctx, jane.ID, store.LeadInput{Notes: ptrTo("Changed by someone else.")}); err != nil {
			t.Fatal(err)
		}
		tb.waitFor("Jane's card is re-rendered", fmt.Sprintf(`document.querySelector(%s).dataset.version !== %s`, js(views.CardID(jane.ID).Sel()), js(fmt.Sprint(jane.Version))))
		tb.waitSelected(3)
		tb.waitFor("Jane, Bob and Oliver are still selected", `[...document.querySelectorAll('#board .card.card-selected')].filter(c => c.querySelector('.card-check input').checked).map(c => c.querySelector('.card-name').textContent.trim()).join('|') === 'Jane Doe|Bob Martin|Oliver Smith'`)

		tb.do("choose Negotiation", chromedp.SetValue(chromedp.CSS("#bulk-stage"), "Negotiation"))
		tb.click("move", `#bulk-bar [data-bulk="move"]`)
		tb.waitSelected(0)
		tb.waitHeader("Negotiation", "5")
		tb.wantDB("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.waitFor("the message", `document.getElementById('flash').innerText.includes('Moved 3 leads to Negotiation.')`)
		var undos int
		tb.eval(`document.querySelectorAll('#flash .toast-undo').length`, &undos)
		if undos != 1 {
			t.Errorf("Undo buttons in the message: got %d, want 1", undos)
		}
		tb.click("undo", "#flash .toast-undo")
		tb.waitFor("the undo's message", `document.getElementById('flash').innerText.includes('Put back 3 leads.')`)
		tb.waitHeader("Interest", "3")
		tb.wantDB("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.wantCards("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
	})

	t.Run("delete in bulk, Undo; move into lost asks why; Escape clears", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		ctx := context.Background()
		jane, bob := leadNamed(t, tb.st, "Jane Doe"), leadNamed(t, tb.st, "Bob Martin")
		emily, tom := leadNamed(t, tb.st, "Emily Chen"), leadNamed(t, tb.st, "Tom Becker")
		tb.do("viewport", chromedp.EmulateViewport(1600, 1000))
		tb.open("/")
		tb.click("select Jane", checkSel(jane))
		tb.click("select Bob", checkSel(bob))
		tb.waitSelected(2)
		tb.click("delete", `#bulk-bar [data-bulk="delete"]`)
		tb.waitSelected(0)
		tb.waitHeader("Interest", "1")
		tb.waitFor("the message", `document.getElementById('flash').innerText.includes('Deleted 2 leads; they are in the trash.')`)
		if trash, err := tb.st.ListTrash(ctx, 100); err != nil || len(trash) != 2 {
			t.Errorf("the trash: got %d leads (%v), want 2", len(trash), err)
		}
		tb.click("undo", "#flash .toast-undo")
		tb.waitFor("the undo's message", `document.getElementById('flash').innerText.includes('Put back 2 leads.')`)
		tb.waitHeader("Interest", "3")
		tb.wantDB("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})

		// Into a lost stage: the lost-reason dialog, for both.
		tb.click("select Emily", checkSel(emily))
		tb.shiftClick("shift-click Tom", checkSel(tom))
		tb.waitSelected(2)
		tb.do("choose Closed lost", chromedp.SetValue(chromedp.CSS("#bulk-stage"), "Closed lost"))
		tb.click("move", `#bulk-bar [data-bulk="move"]`)
		tb.waitFor("the dialog asks why", lostOpen)
		if got := tb.evalString(`document.getElementById('lost-dialog-what').innerText`); got != "Moving 2 leads to Closed lost." {
			t.Errorf("the dialog says %q, want %q", got, "Moving 2 leads to Closed lost.")
		}
		tb.click("pick a reason", `#lost-form input[name=lost_choice][value="No budget"]`)
		tb.click("save", "#lost-form [data-lost-save]")
		tb.waitSelected(0)
		tb.waitHeader("Closed lost", "3")
		for _, l := range []store.Lead{emily, tom} {
			if got, err := tb.st.GetLead(ctx, l.ID); err != nil || got.Status != "Closed lost" || got.LostReason != "No budget" {
				t.Errorf("%s: got %q reason %q (%v), want Closed lost for No budget", l.Name, got.Status, got.LostReason, err)
			}
		}

		// Escape on the board clears the selection.
		tb.do("focus Jane, x", chromedp.Focus(chromedp.CSS(views.CardOpenID(jane.ID).Sel())), chromedp.KeyEvent("x"))
		tb.waitSelected(1)
		tb.do("escape", chromedp.KeyEvent(kb.Escape))
		tb.waitSelected(0)
	})

	t.Run("screenshots", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		jane, oliver := leadNamed(t, tb.st, "Jane Doe"), leadNamed(t, tb.st, "Oliver Smith")
		for _, size := range []struct {
			name string
			w, h int64
		}{{"390", 390, 844}, {"1280", 1280, 800}} {
			tb.do("viewport", chromedp.EmulateViewport(size.w, size.h))
			tb.open("/")
			tb.click("select Jane", checkSel(jane))
			tb.shiftClick("shift-click Oliver", checkSel(oliver))
			tb.waitSelected(3)
			tb.screenshot("bulk-bar-" + size.name + ".png")
			for _, sel := range []string{`#bulk-bar [data-bulk="move"]`, `#bulk-bar [data-bulk="assign"]`, `#bulk-bar [data-bulk="delete"]`, `#bulk-bar [data-bulk="clear"]`, "#bulk-stage", "#bulk-owner", checkSel(jane)} {
				if why := tb.unreachable(sel); why != "" {
					t.Errorf("%s at %s: %s", sel, size.name, why)
				}
			}
			if size.name == "390" {
				var small []string
				tb.eval(`[...document.querySelectorAll('#bulk-bar button, #bulk-bar select, #board .card-check')].filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.height < 44 || r.width < 44) }).map(e => e.outerHTML.slice(0, 60))`, &small)
				if len(small) > 0 {
					t.Errorf("touch targets under 44 px on a phone: %v", small)
				}
			}
			if o := tb.overflow(); o != "" {
				t.Errorf("at %s: %s", size.name, o)
			}
			tb.click("clear", `#bulk-bar [data-bulk="clear"]`)
			tb.waitSelected(0)
		}
	})
}
