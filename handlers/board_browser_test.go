package handlers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Browser tests of issue 15: the board on every screen width, for keyboard and
// screen reader users (axe-core), with its error pages.

// widths are the windows every layout check runs in: a phone, a tablet, and
// two desktops.
var widths = []struct {
	name string
	w, h int64
}{
	{"390", 390, 844},
	{"768", 768, 1024},
	{"1280", 1280, 800},
	{"1440", 1440, 900},
}

// signInAs puts a session of a new account with role in the tab's cookies,
// replacing the member newTab signed in.
func (tb *tab) signInAs(email, role string) {
	tb.t.Helper()
	UserForTest(tb.t, tb.st, email, role)
	c := SignInCookie(tb.t, tb.h, email)
	httpOnly := true
	tb.do("set the session cookie", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{
			Name: c.Name, Value: c.Value, URL: tb.url, Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax})
		return err
	}))
}

// visit loads a page that is not the board and waits for it to be ready.
func (tb *tab) visit(path string) {
	tb.t.Helper()
	tb.do("visit "+path, chromedp.Navigate(tb.url+path), chromedp.WaitReady(chromedp.CSS("body")))
	tb.waitFor("the page is loaded", `document.readyState === 'complete'`)
}

// overflow says how far the page reaches past the window's right edge: only
// the board may scroll sideways, inside itself. "" when it does not.
func (tb *tab) overflow() string {
	tb.t.Helper()
	return tb.evalString(`(() => {
		const w = document.documentElement.clientWidth;
		const sw = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
		if (sw <= w) return '';
		const wide = [...document.querySelectorAll('body *')].filter(e => {
			const r = e.getBoundingClientRect();
			return r.right > w + 1 && !e.closest('#board') && getComputedStyle(e).position !== 'fixed';
		}).slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''));
		return 'page is ' + sw + ' px wide in a ' + w + ' px window; reaching out: ' + wide.join(', ');
	})()`)
}

