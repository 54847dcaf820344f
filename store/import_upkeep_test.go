package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// countRows counts the rows of table (import_chunks or import_rows) of import id.
func importRowCount(t *testing.T, pool *pgxpool.Pool, table string, id uuid.UUID) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE import_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportFileDeletedWhenFinished: the uploaded file is the job's only; it
// goes when the import is done or failed, and the failed rows' CSV (made of
// import_rows) still has every failed row.
func TestImportFileDeletedWhenFinished(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: "a.csv",
		Body: strings.NewReader("name,email\nAnn,ann@example.com\nBob,not an email\n")})
	if err != nil {
		t.Fatal(err)
	}
	if n := importRowCount(t, pool, "import_chunks", imp.ID); n != 1 {
		t.Fatalf("a queued import's file: %d chunks, want 1", n)
	}
	if err := st.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	if n := importRowCount(t, pool, "import_chunks", imp.ID); n != 0 {
		t.Errorf("a done import's file: %d chunks left, want 0", n)
	}
	var csv []string
	if err := st.ImportFailures(ctx, imp.ID, func(cells []string) error {
		csv = append(csv, strings.Join(cells, ","))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(csv, "\n"); !strings.Contains(got, "Bob,not an email,row 3: email:") {
		t.Errorf("failed rows after the file went:\n%s", got)
	}

	failed, err := st.CreateImport(ctx, store.ImportUpload{FileName: "b.csv", Body: strings.NewReader("name\nCleo\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FailImport(ctx, failed.ID, "the job queue was unavailable"); err != nil {
		t.Fatal(err)
	}
	if n := importRowCount(t, pool, "import_chunks", failed.ID); n != 0 {
		t.Errorf("a failed import's file: %d chunks left, want 0", n)
	}
}

// TestImportRetention: housekeeping deletes the rows of imports finished
// ImportRetention ago, and the files finished imports still had; such an
// import can no longer be undone nor its failed rows downloaded, and says so.
// Younger and unfinished imports keep everything.
func TestImportRetention(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	old := runImport(t, st, ctx, "old.csv", []byte("name,email\nAnn,ann@example.com\nBob,bad\n"), "skip", nil)
	young := runImport(t, st, ctx, "young.csv", []byte("name\nCleo\n"), "skip", nil)
	queued, err := st.CreateImport(ctx, store.ImportUpload{FileName: "queued.csv", Body: strings.NewReader("name\nDan\n")})
	if err != nil {
		t.Fatal(err)
	}
	if old.Expired || old.KeptUntil == nil || old.KeptUntil.Sub(*old.FinishedAt) != store.ImportRetention {
		t.Errorf("a new import: expired %v, kept until %v (finished %v)", old.Expired, old.KeptUntil, old.FinishedAt)
	}
	if queued.KeptUntil != nil || queued.Expired {
		t.Errorf("a queued import: kept until %v, expired %v; want neither", queued.KeptUntil, queued.Expired)
	}
	// An import finished before its file was deleted at the end of its job.
	if _, err := pool.Exec(ctx, `INSERT INTO import_chunks (import_id, n, data) VALUES ($1, 0, 'x')`, young.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE imports SET finished_at = now() - interval '31 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}

	chunks, rows, err := st.PurgeImports(ctx, time.Now().Add(-store.ImportRetention))
	if err != nil {
		t.Fatal(err)
	}
	if chunks != 1 || rows != 2 {
		t.Errorf("purged %d chunks and %d rows, want 1 (young's leftover file) and 2 (old's rows)", chunks, rows)
	}
	for _, c := range []struct {
		id           uuid.UUID
		chunks, rows int
		what         string
	}{{old.ID, 0, 0, "old"}, {young.ID, 0, 1, "young"}, {queued.ID, 1, 0, "queued"}} {
		if n, m := importRowCount(t, pool, "import_chunks", c.id), importRowCount(t, pool, "import_rows", c.id); n != c.chunks || m != c.rows {
			t.Errorf("%s import after the purge: %d chunks, %d rows; want %d, %d", c.what, n, m, c.chunks, c.rows)
		}
	}

	got, err := st.GetImport(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expired || got.Created != 1 || got.Failed != 1 {
		t.Errorf("the old import: expired %v, created %d, failed %d; want expired with its counts", got.Expired, got.Created, got.Failed)
	}
	if _, err := st.UndoImport(ctx, old.ID); !errors.Is(err, store.ErrImportExpired) {
		t.Errorf("undo of the old import: %v, want ErrImportExpired", err)
	}
	if err := st.ImportFailures(ctx, old.ID, func([]string) error { return nil }); !errors.Is(err, store.ErrImportExpired) {
		t.Errorf("failed rows of the old import: %v, want ErrImportExpired", err)
	}
	if n, _ := st.CountLeads(ctx); n != 2 {
		t.Errorf("leads: %d, want 2 (the purge deletes no lead)", n)
	}
	if _, err := st.UndoImport(ctx, young.ID); err != nil {
		t.Errorf("undo of the young import: %v", err)
	}
}
