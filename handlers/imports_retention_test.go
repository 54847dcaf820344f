package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmteam/crm/handlers"
)

// TestImportRetentionAPI: an import finished more than 30 days ago has its
// rows purged by housekeeping; its undo and its failed rows answer 410 with
// the API's error shape, and GET says it expired, with no undo link.
func TestImportRetentionAPI(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	e.startWorker(t)
	r := do(t, e.ts, "POST", "/imports/?file_name=old.csv", "text/csv", "Name,Email\nAnn,ann@example.com\nBob,bad\n")
	if r.status != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	url := r.json(t)["url"].(string)
	m := waitImport(t, e.ts, url)
	if m["expired"] != false || m["undo"] != url+"undo/" || m["kept_until"] == nil {
		t.Errorf("a new import: expired %v, undo %v, kept until %v", m["expired"], m["undo"], m["kept_until"])
	}
	e.exec(t, `UPDATE imports SET finished_at = now() - interval '31 days' WHERE id = $1`, m["id"])
	if err := handlers.Housekeep(context.Background(), e.st, discardLog(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM import_rows`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("import rows after housekeeping: %d, want 0", rows)
	}

	m = doJSON(t, e.ts, "GET", url, "").json(t)
	if m["expired"] != true || m["undo"] != nil || m["failed_csv"] != nil || !strings.Contains(m["expired_message"].(string), "30 days") {
		t.Errorf("an expired import: expired %v, undo %v, failed_csv %v, message %v", m["expired"], m["undo"], m["failed_csv"], m["expired_message"])
	}
	for _, path := range []string{url + "undo/", url + "failed.csv"} {
		method := "POST"
		if strings.HasSuffix(path, ".csv") {
			method = "GET"
		}
		r := doJSON(t, e.ts, method, path, "")
		if r.status != http.StatusGone {
			t.Errorf("%s %s: %d %s, want 410", method, path, r.status, r.body)
			continue
		}
		if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "can no longer be undone") {
			t.Errorf("%s %s: body %s, want {\"error\": ...} saying why", method, path, r.body)
		}
	}
	if m := doJSON(t, e.ts, "GET", url, "").json(t); m["state"] != "done" || m["created"] != 1.0 {
		t.Errorf("after the refused undo: %v, %v created; want done, 1", m["state"], m["created"])
	}
}