// unreachable says why a person cannot tap the element sel without scrolling
// the page: outside the window, or covered by something else. "" when they can.
func (tb *tab) unreachable(sel string) string {
	tb.t.Helper()
	return tb.evalString(fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return 'not on the page';
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return 'not shown';
		if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
			return 'outside the ' + innerWidth + 'x' + innerHeight + ' window at ' + [r.left, r.top, r.right, r.bottom].map(Math.round).join(',');
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		if (!hit || !(el === hit || el.contains(hit))) return 'covered by ' + (hit ? hit.outerHTML.slice(0, 120) : 'nothing');
		return '';
	})()`, js(sel)))
}

// TestBrowserLayout opens the board at a phone's, a tablet's and two desktop
// widths: the page never scrolls sideways (only the board does), every column
// has the same width whatever its data, and the top bar, the lead dialog's
// buttons and the assistant can be tapped without scrolling.
func TestBrowserLayout(t *testing.T) {
	browser := startBrowser(t)
	for _, size := range widths {
		t.Run(size.name, func(t *testing.T) {
			t.Parallel()
			tb := newTab(t, browser)
			seedDemo(t, tb.st)
			long := strings.Repeat("Wolfeschlegelsteinhausenbergerdorff", 3)
			newLead(t, tb.st, long, strings.Repeat("Unbrokencompanyname", 5), "Interest", 12_345_678_00)
			emily := leadNamed(t, tb.st, "Emily Chen")
			tb.do("viewport", chromedp.EmulateViewport(size.w, size.h))
			tb.open("/")
			tb.waitFor("the assistant is loaded", `!!document.querySelector('#chat-panel form')`)
			if o := tb.overflow(); o != "" {
				t.Errorf("board at %s px: %s; want no sideways scroll", size.name, o)
			}
			var colWidths []int
			tb.eval(`[...document.querySelectorAll('#board > .column')].map(c => Math.round(c.getBoundingClientRect().width))`, &colWidths)
			for i, w := range colWidths {
				if w != colWidths[0] {
					t.Errorf("column %d is %d px wide, column 0 %d px; want every column the same width", i, w, colWidths[0])
				}
			}
			for _, sel := range []string{".signout-form button", "#board-search", ".topbar-actions .btn-primary", "[data-chat-toggle]"} {
				if why := tb.unreachable(sel); why != "" {
					t.Errorf("%s at %s px: %s; want it on screen", sel, size.name, why)
				}
			}
			tb.screenshot("board-" + size.name + ".png")

			// The lead dialog: its buttons are on screen without scrolling.
			tb.click("open a lead", views.CardOpenID(emily.ID).Sel())
			tb.waitFor("the dialog is open", `document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form button[type=submit]')`)
			for _, sel := range []string{"#lead-form button[type=submit]", "#lead-form [data-dialog-close].btn", "#lead-form .panel-head [data-dialog-close]"} {
				if why := tb.unreachable(sel); why != "" {
					t.Errorf("%s in the dialog at %s px: %s; want it on screen", sel, size.name, why)
				}
			}
			if o := tb.overflow(); o != "" {
				t.Errorf("dialog at %s px: %s; want no sideways scroll", size.name, o)
			}
			tb.screenshot("dialog-" + size.name + ".png")

			// A message raised while the dialog is open shows above it: the lead
			// was deleted meanwhile, and Save says so where it can be read.
			if _, err := tb.st.DeleteLead(context.Background(), emily.ID); err != nil {
				t.Fatal(err)
			}
			tb.click("save", "#lead-form button[type=submit]")
			tb.waitFor("the error shows", `!!document.querySelector('#flash .toast-error')`)
			if why := tb.unreachable("#flash .toast-error .toast-close"); why != "" {
				t.Errorf("error message over the open dialog at %s px: %s; want it on top", size.name, why)
			}
			tb.screenshot("dialog-error-" + size.name + ".png")
			tb.click("dismiss", "#flash .toast-error .toast-close")
			tb.click("close", "#lead-form .panel-head [data-dialog-close]")
			tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)

			// The assistant: open (or already open on wide screens), usable.
			if tb.evalString(`getComputedStyle(document.getElementById('chat-panel')).display`) == "none" {
				tb.click("open the assistant", "[data-chat-toggle]")
				tb.waitFor("the assistant shows", `getComputedStyle(document.getElementById('chat-panel')).display !== 'none'`)
			}
			for _, sel := range []string{"#chat-panel form input", "#chat-panel form button[type=submit]", "[data-chat-toggle]"} {
				if why := tb.unreachable(sel); why != "" {
					t.Errorf("%s with the assistant open at %s px: %s; want it on screen", sel, size.name, why)
				}
			}
			if o := tb.overflow(); o != "" {
				t.Errorf("assistant open at %s px: %s; want no sideways scroll", size.name, o)
			}
			tb.screenshot("assistant-" + size.name + ".png")
		})
	}

	t.Run("account pages", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		tb.signInAs("root@example.com", store.RoleAdmin)
		jane := leadNamed(t, tb.st, "Jane Doe")
		if _, err := tb.st.DeleteLead(context.Background(), jane.ID); err != nil {
			t.Fatal(err)
		}
		for _, size := range widths {
			tb.do("viewport", chromedp.EmulateViewport(size.w, size.h))
			for _, p := range []struct{ name, path string }{
				{"settings", views.SettingsPath}, {"admin", views.AdminPath}, {"trash", views.TrashPath},
				{"trashed-lead", views.TrashLeadPath(jane.ID)}, {"not-found", "/admin"},
			} {
				tb.visit(p.path)
				if o := tb.overflow(); o != "" {
					t.Errorf("%s at %s px: %s; want no sideways scroll", p.path, size.name, o)
				}
				if why := tb.unreachable(".signout-form button"); p.name != "not-found" && why != "" {
					t.Errorf("sign out on %s at %s px: %s; want it on screen", p.path, size.name, why)
				}
				tb.screenshot(p.name + "-" + size.name + ".png")
			}
		}
	})
}

// axeSource is axe-core, vendored from npm as a test asset (testdata/axe).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return string(b)
}

