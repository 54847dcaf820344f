package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// waitWithin is waitFor with a time limit of its own.
func (tb *tab) waitWithin(limit time.Duration, what, cond string) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(limit), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		state, _ := chromedp.Run(context.WithoutCancel(tb.ctx), chromedp.Evaluate[string](pageState))
		tb.t.Fatalf("waiting %s until %s (%s): %v\npage: %s", limit, what, cond, err, state)
	}
}

// cardIn is a condition: the lead's card is in the stage's column.
func cardIn(l store.Lead, stage string) string {
	return fmt.Sprintf(`!!document.querySelector(%s)`, js(views.CardListID(stage).Sel()+" > "+views.CardID(l.ID).Sel()))
}

// Two people, two browsers, one server: what A does appears on B's board
// without a reload, with its column counts, a highlight and a message; a lead
// B has open is not re-rendered under the dialog, which says it changed.
func TestBrowserLiveBoard(t *testing.T) {
	browser := startBrowser(t)
	st, pool := storetest.NewStore(t)
	seedDemo(t, st)
	hub := NewEventHub(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := &Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Sessions: SessionsForTest(pool), Events: hub}
	h := srv.Routes()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close) // before ts.Close, which waits for the streams

	a := newTabOn(t, browser, ts.URL, st, pool, h)
	a.signIn(h, ts.URL, st, "ann@example.com")
	b := newTabOn(t, browser, ts.URL, st, pool, h)
	b.signIn(h, ts.URL, st, "ben@example.com")
	a.open("/")
	b.open("/")
	deadline := time.Now().Add(20 * time.Second)
	for hub.streams() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := hub.streams(); n != 2 {
		t.Fatalf("open event streams: got %d, want 2 (one per tab)", n)
	}

	// A moves Jane Doe with the card's "move to" control; B sees her move
	// within 2 s, highlighted, with the counts and the message.
	jane := leadNamed(t, st, "Jane Doe")
	b.wantHeader("Interest", "3", "$100,000")
	// A keyboard user opens the board's move menu on the card (M) and picks the stage.
	a.do("open the move menu", chromedp.Focus(chromedp.CSS(views.CardOpenID(jane.ID).Sel())), chromedp.KeyEvent("m"))
	a.waitFor("the move menu is open", `document.getElementById('move-menu').matches(':popover-open')`)
	a.click("move Jane Doe", `#move-menu [data-move-to="Negotiation"]`)
	a.waitFor("A's move is done", cardIn(jane, "Negotiation")+` && !document.querySelector('.card-saving')`)
	b.waitWithin(2*time.Second, "Jane Doe's card moves on B's board", cardIn(jane, "Negotiation")+
		` && document.querySelector(`+js(views.CardID(jane.ID).Sel())+`).classList.contains('card-live')`)
	b.screenshot("live-board-b.png")
	b.waitHeader("Interest", "2")
	b.wantHeader("Interest", "2", "$25,000")
	b.wantHeader("Negotiation", "3", "$174,000")
	b.waitFor("B is told", `document.getElementById('flash').innerText.includes('Ann moved Jane Doe (Negotiation).')`)
	// A's own move is on A's page already: no live message there. (Its event
	// reached A when it reached B; give it the same moment to be wrongly shown.)
	time.Sleep(300 * time.Millisecond)
	if got := a.evalString(`document.getElementById('flash').innerText`); got != "" && !strings.Contains(got, "Moved Jane Doe") {
		t.Errorf("A's message after A's own move: got %q, want only the server's answer", got)
	}
	if n := a.evalString(`String(document.querySelectorAll('.toast-live').length)`); n != "0" {
		t.Errorf("live messages on A's page after A's own move: got %s, want 0", n)
	}

	// A creates a lead through the form; B sees it.
	a.click("open the form", columnSel("Meeting booked")+" .column-head a.icon-btn")
	a.waitFor("the form is open", `document.getElementById('lead-dialog').open && document.activeElement.id === 'lead-name'`)
	a.do("fill in the form", chromedp.SendKeys(chromedp.CSS("#lead-name"), "Ada Lovelace"))
	a.click("submit", "#lead-form button[type=submit]")
	a.waitFor("A's dialog closes", `!document.getElementById('lead-dialog').open`)
	ada := leadNamed(t, st, "Ada Lovelace")
	b.waitWithin(2*time.Second, "Ada's card appears on B's board", cardIn(ada, "Meeting booked"))
	b.waitHeader("Meeting booked", "3")

	// A deletes Bob Martin; his card leaves B's board.
	bob := leadNamed(t, st, "Bob Martin")
	a.click("open Bob", views.CardOpenID(bob.ID).Sel())
	a.waitFor("the detail is open", `document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form a.btn-danger')`)
	a.click("delete…", "#lead-form a.btn-danger")
	a.waitFor("the confirmation shows", `document.getElementById('lead-dialog-title').innerText === 'Delete Bob Martin?'`)
	a.click("confirm", "#lead-dialog-body button.btn-danger-solid")
	b.waitWithin(2*time.Second, "Bob's card leaves B's board", `!document.querySelector(`+js(views.CardID(bob.ID).Sel())+`)`)
	b.waitHeader("Interest", "1")

	// B has Priya open when A changes her: the dialog says so, and her card
	// follows once B closes it.
	priya := leadNamed(t, st, "Priya Raman")
	b.click("open Priya", views.CardOpenID(priya.ID).Sel())
	b.waitFor("B's dialog is open", `document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form')`)
	ann, err := st.GetUserByEmail(context.Background(), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	value := store.Money(55_000_00)
	if _, err := st.UpdateLead(store.WithActor(context.Background(), store.UserActor(ann)), priya.ID, store.LeadInput{Value: &value}); err != nil {
		t.Fatal(err)
	}
	b.waitWithin(2*time.Second, "B's dialog says Priya changed", `(document.querySelector('#lead-dialog .live-notice') || {}).innerText?.includes('Ann changed Priya Raman: value.')`)
	b.screenshot("live-dialog-b.png")
	if got := b.evalString(`document.querySelector(` + js(views.CardID(priya.ID).Sel()) + `).innerText`); strings.Contains(got, "$55,000") {
		t.Errorf("Priya's card under B's open dialog: got %q, want it not re-rendered yet", got)
	}
	b.click("close the dialog", "#lead-dialog [data-dialog-close]")
	b.waitWithin(2*time.Second, "Priya's card follows after the dialog closed",
		`document.querySelector(`+js(views.CardID(priya.ID).Sel())+`).innerText.includes('$55,000')`)
}

// streams is how many streams the hub serves.
func (h *EventHub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
