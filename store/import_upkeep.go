package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/queries"
)

// The upkeep of imports, apart from their job (import.go): finding the
// imports whose job the queue lost, so the worker's sweeper can enqueue it
// again (handlers.Tasks.SweepImports).

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
