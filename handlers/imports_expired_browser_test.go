package handlers

import (
	"context"
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

// TestBrowserImportExpired opens an import past its retention (its rows
// purged by housekeeping) on the import page at a desktop's and a phone's
// width: the result shows its counts and says why there is no Undo and no
// failed rows' CSV, and offers neither. Screenshots:
// testdata/screenshots/import-expired-*.png.
func TestBrowserImportExpired(t *testing.T) {
	browser := startBrowser(t)
	st, pool := storetest.NewStore(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := &Server{Store: st, Log: log, Version: "test", Sessions: SessionsForTest(pool)}
	h := srv.Routes()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	tb := newTabOn(t, browser, ts.URL, st, pool, h)
	tb.signIn(h, ts.URL, st, "expired@example.com")

	ctx := context.Background()
	imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: "old.csv",
		Body: strings.NewReader("name,email\nAnn,ann@example.com\nBob,not an email\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE imports SET finished_at = now() - interval '40 days' WHERE id = $1`, imp.ID); err != nil {
		t.Fatal(err)
	}
	if err := Housekeep(ctx, st, log, time.Now()); err != nil {
		t.Fatal(err)
	}

	for _, size := range []struct {
		name string
		w, h int64
	}{{"1280", 1280, 900}, {"390", 390, 844}} {
		tb.do("viewport "+size.name, chromedp.EmulateViewport(size.w, size.h))
		tb.visit(views.ImportPath + "?id=" + imp.ID.String())
		tb.waitFor("the result", `!document.getElementById('import-result').hidden`)
		if got := tb.evalString(`document.getElementById('import-summary').textContent`); got != "old.csv: 1 created, 0 updated, 0 skipped (already there), 1 failed." {
			t.Errorf("%s px: the result reads %q", size.name, got)
		}
		// Shown is what the person sees (the hidden attribute alone lost to .btn's display once).
		if got := tb.evalString(`['import-undo', 'import-errors-box'].map(id => getComputedStyle(document.getElementById(id)).display).join(' ')`); got != "none none" {
			t.Errorf("%s px: the display of Undo and of the failed rows: %s; want none none", size.name, got)
		}
		if got := tb.evalString(`document.getElementById('import-undo-result').textContent`); !strings.Contains(got, "can no longer be undone") {
			t.Errorf("%s px: the page says %q, want why there is no undo", size.name, got)
		}
		if got := tb.evalString(`document.querySelector('#import-h-recent').parentElement.innerText`); !strings.Contains(got, "rows no longer kept") {
			t.Errorf("%s px: the recent imports read %q", size.name, got)
		}
		if o := tb.overflow(); o != "" {
			t.Errorf("%s px: %s; want no sideways scrolling", size.name, o)
		}
		tb.fullScreenshot("import-expired-" + size.name + ".png")
	}
}
