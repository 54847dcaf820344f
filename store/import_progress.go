package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
)

// Import progress, live. An import's job signals after each batch it commits,
// when it ends (done or failed) and when the import is undone
// (importProgressed); the process passes the import's id on to every server
// (handlers.EventHub, handlers.PublishWrites, over Redis like the write
// signal), and each server reads the import (ImportProgress) and sends it to
// its event streams as import.progress, import.finished or import.undone.
// These are not events of the audit trail: nothing is recorded, a signal
// carries only an id, and a lost one costs nothing but a late update (a client
// reads GET /imports/{id}/ when it needs to be sure).

// maxPendingImports bounds the ids waiting for a reader: a process where
// nobody reads them (a command) holds no more than this.
const maxPendingImports = 1024

// importSignals holds the imports that progressed since the last
// TakeImportsProgressed: a set, so that any number of signals of one import
// wait as one.
type importSignals struct {
	mu      sync.Mutex
	pending map[uuid.UUID]struct{}
	signal  chan struct{}
}

func newImportSignals() *importSignals {
	return &importSignals{pending: map[uuid.UUID]struct{}{}, signal: make(chan struct{}, 1)}
}

// ImportsProgressed delivers a signal when imports progressed, coalesced like
// EventsWritten; TakeImportsProgressed says which.
func (s *Store) ImportsProgressed() <-chan struct{} { return s.imports.signal }

// TakeImportsProgressed returns the ids of the imports that progressed since
// it was last called, and forgets them.
func (s *Store) TakeImportsProgressed() []uuid.UUID {
	p := s.imports
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(p.pending))
	for id := range p.pending {
		ids = append(ids, id)
	}
	clear(p.pending)
	return ids
}

// importProgressed is called after an import's batch commits, after its job
// ends and after its undo commits. It does not block.
func (s *Store) importProgressed(id uuid.UUID) {
	p := s.imports
	p.mu.Lock()
	if len(p.pending) < maxPendingImports {
		p.pending[id] = struct{}{}
	}
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// ImportProgress returns import id without its failed rows' errors (Errors is
// empty): what its progress events carry. ErrNotFound for an unknown import.
func (s *Store) ImportProgress(ctx context.Context, id uuid.UUID) (Import, error) {
	r, err := s.q.GetImport(ctx, id)
	if err != nil {
		return Import{}, translate(fmt.Errorf("get import %s: %w", id, err))
	}
	return importFromRow(r)
}
