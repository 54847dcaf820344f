package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crmteam/crm/store"
)

// TestBrowserAccounts walks the account pages in chromium as a person would:
// signed out, the board sends the browser to sign-in; signing in through the
// form lands on the board; settings make a token; the admin page lists the
// accounts; the trash restores a lead; signing out ends it. Every page runs
// under the Content-Security-Policy, and newTab fails the test on a violation.
func TestBrowserAccounts(t *testing.T) {
	browser := startBrowser(t)
	tb := newTab(t, browser)
	seedDemo(t, tb.st)
	UserForTest(t, tb.st, "root@example.com", store.RoleAdmin)
	tb.do("forget the session", chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))

	tb.do("open the board signed out", chromedp.Navigate(tb.url+"/trash"), chromedp.WaitVisible(chromedp.CSS("#signin-email")))
	if got := tb.evalString(`location.pathname + location.search`); got != "/signin?next=%2Ftrash" {
		t.Errorf("signed out, /trash: got %q, want the sign-in page returning to /trash", got)
	}
	tb.do("type a wrong password",
		chromedp.SendKeys(chromedp.CSS("#signin-email"), "root@example.com"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), "not the password"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#signin-error")))
	if got := tb.evalString(`document.getElementById('signin-error').innerText`); got != "The email or password is not right." {
		t.Errorf("wrong password: got %q, want the message", got)
	}
	tb.screenshot("signin.png")
	tb.do("sign in", chromedp.SendKeys(chromedp.CSS("#signin-password"), TestPassword+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("table.trash, .empty-note")))
	if got := tb.evalString(`location.pathname`); got != "/trash" {
		t.Errorf("after sign-in: got %q, want back on /trash", got)
	}

	tb.open("/")
	if got := tb.evalString(`document.querySelector('.account-nav .account-name').innerText`); got != "Root" {
		t.Errorf("account menu: got %q, want the name", got)
	}

	tb.do("settings", chromedp.Navigate(tb.url+"/settings"), chromedp.WaitVisible(chromedp.CSS("#token-name")))
	tb.do("make a token", chromedp.SendKeys(chromedp.CSS("#token-name"), "nightly import"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#new-token")))
	if secret := tb.evalString(`document.getElementById('new-token').value`); !strings.HasPrefix(secret, store.TokenPrefix) {
		t.Errorf("new token: got %q, want crm_…", secret)
	}
	tb.screenshot("settings.png")

	tb.do("admin", chromedp.Navigate(tb.url+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	n := 0
	tb.eval(`document.querySelectorAll('tr[data-user]').length`, &n)
	if n != 2 {
		t.Errorf("admin page: got %d accounts, want 2", n)
	}
	tb.screenshot("admin.png")

	jane := leadNamed(t, tb.st, "Jane Doe")
	if _, err := tb.st.DeleteLead(context.Background(), jane.ID); err != nil {
		t.Fatal(err)
	}
	tb.do("trash", chromedp.Navigate(tb.url+"/trash"), chromedp.WaitVisible(chromedp.CSS("#trash-"+jane.ID.String())))
	tb.screenshot("trash.png")
	tb.do("restore", chromedp.Click(chromedp.CSS(`#trash-`+jane.ID.String()+` button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if _, err := tb.st.GetLead(context.Background(), jane.ID); err != nil {
		t.Errorf("Jane after the restore: got %v, want her back", err)
	}

	tb.open("/")
	tb.do("sign out", chromedp.Click(chromedp.CSS(".signout-form button")), chromedp.WaitVisible(chromedp.CSS("#signin-email")))
	if got := tb.evalString(`document.querySelector('.notice').innerText`); got != "You are signed out." {
		t.Errorf("after sign-out: got %q, want the notice", got)
	}
	tb.do("back to the board", chromedp.Navigate(tb.url+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-email")))
}
