package handlers

import (
	"context"

	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// peer opens a second browser context (its own cookies) on tb's server, signed
// in as another member: a second person at the same board.
func (tb *tab) peer(t *testing.T, browser context.Context, email string) *tab {
	t.Helper()
	tabCtx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx, url: tb.url, st: tb.st, pool: tb.pool, h: tb.h}
	b.signInAs(email, store.RoleMember)
	return b
}

// openLead opens the lead's dialog from its card and waits for the form.
func (tb *tab) openLead(id string) {
	tb.t.Helper()
	tb.click("open the lead", "#"+views.ID("open-"+id).String())
	tb.waitFor("the lead form is open", `!!document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form [name=version]')`)
}

// setField replaces the text of a lead form field.
func (tb *tab) setField(field, value string) {
	tb.t.Helper()
	sel := views.FieldID(field).Sel()
	tb.do("set "+field, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// save submits the open lead form.
func (tb *tab) save() {
	tb.t.Helper()
	tb.click("save", views.LeadFormID.Sel()+` button[type=submit]`)
}

// TestBrowserTogether runs two people at one board, each in a browser of their
// own: a drag of a card the other moved meanwhile is refused and shows where
// the card is; edits of different fields of one lead both survive; edits of
// the same field show the second person the conflict view.
func TestBrowserTogether(t *testing.T) {
	browser := startBrowser(t)

	t.Run("a stale drag is refused", func(t *testing.T) {
		t.Parallel()
		a := newTab(t, browser)
		seedDemo(t, a.st)
		b := a.peer(t, browser, "bob@example.com")
		a.open("/")
		b.open("/")
		jane := leadNamed(t, a.st, "Jane Doe")
		oliver := leadNamed(t, a.st, "Oliver Smith")
		// Ann moves Jane Doe to Negotiation (through the store: the browser
		// that matters here is B's).
		ann := UserForTest(t, a.st, "ann@example.com", store.RoleMember)
		if _, err := a.st.MoveLead(store.WithActor(context.Background(), store.UserActor(ann)), jane.ID, "Negotiation", 0); err != nil {
			t.Fatal(err)
		}
		// B, whose board still shows her in Interest, drags her below Oliver.
		x0, y0 := b.point(views.CardID(jane.ID).Sel(), 0.3)
		x1, y1 := b.point(views.CardID(oliver.ID).Sel(), 0.9)
		b.drag(x0, y0, x1, y1)
		b.waitFor("the refusal is shown", `!!document.querySelector('#flash .toast-error')`)
		msg := b.evalString(`document.querySelector('#flash .toast-error p').innerText`)
		if !strings.Contains(msg, "Ann moved Jane Doe to Negotiation") || !strings.Contains(msg, "not made") {
			t.Errorf("message got %q, want it to name who moved Jane Doe where and say the move was not made", msg)
		}
		b.waitHeader("Negotiation", "3")
		b.wantCards("Interest", []string{"Bob Martin", "Oliver Smith"})
		if got := b.cardNames("Negotiation"); !containsName(got, "Jane Doe") {
			t.Errorf("B's Negotiation column: got %v, want Jane Doe there, where she is", got)
		}
		a.wantDB("Interest", []string{"Bob Martin", "Oliver Smith"})
		b.screenshot("together-stale-drag.png")
	})

	t.Run("edits of different fields merge", func(t *testing.T) {
		t.Parallel()
		a := newTab(t, browser)
		seedDemo(t, a.st)
		b := a.peer(t, browser, "bob@example.com")
		a.open("/")
		b.open("/")
		jane := leadNamed(t, a.st, "Jane Doe")
		a.openLead(jane.ID.String())
		b.openLead(jane.ID.String())
		a.setField("value", "99000")
		a.save()
		a.waitFor("A's dialog closes", `!document.getElementById('lead-dialog').open`)
		b.setField("phone", "+1 555 0100")
		b.save()
		b.waitFor("B's dialog closes", `!document.getElementById('lead-dialog').open`)
		got, err := a.st.GetLead(context.Background(), jane.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != 99_000_00 || got.Phone != "+1 555 0100" {
			t.Errorf("Jane Doe after both saves: value %v, phone %q; want A's 99000 and B's phone", got.Value, got.Phone)
		}
	})

	t.Run("edits of the same field conflict", func(t *testing.T) {
		t.Parallel()
		a := newTab(t, browser)
		seedDemo(t, a.st)
		b := a.peer(t, browser, "bob@example.com")
		a.open("/")
		b.open("/")
		jane := leadNamed(t, a.st, "Jane Doe")
		a.openLead(jane.ID.String())
		b.openLead(jane.ID.String())
		a.setField("value", "99000")
		a.save()
		a.waitFor("A's dialog closes", `!document.getElementById('lead-dialog').open`)
		b.setField("value", "50000")
		b.setField("source", "Referral")
		b.save()
		b.waitFor("B sees the conflict", `!!document.querySelector('#conflict-value')`)
		theirs := b.evalString(`document.querySelector('#conflict-value .conflict-theirs').innerText`)
		mine := b.evalString(`document.querySelector('#conflict-value .conflict-mine').innerText`)
		by := b.evalString(`document.querySelector('#conflict-value .conflict-by').innerText`)
		if theirs != "$99,000" || mine != "$50,000" || !strings.HasPrefix(by, "(Browser,") {
			t.Errorf("conflict view: theirs %q, mine %q, by %q; want $99,000, $50,000 and A's name", theirs, mine, by)
		}
		if n := b.evalString(`String(document.querySelectorAll('.conflict').length)`); n != "1" {
			t.Errorf("conflicts shown: got %s, want 1 (the source is merged)", n)
		}
		b.screenshot("together-conflict.png")
		got, _ := a.st.GetLead(context.Background(), jane.ID)
		if got.Value != 99_000_00 || got.Source == "Referral" {
			t.Errorf("after the conflict: value %v, source %q; want nothing of B's written yet", got.Value, got.Source)
		}
		// B takes theirs for the value and saves: A's value stays, B's source is written.
		b.click("take theirs", `#conflict-value input[value=theirs]`)
		b.save()
		b.waitFor("B's dialog closes", `!document.getElementById('lead-dialog').open`)
		got, _ = a.st.GetLead(context.Background(), jane.ID)
		if got.Value != 99_000_00 || got.Source != "Referral" {
			t.Errorf("after taking theirs: value %v, source %q; want 99000 and Referral", got.Value, got.Source)
		}
	})

	t.Run("a phone and a desktop on one lead", func(t *testing.T) {
		t.Parallel()
		a := newTab(t, browser)
		seedDemo(t, a.st)
		b := a.peer(t, browser, "bob@example.com")
		b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		a.open("/")
		b.open("/")
		jane := leadNamed(t, a.st, "Jane Doe")
		a.openLead(jane.ID.String())
		b.openLead(jane.ID.String())
		// A (desktop) changes the company and the notes; B (phone), from the
		// lead as it was, changes the phone and the company too.
		a.setField("company", "Example Holdings")
		a.setField("notes", "Call after the board meeting.")
		a.save()
		a.waitFor("A's dialog closes", `!document.getElementById('lead-dialog').open`)
		b.setField("phone", "+1 555 0111")
		b.setField("company", "Example Group")
		b.save()
		b.waitFor("B sees the conflict on the phone", `!!document.querySelector('#conflict-company')`)
		b.screenshot("together-phone-conflict-390.png")
		if w := b.evalString(`String(document.documentElement.scrollWidth)`); w != "390" {
			t.Errorf("the conflict view is %s px wide on a 390 px phone; want no sideways scroll", w)
		}
		got, _ := a.st.GetLead(context.Background(), jane.ID)
		if got.Company != "Example Holdings" || got.Notes != "Call after the board meeting." || got.Phone == "+1 555 0111" {
			t.Errorf("before B decides: %q / %q / %q; want A's change whole and nothing of B's", got.Company, got.Notes, got.Phone)
		}
		// B keeps their company: both people's other changes stay.
		b.click("keep mine", `#conflict-company input[value=mine]`)
		b.save()
		b.waitFor("B's dialog closes", `!document.getElementById('lead-dialog').open`)
		got, _ = a.st.GetLead(context.Background(), jane.ID)
		if got.Company != "Example Group" || got.Notes != "Call after the board meeting." || got.Phone != "+1 555 0111" {
			t.Errorf("after B keeps theirs: %q / %q / %q; want B's company and phone beside A's notes", got.Company, got.Notes, got.Phone)
		}
	})
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
