package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// Import progress on the event stream. An import's job signals its progress
// in the process that runs it (store.ImportsProgressed: after each batch, at
// the end, after an undo); that process publishes the import's id on
// ImportChannel (the hub of crm serve, or PublishWrites in crm worker), and
// every server's hub reads the import and sends it to all of its streams as
//
//	event: import.progress (queued or running), import.finished (done or
//	failed) or import.undone
//	data: the import as GET /imports/{id}/ shows it, without its errors and
//	the undo's lists of kept leads
//
// These events are ephemeral: they are not in lead_events and have no id: line,
// so a stream's Last-Event-ID is untouched and they are never replayed. A
// client that missed one (it was not connected, a message was lost) reads
// GET /imports/{id}/. Each server sends at most one per import every
// importNoteInterval (the latest state: each is the whole import, so skipping
// one loses nothing) and none that says what the last one said. Like every
// event of the stream they go to every signed-in user: any signed-in user may
// follow and undo any import (README, Import).

// ImportChannel is the Redis channel on which processes announce that an
// import progressed (its id).
const ImportChannel = "crm:imports:progress"

// Types of the import events.
const (
	EventImportProgress = "import.progress"
	EventImportFinished = "import.finished"
	EventImportUndone   = "import.undone"
)

const (
	// importNoteInterval is the least time between two events of one import
	// on one server.
	importNoteInterval = 250 * time.Millisecond
	// importNoteKeep is how long a server remembers what it last sent of an
	// import (to send no repeats).
	importNoteKeep = 10 * time.Minute
	// maxStreamNotes bounds the import events waiting for one stream (the
	// latest per import); past it the oldest is dropped.
	maxStreamNotes = 16
)

// importNotes is a hub's state of import events: the imports to read and
// what was last sent of each.
type importNotes struct {
	mu    sync.Mutex
	dirty map[uuid.UUID]struct{}
	sent  map[uuid.UUID]sentNote
	wake  chan struct{}
}

type sentNote struct {
	at  time.Time
	sig string
}

func newImportNotes() *importNotes {
	return &importNotes{dirty: map[uuid.UUID]struct{}{}, sent: map[uuid.UUID]sentNote{}, wake: make(chan struct{}, 1)}
}

// note is an ephemeral frame waiting for one stream, keyed by its import.
type note struct {
	key uuid.UUID
	b   []byte
}

// importProgressed marks import id to be read and sent to this server's
// streams.
func (h *EventHub) importProgressed(id uuid.UUID) {
	n := h.imports
	n.mu.Lock()
	n.dirty[id] = struct{}{}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// localImportsProgressed passes this process's import signals on: to every
// server through Redis, or straight to this hub without it (or when the
// publish fails).
func (h *EventHub) localImportsProgressed(ctx context.Context) {
	for _, id := range h.store.TakeImportsProgressed() {
		if h.rdb == nil || publish(ctx, h.rdb, ImportChannel, id.String()) != nil {
			h.importProgressed(id)
		}
	}
}

// runImports sends the import events until ctx ends or Close.
func (h *EventHub) runImports(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-h.imports.wake:
		case <-timer.C:
		}
		if wait := h.sendImports(ctx); wait > 0 {
			timer.Reset(wait)
		}
	}
}

// sendImports reads the imports marked and sends each to the streams, but
// not sooner than importNoteInterval after the last event of the same import:
// it returns how soon the next of those waiting may go (0 for none waiting).
func (h *EventHub) sendImports(ctx context.Context) time.Duration {
	n := h.imports
	now := time.Now()
	var due []uuid.UUID
	var wait time.Duration
	n.mu.Lock()
	for id, s := range n.sent {
		if now.Sub(s.at) > importNoteKeep {
			delete(n.sent, id)
		}
	}
	for id := range n.dirty {
		if d := n.sent[id].at.Add(importNoteInterval).Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		due = append(due, id)
		delete(n.dirty, id)
	}
	n.mu.Unlock()
	for _, id := range due {
		imp, err := h.store.ImportProgress(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read import for its progress event", "import_id", id, "err", err)
			}
			continue
		}
		typ := importEventType(imp)
		sig := fmt.Sprintf("%s %s %d %d %d %d %d %d", typ, imp.State, imp.RowsTotal, imp.RowsDone, imp.Created, imp.Updated, imp.Skipped, imp.Failed)
		n.mu.Lock()
		same := n.sent[id].sig == sig
		if !same {
			n.sent[id] = sentNote{at: time.Now(), sig: sig}
		}
		n.mu.Unlock()
		if same {
			continue
		}
		b, err := encodeImportEvent(typ, imp)
		if err != nil {
			h.log.Warn("encode import event", "import_id", id, "err", err)
			continue
		}
		h.broadcastNote(id, b)
	}
	return wait
}

// importEventType is the event an import's state makes.
func importEventType(imp store.Import) string {
	switch {
	case imp.State == store.ImportUndone:
		return EventImportUndone
	case imp.Finished():
		return EventImportFinished
	default:
		return EventImportProgress
	}
}

// encodeImportEvent encodes an import event: importJSON without the lists
// that may be long (the errors; the undo's kept leads), and no id: line.
func encodeImportEvent(typ string, imp store.Import) ([]byte, error) {
	m := importJSON(imp)
	delete(m, "errors")
	if imp.Undo != nil {
		m["undo_result"] = map[string]any{"removed": imp.Undo.Removed, "restored": imp.Undo.Restored, "message": imp.Undo.Message}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return sseFrame("", typ, data), nil
}

// broadcastNote queues frame b, of import key, for every stream, replacing
// an older frame of the same import that is still waiting.
func (h *EventHub) broadcastNote(key uuid.UUID, b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		replaced := false
		for i := range s.notes {
			if s.notes[i].key == key {
				s.notes[i].b, replaced = b, true
				break
			}
		}
		if !replaced {
			if len(s.notes) >= maxStreamNotes {
				s.notes = s.notes[1:]
			}
			s.notes = append(s.notes, note{key: key, b: b})
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// takeNotes returns the frames waiting for stream s, oldest first, and
// forgets them.
func (h *EventHub) takeNotes(s *subscriber) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.notes) == 0 {
		return nil
	}
	out := make([][]byte, len(s.notes))
	for i, n := range s.notes {
		out[i] = n.b
	}
	s.notes = nil
	return out
}
