package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// TestBrowserImport imports a semicolon-separated file from the import page
// at a desktop's and a phone's width: the file is chosen, its columns show
// with their fields, one is changed (Fax into notes), duplicates are set to
// update, the first rows show their problems, the import runs to its result
// (one row failed, its CSV linked), and one click undoes it. The progress is
// driven by the event stream: the rows done show while the job runs, and
// GET /imports/{id}/ is read once, after the job finished (for the
// errors), never while it runs (the server records every read and the
// import's state then). No axe-core violation, no sideways scrolling.
// Screenshots: testdata/screenshots/import-*.png.
func TestBrowserImport(t *testing.T) {
	browser := startBrowser(t)
	src := axeSource(t)
	e := newImportPageEnv(t, browser, true)
	e.startWorker()
	st, tb := e.st, e.tb

	ctx := context.Background()
	jane, err := st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Jane Doe"), Company: ptrTo("Acme"), Email: ptrTo("jane@acme.example")})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("Full name;Company;E-mail;Deal value;Stage;Fax\n" +
		"Jane Doe;Acme;JANE@acme.example;1.500,00;Negotiation;12\n" +
		"Bob Martin;Globex;bob@globex.example;20k;Nowhere;13\n" +
		"Cleo Park;Initech;cleo@initech.example;;Interest;14\n")
	for i := range 3000 { // enough rows for the job to take a few batches
		b.WriteString("Lead " + strconv.Itoa(i) + ";Bulk Co;;" + strconv.Itoa(i) + ";Interest;\n")
	}
	path := filepath.Join(t.TempDir(), "leads.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, size := range []struct {
		name string
		w, h int64
	}{{"1280", 1280, 900}, {"390", 390, 844}} {
		tb.do("viewport "+size.name, chromedp.EmulateViewport(size.w, size.h))
		tb.visit(views.ImportPath)
		tb.axe("the import page at "+size.name+" px", src)
		tb.fullScreenshot("import-" + size.name + "-start.png")

		tb.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{path}))
		tb.waitFor("the preview", `!document.getElementById('import-mapping').hidden && document.querySelectorAll('#import-sample tbody tr').length === 20`)
		fields := tb.evalString(`[...document.querySelectorAll('#import-columns select')].map(s => s.value).join(',')`)
		if fields != "name,company,email,value,status," {
			t.Errorf("%s px: the columns' fields are %q, want name,company,email,value,status and Fax not imported", size.name, fields)
		}
		if got := tb.evalString(`document.getElementById('import-start').textContent`); got != "Import 3,003 rows" {
			t.Errorf("%s px: the button reads %q", size.name, got)
		}
		// Fax into notes, and duplicates updated: each change previews again.
		tb.do("mark the preview", chromedp.Evaluate[chromedp.Void](`document.querySelector('#import-sample tbody tr').dataset.old = '1'`))
		tb.do("fax into notes", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('import-col-5'); s.value = 'notes'; s.dispatchEvent(new Event('change')); })()`))
		tb.waitFor("the preview again", `!document.querySelector('#import-sample tbody tr[data-old]') && document.querySelectorAll('#import-sample tbody tr').length === 20 && document.getElementById('import-col-5').value === 'notes'`)
		tb.do("mark the preview", chromedp.Evaluate[chromedp.Void](`document.querySelector('#import-sample tbody tr').dataset.old = '1'`))
		tb.click("update duplicates", `input[name=duplicates][value=update]`)
		tb.waitFor("the preview again", `!document.querySelector('#import-sample tbody tr[data-old]') && document.querySelectorAll('#import-sample tbody tr').length === 20`)
		rows := tb.evalString(`[...document.querySelectorAll('#import-sample tbody tr')].slice(0, 3).map(r => r.cells[1].textContent + ' | ' + r.cells[2].textContent).join('\n')`)
		want := "update a lead (matches Jane Doe (Acme)) | \n" +
			"fail | status: no stage is named \"Nowhere\"; stages: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost\n" +
			"create a lead | "
		if rows != want {
			t.Errorf("%s px: the first rows read\n%s\nwant\n%s", size.name, rows, want)
		}
		if o := tb.overflow(); o != "" {
			t.Errorf("%s px: %s; want no sideways scrolling", size.name, o)
		}
		tb.axe("the import's columns at "+size.name+" px", src)
		tb.fullScreenshot("import-" + size.name + "-mapping.png")

		// The progress line and bar as they change.
		tb.do("watch the progress", chromedp.Evaluate[chromedp.Void](`(() => {
			window.seenProgress = [];
			const bar = document.getElementById('import-bar');
			new MutationObserver(() => window.seenProgress.push(document.getElementById('import-progress-text').textContent)).observe(document.getElementById('import-progress-text'), {childList: true, characterData: true, subtree: true});
		})()`))
		e.takeReads()
		tb.click("import", "#import-start")
		tb.waitFor("the result", `!document.getElementById('import-result').hidden`)
		// The button pressed went with the mapping: the keyboard goes on
		// from the import's heading.
		if id := tb.evalString(`document.activeElement.id`); id != "import-h-run" {
			t.Errorf("%s px: after Import the focus is on %q; want the import's heading", size.name, id)
		}
		if reads := e.takeReads(); len(reads) != 1 || reads[0] != store.ImportDone {
			t.Errorf("%s px: GET /imports/{id}/ read with the import in these states: %v; want one read, once it was done (progress from the stream)", size.name, reads)
		}
		// An import.progress was shown: rows done while the job ran (the
		// first batch's, or both batches' when the server read the import
		// after the second).
		var seen []string
		tb.eval(`window.seenProgress`, &seen)
		progressed := false
		for _, v := range seen {
			progressed = progressed || (strings.HasPrefix(v, "Imported ") && !strings.HasPrefix(v, "Imported 0 "))
		}
		if !progressed {
			t.Errorf("%s px: the progress line read %q; want rows done shown while the job ran", size.name, seen)
		}
		if got := tb.evalString(`document.getElementById('import-announce').textContent`); got != "The import is finished. leads.csv: 3,001 created, 1 updated, 0 skipped (already there), 1 failed." {
			t.Errorf("%s px: the live region says %q", size.name, got)
		}
		if got := tb.evalString(`document.getElementById('import-bar').getAttribute('aria-valuetext')`); got != "3,003 rows, finished" {
			t.Errorf("%s px: the bar's aria-valuetext is %q", size.name, got)
		}
		summary := tb.evalString(`document.getElementById('import-summary').textContent`)
		if summary != "leads.csv: 3,001 created, 1 updated, 0 skipped (already there), 1 failed." {
			t.Errorf("%s px: the result reads %q", size.name, summary)
		}
		if got := tb.evalString(`document.getElementById('import-progress-text').textContent + ' ' + document.getElementById('import-bar').value`); got != "The import is finished. 1" {
			t.Errorf("%s px: the progress reads %q", size.name, got)
		}
		errs := tb.evalString(`[...document.querySelectorAll('#import-errors tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ')).join('\n')`)
		if !strings.HasPrefix(errs, "3 status no stage is named") {
			t.Errorf("%s px: the errors read %q", size.name, errs)
		}
		href := tb.evalString(`document.getElementById('import-failed').getAttribute('href')`)
		if !strings.HasPrefix(href, "/imports/") || !strings.HasSuffix(href, "/failed.csv") {
			t.Errorf("%s px: the failed rows' link is %q", size.name, href)
		}
		got, err := st.GetLead(ctx, jane.ID)
		if err != nil || got.Status != "Negotiation" || got.Notes != "12" || got.Value != 1500_00 {
			t.Errorf("%s px: Jane after the import: %+v %v", size.name, got, err)
		}
		if o := tb.overflow(); o != "" {
			t.Errorf("%s px: %s; want no sideways scrolling", size.name, o)
		}
		tb.axe("the import's result at "+size.name+" px", src)
		tb.fullScreenshot("import-" + size.name + "-result.png")

		tb.click("undo", "#import-undo")
		tb.waitFor("the undo's message", `document.getElementById('import-undo-result').textContent.startsWith('Removed')`)
		if msg := tb.evalString(`document.getElementById('import-undo-result').textContent`); msg != "Removed 3001 leads the import created (to the trash) and put back the fields of 1 lead it updated." {
			t.Errorf("%s px: the undo says %q", size.name, msg)
		}
		if id := tb.evalString(`document.activeElement.id`); id != "import-undo-result" {
			t.Errorf("%s px: after Undo the focus is on %q; want the undo's message (the button is gone)", size.name, id)
		}
		got, err = st.GetLead(ctx, jane.ID)
		if err != nil || got.Status != "Interest" || got.Notes != "" || got.Value != 0 {
			t.Errorf("%s px: Jane after the undo: %+v %v", size.name, got, err)
		}
		if n, _ := st.CountLeads(ctx); n != 1 {
			t.Errorf("%s px: %d leads after the undo, want Jane alone", size.name, n)
		}
		tb.fullScreenshot("import-" + size.name + "-undone.png")

		// Opened again from the recent imports, it says it was undone.
		recent, err := st.ListImports(ctx, 1)
		if err != nil || len(recent) != 1 {
			t.Fatalf("recent imports: %v %v", recent, err)
		}
		tb.visit("/import?id=" + recent[0].ID.String())
		tb.waitFor("the undone import", `!document.getElementById('import-result').hidden`)
		if got := tb.evalString(`document.getElementById('import-progress-text').textContent`); got != "The import was undone." {
			t.Errorf("%s px: an undone import opened again says %q", size.name, got)
		}
		if got := tb.evalString(`document.getElementById('import-announce').textContent`); !strings.HasPrefix(got, "The import was undone. ") {
			t.Errorf("%s px: an undone import opened again is announced as %q", size.name, got)
		}
	}
}

// importPageEnv is a server with its job worker and a signed-in tab, for the
// import page.
type importPageEnv struct {
	st *store.Store
	tb *tab
	// startWorker starts the job worker.
	startWorker func()

	mu sync.Mutex
	// reads are the states the import was in at each GET /imports/{id}/.
	reads []string
}

// takeReads returns the states of the reads of GET /imports/{id}/ so far,
// and forgets them.
func (e *importPageEnv) takeReads() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.reads
	e.reads = nil
	return r
}

// newImportPageEnv starts the server, with an event hub when stream (else
// GET /events/ answers 503), and signs a tab in; startWorker starts its job
// worker.
func newImportPageEnv(t *testing.T, browser context.Context, stream bool) *importPageEnv {
	t.Helper()
	st, pool := storetest.NewStore(t)
	e := &importPageEnv{st: st}
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	queue := &Queue{Client: client}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := &Server{Store: st, Log: log, Version: "test", Sessions: SessionsForTest(pool), Enqueuer: queue}
	if stream {
		rdb := redisOpt.MakeRedisClient().(redis.UniversalClient)
		t.Cleanup(func() { rdb.Close() })
		srv.Events = NewEventHub(st, rdb, log)
		hubCtx, stopHub := context.WithCancel(context.Background())
		t.Cleanup(stopHub)
		if err := srv.Events.Start(hubCtx); err != nil {
			t.Fatal(err)
		}
	}
	h := srv.Routes()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := importURLPattern.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
			state := "?"
			if imp, err := st.GetImport(r.Context(), uuid.MustParse(m[1])); err == nil {
				state = imp.State
			}
			e.mu.Lock()
			e.reads = append(e.reads, state)
			e.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	if srv.Events != nil {
		t.Cleanup(srv.Events.Close) // before ts.Close, which waits for the streams
	}
	e.startWorker = func() {
		worker := asynq.NewServer(redisOpt, asynq.Config{Concurrency: 1, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second})
		if err := worker.Start(NewTaskMux(&Tasks{Store: st, Log: log, Enqueuer: queue})); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(worker.Shutdown)
	}
	e.tb = newTabOn(t, browser, ts.URL, st, pool, h)
	e.tb.signIn(h, ts.URL, st, "browser@example.com")
	return e
}

// Without the event stream (a server without a hub answers GET /events/ with
// 503) the import page falls back to polling GET /imports/{id}/: it reads the
// queued import again and again (no worker runs yet), then, once a worker has
// run the job, shows the result.
func TestBrowserImportPollsWithoutStream(t *testing.T) {
	browser := startBrowser(t)
	e := newImportPageEnv(t, browser, false)
	var b strings.Builder
	b.WriteString("Name,Company\n")
	for i := range 3000 {
		b.WriteString("Lead " + strconv.Itoa(i) + ",Bulk Co\n")
	}
	path := filepath.Join(t.TempDir(), "polled.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.tb.visit(views.ImportPath)
	e.tb.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{path}))
	e.tb.waitFor("the preview", `!document.getElementById('import-mapping').hidden`)
	e.takeReads()
	e.tb.click("import", "#import-start")
	e.tb.waitFor("the queued import", `document.getElementById('import-progress-text').textContent === 'Waiting for a worker… Imported 0 of 3,000 rows…'`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.reads)
		e.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /imports/{id}/ read %d times in 10 s while the import was queued, want it polled", n)
		}
	}
	e.startWorker()
	e.tb.waitFor("the result", `!document.getElementById('import-result').hidden`)
	if got := e.tb.evalString(`document.getElementById('import-summary').textContent`); got != "polled.csv: 3,000 created, 0 updated, 0 skipped (already there), 0 failed." {
		t.Errorf("the result reads %q", got)
	}
	reads := e.takeReads()
	if len(reads) < 4 || reads[0] != store.ImportQueued || reads[len(reads)-1] != store.ImportDone {
		t.Errorf("GET /imports/{id}/ read with the import in these states: %v; want it polled while queued, until done", reads)
	}
}

// importURLPattern matches the path of GET /imports/{id}/.
var importURLPattern = regexp.MustCompile(`^/imports/([0-9a-f-]{36})/?$`)
