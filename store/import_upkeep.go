package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// The upkeep of imports, apart from their job (import.go): finding the
// imports whose job the queue lost, so the worker's sweeper can enqueue it
// again (handlers.Tasks.SweepImports), and what is kept of an import once its
// job is over.
//
// Retention. The uploaded file (import_chunks) is only the job's: it is
// deleted as the import finishes (FinishImport). What became of each row
// (import_rows: what an undo puts back, the failed rows and their errors) is
// kept for ImportRetention after the import finished, then deleted by the
// worker's housekeeping (PurgeImports); from then on the import is Expired:
// it cannot be undone (ErrImportExpired) and its failed rows cannot be
// downloaded. The import itself (file name, who, when, counts) stays.

// ImportRetention is how long after it finished an import can be undone and
// its failed rows downloaded: as long as the trash keeps a deleted lead.
const ImportRetention = TrashRetention

// ErrImportExpired is an undo, or a download of the failed rows, of an import
// that finished more than ImportRetention ago: its rows are no longer kept.
var ErrImportExpired = errors.New("the import is past its retention: its rows are no longer kept")

// importExpired says whether an import that finished at finished (nil: not
// finished) is past its retention at now.
func importExpired(finished *time.Time, now time.Time) bool {
	return finished != nil && finished.Before(now.Add(-ImportRetention))
}

// PurgeImports deletes the files of finished imports left from before
// FinishImport deleted them, and the rows of the imports finished before
// before (now less ImportRetention). Each is one idempotent statement, so
// several workers doing it at once is fine.
func (s *Store) PurgeImports(ctx context.Context, before time.Time) (chunks, rows int64, err error) {
	chunks, err = s.q.PurgeImportChunks(ctx)
	if err != nil {
		return 0, 0, translate(fmt.Errorf("purge import files: %w", err))
	}
	rows, err = s.q.PurgeImportRows(ctx, pgtype.Timestamptz{Time: before, Valid: true})
	if err != nil {
		return chunks, 0, translate(fmt.Errorf("purge import rows: %w", err))
	}
	return chunks, rows, nil
}

// StaleImport is an unfinished import no worker seems to be on.
type StaleImport struct {
	ID        uuid.UUID
	CreatedAt time.Time
}

// StaleImports returns up to limit imports, oldest first, that are queued
// since before queuedBefore or running with their worker's lease run out: their
// job was lost (Redis restarted without its data, a crash after the retries),
// or is waiting on the queue for its next attempt.
func (s *Store) StaleImports(ctx context.Context, queuedBefore time.Time, limit int) ([]StaleImport, error) {
	rows, err := s.q.ListStaleImports(ctx, queries.ListStaleImportsParams{QueuedBefore: queuedBefore, RowLimit: clampInt32(limit)})
	if err != nil {
		return nil, translate(fmt.Errorf("list stale imports: %w", err))
	}
	out := make([]StaleImport, len(rows))
	for i, r := range rows {
		out[i] = StaleImport{ID: r.ID, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}
