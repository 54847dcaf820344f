package handlers

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Browser tests of the lost-reason dialog (issue 12, "Won and lost are
// outcomes"): a drop or a keyboard move onto a lost stage asks why; Save
// stores the reason, Skip moves without one while a reason is optional,
// Escape puts the card back, and with a reason required there is no Skip.

// lostOpen is the condition that the lost-reason dialog is open with the
// focus inside it.
const lostOpen = `document.getElementById('lost-dialog').open && document.getElementById('lost-dialog').contains(document.activeElement)`

// lostClosed is the condition that it is closed and no card is being saved.
const lostClosed = `!document.getElementById('lost-dialog').open && !document.querySelector('.card-saving')`

// keyboardMove focuses the card of l and moves it to stage with the move menu
// (M, then the stage's item and Enter), as a keyboard user does.
func (tb *tab) keyboardMove(l store.Lead, stage string) {
	tb.t.Helper()
	tb.do("open the move menu", chromedp.Focus(chromedp.CSS(views.CardOpenID(l.ID).Sel())), chromedp.KeyEvent("m"))
	tb.waitFor("the move menu is open", `document.getElementById('move-menu').matches(':popover-open')`)
	item := fmt.Sprintf(`#move-menu [data-move-to=%s]`, js(stage))
	tb.do("choose "+stage, chromedp.Focus(chromedp.CSS(item)), chromedp.KeyEvent(kb.Enter))
}

// focusedOn waits until the focus is on the card of l.
func (tb *tab) focusedOn(l store.Lead) {
	tb.t.Helper()
	tb.waitFor("the focus is back on "+l.Name, fmt.Sprintf(`document.activeElement && document.activeElement.id === %s`, js(views.CardOpenID(l.ID).String())))
}

func TestBrowserLostDialog(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)

	t.Run("drop, pick a reason, save; drop and Escape", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		ctx := context.Background()
		lukas, grace, jane := leadNamed(t, tb.st, "Lukas Novak"), leadNamed(t, tb.st, "Grace Kim"), leadNamed(t, tb.st, "Jane Doe")
		tb.do("viewport", chromedp.EmulateViewport(1600, 1000))
		tb.open("/")
		tb.do("hide the assistant", chromedp.Evaluate[chromedp.Void](`document.body.classList.add('chat-hidden'); document.getElementById('board').scrollLeft = 100000; undefined`))
		x0, y0 := tb.point(views.CardID(lukas.ID).Sel(), 0.3)
		x1, y1 := tb.point(views.CardID(grace.ID).Sel(), 1.0)
		tb.drag(x0, y0, x1, y1+30)
		tb.waitFor("the dialog asks why", lostOpen)
		if got := tb.evalString(`document.getElementById('lost-dialog-what').innerText`); got != "Moving Lukas Novak to Closed lost." {
			t.Errorf("the dialog says %q, want %q", got, "Moving Lukas Novak to Closed lost.")
		}
		var skip bool
		tb.eval(`!!document.querySelector('#lost-dialog [data-lost-skip]')`, &skip)
		if !skip {
			t.Errorf("Skip while a reason is optional: got none, want offered")
		}
		tb.axe("the lost-reason dialog", src)
		tb.click("pick a reason", `#lost-form input[name=lost_choice][value="Went with a competitor"]`)
		tb.do("type a note", chromedp.SendKeys(chromedp.CSS("#lost-note"), "Chose Rival Inc."))
		tb.click("save", "#lost-form [data-lost-save]")
		tb.waitFor("the dialog closes", lostClosed)
		tb.waitHeader("Closed lost", "2")
		tb.wantDB("Closed lost", []string{"Grace Kim", "Lukas Novak"})
		got, err := tb.st.GetLead(ctx, lukas.ID)
		if err != nil || got.LostReason != "Went with a competitor" || got.LostNote != "Chose Rival Inc." || got.ClosedAt == nil {
			t.Errorf("Lukas after Save: got reason %q note %q closed %v (%v), want the reason, the note, closed", got.LostReason, got.LostNote, got.ClosedAt, err)
		}
		tb.waitFor("the message names the reason", `document.getElementById('flash').innerText.includes('Moved Lukas Novak to Closed lost (Went with a competitor).')`)
		tb.focusedOn(lukas)

		// Escape: the card goes back where it was, nothing is written.
		tb.do("scroll", chromedp.Evaluate[chromedp.Void](`document.getElementById('board').scrollLeft = 100000; undefined`))
		tb.do("scroll the card into view", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).scrollIntoView({inline: 'nearest'}); undefined`, js(views.CardID(jane.ID).Sel()))))
		x0, y0 = tb.point(views.CardID(jane.ID).Sel(), 0.3)
		x1, y1 = tb.point(views.CardID(grace.ID).Sel(), 0.2)
		tb.drag(x0, y0, x1, y1)
		tb.waitFor("the dialog asks why", lostOpen)
		tb.do("escape", chromedp.KeyEvent(kb.Escape))
		tb.waitFor("the dialog closes", lostClosed)
		tb.wantCards("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.wantDB("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.wantDB("Closed lost", []string{"Grace Kim", "Lukas Novak"})
		tb.focusedOn(jane)
	})

	t.Run("keyboard move, Skip while optional", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		bob := leadNamed(t, tb.st, "Bob Martin")
		tb.open("/")
		tb.keyboardMove(bob, "Closed lost")
		tb.waitFor("the dialog asks why", lostOpen)
		tb.pressEnter("skip", "#lost-form [data-lost-skip]")
		tb.waitFor("the dialog closes", lostClosed)
		tb.waitHeader("Closed lost", "2")
		got, err := tb.st.GetLead(context.Background(), bob.ID)
		if err != nil || got.Status != "Closed lost" || got.LostReason != "" {
			t.Errorf("Bob after Skip: got %q reason %q (%v), want Closed lost without a reason", got.Status, got.LostReason, err)
		}
		tb.focusedOn(bob)
	})

	t.Run("required: no Skip, Save needs a reason, Escape keeps the card", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		ctx := context.Background()
		if err := tb.st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
			t.Fatal(err)
		}
		oliver := leadNamed(t, tb.st, "Oliver Smith")
		tb.open("/")
		tb.keyboardMove(oliver, "Closed lost")
		tb.waitFor("the dialog asks why", lostOpen)
		var skip bool
		tb.eval(`!!document.querySelector('#lost-dialog [data-lost-skip]')`, &skip)
		if skip {
			t.Errorf("Skip with a reason required: got offered, want none")
		}
		tb.click("save without a reason", "#lost-form [data-lost-save]")
		tb.waitFor("the dialog says a reason is required", `document.getElementById('lost-error').innerText.includes('lost_reason') && document.getElementById('lost-dialog').open`)
		tb.do("escape", chromedp.KeyEvent(kb.Escape))
		tb.waitFor("the dialog closes", lostClosed)
		tb.wantDB("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.wantCards("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})
		tb.focusedOn(oliver)

		// With words of one's own, it is taken.
		tb.keyboardMove(oliver, "Closed lost")
		tb.waitFor("the dialog asks why", lostOpen)
		tb.do("type a reason", chromedp.SendKeys(chromedp.CSS("#lost-reason-text"), "Went quiet"+kb.Enter))
		tb.waitFor("the dialog closes", lostClosed)
		tb.waitHeader("Closed lost", "2")
		if got, err := tb.st.GetLead(ctx, oliver.ID); err != nil || got.LostReason != "Went quiet" {
			t.Errorf("Oliver: got reason %q (%v), want %q", got.LostReason, err, "Went quiet")
		}
	})

	t.Run("the lead form offers the reason once its stage is lost", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		jane, grace := leadNamed(t, tb.st, "Jane Doe"), leadNamed(t, tb.st, "Grace Kim")
		if _, err := tb.st.UpdateLead(context.Background(), grace.ID, store.LeadInput{LostReason: ptrTo("Price")}); err != nil {
			t.Fatal(err)
		}
		tb.open("/")
		// A lost lead's form shows its reason.
		tb.click("open Grace", views.CardOpenID(grace.ID).Sel())
		tb.waitFor("the form is open", `document.getElementById('lead-dialog').open && !!document.getElementById('lead-lost_reason')`)
		if got := tb.evalString(`(() => { const i = document.getElementById('lead-lost_reason'); return i.closest('[data-lost-field]').hidden ? 'hidden' : i.value })()`); got != "Price" {
			t.Errorf("Grace's lost reason in her form: got %q, want Price", got)
		}
		tb.click("close", "#lead-form .panel-head [data-dialog-close]")
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		// An open lead's form: hidden until the stage select says lost.
		tb.click("open Jane", views.CardOpenID(jane.ID).Sel())
		tb.waitFor("the form is open", `document.getElementById('lead-dialog').open && !!document.getElementById('lead-status')`)
		var hidden bool
		tb.eval(`document.getElementById('lead-lost_reason').closest('[data-lost-field]').hidden && document.getElementById('lead-lost_reason').disabled`, &hidden)
		if !hidden {
			t.Errorf("an open lead's lost reason: got shown, want hidden and disabled")
		}
		tb.do("choose Closed lost", chromedp.SetValue(chromedp.CSS("#lead-status"), "Closed lost"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('lead-status').dispatchEvent(new Event('change', {bubbles: true})); undefined`))
		tb.waitFor("the reason shows", `!document.getElementById('lead-lost_reason').closest('[data-lost-field]').hidden`)
		tb.do("type a reason", chromedp.SendKeys(chromedp.CSS("#lead-lost_reason"), "No budget"))
		tb.click("save", "#lead-form button[type=submit]")
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		if got, err := tb.st.GetLead(context.Background(), jane.ID); err != nil || got.Status != "Closed lost" || got.LostReason != "No budget" {
			t.Errorf("Jane saved by the form: got %q %q (%v), want Closed lost for No budget", got.Status, got.LostReason, err)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		bob := leadNamed(t, tb.st, "Bob Martin")
		for _, size := range []struct {
			name string
			w, h int64
		}{{"390", 390, 844}, {"1280", 1280, 800}} {
			tb.do("viewport", chromedp.EmulateViewport(size.w, size.h))
			tb.open("/")
			tb.keyboardMove(bob, "Closed lost")
			tb.waitFor("the dialog asks why", lostOpen)
			tb.screenshot("lost-dialog-" + size.name + ".png")
			for _, sel := range []string{"#lost-form [data-lost-save]", "#lost-form [data-lost-skip]", "#lost-form .panel-foot [data-lost-cancel]"} {
				if why := tb.unreachable(sel); why != "" {
					t.Errorf("%s at %s: %s", sel, size.name, why)
				}
			}
			if o := tb.overflow(); o != "" {
				t.Errorf("at %s: %s", size.name, o)
			}
			tb.do("escape", chromedp.KeyEvent(kb.Escape))
			tb.waitFor("the dialog closes", lostClosed)
		}
	})
}