// axeRun lists the violations of serious or critical impact on the page, and
// a missing h1, one line each with the first elements concerned.
const axeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
	.filter(v => v.impact === 'serious' || v.impact === 'critical' || v.id === 'page-has-heading-one')
	.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
		v.nodes.slice(0, 4).map(n => n.target.join(' ') + (n.failureSummary ? ' [' + n.failureSummary.replace(/\s+/g, ' ').slice(0, 160) + ']' : '')).join('; ') +
		(v.nodes.length > 4 ? ' and ' + (v.nodes.length - 4) + ' more' : '')))`

// axe runs axe-core on the page as it is and fails the test for each serious
// or critical violation.
func (tb *tab) axe(what, src string) {
	tb.t.Helper()
	tb.do("load axe-core", chromedp.Evaluate[chromedp.Void](`if (!window.axe) { `+src+` }; undefined`))
	var found []string
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("axe on %s: %v", what, err)
	}
	found = raw
	for _, v := range found {
		tb.t.Errorf("axe-core on %s: got %s; want no serious or critical violation", what, v)
	}
}

// TestBrowserAccessibility runs axe-core on every page a person sees: the
// board (with the assistant), the lead dialog, sign-in, setup, settings,
// admin, the trash, a lead's history and the error pages.
func TestBrowserAccessibility(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)

	t.Run("board and dialog", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		emily := leadNamed(t, tb.st, "Emily Chen")
		if _, err := tb.st.UpdateLead(context.Background(), emily.ID, store.LeadInput{Notes: ptrTo("Signed the NDA.")}); err != nil {
			t.Fatal(err)
		}
		tb.do("viewport", chromedp.EmulateViewport(1440, 900))
		tb.open("/")
		tb.waitFor("the assistant is loaded", `!!document.querySelector('#chat-panel form')`)
		tb.axe("the board", src)
		tb.click("open a lead", views.CardOpenID(emily.ID).Sel())
		tb.waitFor("the dialog is open", `document.getElementById('lead-dialog').open && !!document.querySelector('#lead-form .timeline')`)
		tb.axe("the lead dialog with its history", src)
		tb.click("close", "#lead-form .panel-head [data-dialog-close]")
		tb.waitFor("the dialog closes", `!document.getElementById('lead-dialog').open`)
		tb.click("new lead", ".topbar-actions .btn-primary")
		tb.waitFor("the form is open", `document.getElementById('lead-dialog').open && document.activeElement.id === 'lead-name'`)
		tb.click("submit empty", "#lead-form button[type=submit]")
		tb.waitFor("the field errors show", `!!document.getElementById('lead-name-error')`)
		tb.axe("the lead form with errors", src)

		tb.do("phone", chromedp.EmulateViewport(390, 844))
		tb.open("/?q=nobody-matches-this")
		tb.axe("an empty search on a phone", src)
	})

	t.Run("account pages", func(t *testing.T) {
		t.Parallel()
		tb := newTab(t, browser)
		seedDemo(t, tb.st)
		jane := leadNamed(t, tb.st, "Jane Doe")
		if _, err := tb.st.DeleteLead(context.Background(), jane.ID); err != nil {
			t.Fatal(err)
		}
		tb.visit(views.SettingsPath)
		tb.axe("settings", src)
		tb.visit(views.TrashPath)
		tb.axe("the trash", src)
		tb.visit(views.TrashLeadPath(jane.ID))
		tb.axe("a deleted lead's history", src)
		tb.visit(views.AdminPath)
		tb.axe("the admin page refused to a member (403)", src)
		tb.visit("/no/such/page")
		tb.axe("the not-found page (404)", src)
		tb.signInAs("root@example.com", store.RoleAdmin)
		tb.visit(views.AdminPath)
		tb.axe("admin", src)
		tb.pool.Close() // the database is gone: the board fails with a 5xx page
		tb.visit("/")
		tb.axe("the server error page", src)
	})

	t.Run("sign-in and setup", func(t *testing.T) {
		t.Parallel()
		tb := newSignedOutTab(t, browser)
		tb.visit(views.SetupPath)
		tb.axe("setup", src)
		UserForTest(t, tb.st, "root@example.com", store.RoleAdmin)
		tb.visit(views.SignInPath)
		tb.axe("sign-in", src)
	})
}

func ptrTo[T any](v T) *T { return &v }
