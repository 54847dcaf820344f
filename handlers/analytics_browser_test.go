package handlers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// fullScreenshot saves the whole page (not only the window) under
// testdata/screenshots.
func (tb *tab) fullScreenshot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
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

// TestBrowserAnalytics opens the analytics page of the hand-worked fixture
// (store/analytics_test.go) at a desktop's and a phone's width: six charts,
// each an SVG with a title and its numbers written on it and in a table; the
// table by owner; no sideways scrolling; no axe-core violation; the owner
// filter narrows the numbers. Screenshots: testdata/screenshots/analytics-*.png.
func TestBrowserAnalytics(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)
	tb := newTab(t, browser)
	ann := UserForTest(t, tb.st, "ann@example.com", store.RoleAdmin)
	bob := UserForTest(t, tb.st, "bob@example.com", store.RoleMember)
	storetest.AnalyticsFixture(t, tb.pool.(*pgxpool.Pool), ann.ID, bob.ID)
	page := views.AnalyticsPath + "?from=2026-01-01&to=2026-03-31"

	for _, size := range []struct {
		name   string
		w, h   int64
		charts int
	}{{"1280", 1280, 900, 6}, {"390", 390, 844, 6}} {
		tb.do("viewport "+size.name, chromedp.EmulateViewport(size.w, size.h))
		tb.visit(page)
		var charts []string
		tb.eval(`[...document.querySelectorAll('svg.chart[role=img]')].map(s =>
			s.querySelector('title').textContent + ' | ' + [...s.querySelectorAll('text')].map(t => t.textContent).join(' / '))`, &charts)
		if len(charts) != size.charts {
			t.Fatalf("%s px: got %d charts %q, want %d", size.name, len(charts), charts, size.charts)
		}
		joined := strings.Join(charts, "\n")
		for _, want := range []string{
			"Open pipeline by stage | Value / Forecast (hatched) / Interest · 1 lead · 10% / $1,234.56 / forecast $123.46",
			"Funnel | Interest / 7 leads · 57.1% on / Meeting booked / 4 leads · 75% on",
			"Proposal / 3 leads · 66.7% on",
			"Average days in each stage | Interest / 32.8 days · 4 stays",
			"Won and lost in the period | Won / 1 · $1,000 / Lost / 2 · $1,300",
			"Lost reasons | No reason given / 1 lead · $500 / Price / 1 lead · $800",
			"Mar 2026 / $1,000 · 1 lead",
		} {
			if !strings.Contains(joined, want) {
				t.Errorf("%s px: the charts do not read %q; got\n%s", size.name, want, joined)
			}
		}
		var tables int
		tb.eval(`document.querySelectorAll('.analytics-card details table').length`, &tables)
		if tables != 6 {
			t.Errorf("%s px: got %d tables under the charts, want 6", size.name, tables)
		}
		owners := tb.evalString(`[...document.querySelectorAll('#analytics-owners tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim()).join('\n')`)
		wantOwners := "Ann ann@example.com 1 $2,000 $1,000 1 $1,000 0 100%\n" +
			"Bob bob@example.com 2 $4,234.56 $2,373.46 0 $0 2 0%\n" +
			"Nobody 0 $0 $0 0 $0 0 —"
		if owners != wantOwners {
			t.Errorf("%s px: the table by owner reads\n%s\nwant\n%s", size.name, owners, wantOwners)
		}
		if o := tb.overflow(); o != "" {
			t.Errorf("%s px: %s; want no sideways scrolling", size.name, o)
		}
		tb.axe("analytics at "+size.name+" px", src)
		tb.click("open the funnel's table", "section[aria-labelledby=h-funnel] summary")
		tb.waitFor("the table shows", `document.querySelector('section[aria-labelledby=h-funnel] details').open`)
		tb.axe("analytics with a table open at "+size.name+" px", src)
		tb.fullScreenshot("analytics-" + size.name + ".png")
		if size.w < 500 { // the whole page is too tall to read: the window at the top and at the end
			tb.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
			tb.screenshot("analytics-" + size.name + "-top.png")
			tb.do("scroll to the end", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
			tb.screenshot("analytics-" + size.name + "-end.png")
		}
	}

	// The owner filter: Bob's numbers only.
	tb.do("choose bob", chromedp.SetValue(chromedp.CSS("#analytics-owner"), "bob@example.com"))
	tb.do("show", chromedp.Click(chromedp.CSS(".analytics-filter button[type=submit]")))
	// The form's GET navigates; wait for the new page's address, then for it.
	for i := 0; ; i++ { // a bound against a hang, not a timing assertion
		loc, err := chromedp.Run(tb.ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, "owner=bob%40example.com") {
			break
		}
		if i == 300 {
			t.Fatalf("the owner filter's page never came: at %q (%v)", loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.waitFor("loaded", `document.readyState === 'complete' && !!document.querySelector('#analytics-owners')`)
	if got := tb.evalString(`document.querySelector('.account-sub').textContent`); !strings.Contains(got, "the leads of Bob (bob@example.com)") {
		t.Errorf("filtered by bob: the page says %q, want it to name bob", got)
	}
	if got := tb.evalString(`document.querySelector('.analytics-figures').innerText.replace(/\s+/g, ' ')`); !strings.Contains(got, "$4,234.56") || !strings.Contains(got, "0%") {
		t.Errorf("filtered by bob: figures %q, want bob's pipeline $4,234.56 and win rate 0%%", got)
	}
	if got := tb.evalString(`document.querySelector('#analytics-from').value + ' ' + document.querySelector('#analytics-to').value`); got != "2026-01-01 2026-03-31" {
		t.Errorf("filtered by bob: the period became %q, want it kept", got)
	}
	tb.axe("analytics of one owner", src)
}
