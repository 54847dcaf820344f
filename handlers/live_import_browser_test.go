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

// liveStats is what the board page counted while an import ran (see
// watchBoard).
type liveStats struct {
	Columns int     `json:"columns"` // GET /board/columns requests
	Boards  int     `json:"boards"`  // whole-board renders (GET / by htmx)
	Flashes int     `json:"flashes"` // messages put in the live region
	Long    int     `json:"long"`    // long tasks (over 50 ms)
	LongMs  float64 `json:"long_ms"` // their total duration
	Longest float64 `json:"longest"` // the longest
}

// watchBoard makes the page count its requests, messages and long tasks.
const watchBoard = `(() => {
	const s = window.liveStats = {columns: 0, boards: 0, flashes: 0, long: 0, long_ms: 0, longest: 0};
	new PerformanceObserver(list => list.getEntries().forEach(e => {
		const u = new URL(e.name);
		if (u.pathname === '/board/columns') s.columns++;
		else if (u.pathname === '/' && e.initiatorType === 'xmlhttprequest') s.boards++;
	})).observe({type: 'resource'});
	new PerformanceObserver(list => list.getEntries().forEach(e => {
		s.long++; s.long_ms += e.duration; s.longest = Math.max(s.longest, e.duration);
	})).observe({type: 'longtask'});
	new MutationObserver(() => s.flashes++).observe(document.getElementById('flash'), {childList: true});
})()`

// importRows imports n rows as ann (the worker's part, in the test).
func importRows(t *testing.T, st *store.Store, ann store.User, name string, n int) store.Import {
	t.Helper()
	var b strings.Builder
	b.WriteString("Name,Company,Stage\n")
	for i := range n {
		fmt.Fprintf(&b, "%s %d,Bulk Co,Interest\n", name, i)
	}
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: name, Body: strings.NewReader(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	return imp
}

// An import's burst of lead.created events on another person's open board:
// its stream (burst=reset) gets resets instead of the batches' events, the
// board is rendered again as a whole a few times (not the columns card by
// card), the message region says it once, not once per lead, and when the
// import finishes a notice links to its page. Screenshots:
// testdata/screenshots/live-import-*.png.
func TestBrowserLiveBoardImportBurst(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)
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
	ann := UserForTest(t, st, "ann@example.com", store.RoleMember)
	b := newTabOn(t, browser, ts.URL, st, pool, h)
	b.signIn(h, ts.URL, st, "ben@example.com")
	for i, size := range []struct {
		name string
		w, h int64
	}{{"1280", 1280, 900}, {"390", 390, 844}} {
		b.do("viewport "+size.name, chromedp.EmulateViewport(size.w, size.h))
		b.open("/")
		b.do("watch the board", chromedp.Evaluate[chromedp.Void](watchBoard))
		for deadline := time.Now().Add(20 * time.Second); hub.streams() != 1 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond) // the board's stream, the last page's gone
		}
		if i == 0 {
			b.axe("the board before the import", src)
		}
		const n = 5000
		name := fmt.Sprintf("leads-%d.csv", i+1)
		start := time.Now()
		imp := importRows(t, st, ann, name, n)
		took := time.Since(start)
		total, err := st.CountLeads(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b.waitWithin(60*time.Second, "the burst is over and said", `document.getElementById('flash').innerText.includes('many leads') || document.getElementById('flash').innerText.includes('Many leads')`)
		b.waitWithin(10*time.Second, "the board shows every lead", fmt.Sprintf(`document.getElementById('board-summary').innerText.startsWith('%d leads')`, total))
		var s liveStats
		b.eval(`window.liveStats`, &s)
		t.Logf("%s px: import of %d rows in %s; the page: %+v", size.name, n, took.Round(time.Millisecond), s)
		if s.Columns > 2 {
			t.Errorf("%s px: %d GET /board/columns during the burst, want at most 2 (before it was seen to be a burst)", size.name, s.Columns)
		}
		if maxBoards := 3 + 2*int(took/time.Second); s.Boards < 1 || s.Boards > maxBoards {
			t.Errorf("%s px: the board was rendered %d times during an import of %s, want 1 to %d", size.name, s.Boards, took, maxBoards)
		}
		if s.Flashes > 10 {
			t.Errorf("%s px: %d messages in the live region for one import, want a few (not one per lead)", size.name, s.Flashes)
		}
		// The stream (burst=reset) skipped the batches of 2,000 events: no
		// number; had some come as events first, they say who.
		got := b.evalString(`document.getElementById('flash').innerText`)
		if !strings.Contains(got, "Many leads changed; the board shows them.") && !strings.Contains(got, "import “"+name+"” by Ann changed many leads; the board shows them.") {
			t.Errorf("%s px: the message reads %q, want that many leads changed", size.name, got)
		}
		b.waitWithin(10*time.Second, "the import's notice", `document.querySelectorAll('#board-notices .toast').length === 1`)
		got = b.evalString(`document.querySelector('#board-notices .toast:last-child p').innerText`)
		if want := "Import of " + name + ": 5,000 added — View"; got != want {
			t.Errorf("%s px: the notice reads %q, want %q", size.name, got, want)
		}
		if href := b.evalString(`document.querySelector('#board-notices .toast:last-child a').getAttribute('href')`); href != views.ImportPath+"?id="+imp.ID.String() {
			t.Errorf("%s px: the notice links to %q, want the import's page", size.name, href)
		}
		b.axe("the board with an import's notice at "+size.name+" px", src)
		b.screenshot("live-import-" + size.name + ".png")
		if i == 1 {
			// Undone by someone: the notice says so.
			if _, err := st.UndoImport(store.WithActor(context.Background(), store.UserActor(ann)), imp.ID); err != nil {
				t.Fatal(err)
			}
			b.waitWithin(30*time.Second, "the notice says undone", `document.querySelector('#board-notices .toast:last-child p').innerText === 'Import of `+name+` undone — View'`)
		}
	}
	b.click("dismiss the notice", "#board-notices .toast [data-dismiss]")
	if n := b.evalString(`String(document.querySelectorAll('#board-notices .toast').length)`); n != "0" {
		t.Errorf("notices after dismissing the one: got %s, want none", n)
	}
}
