package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// BurstEvents is how many events may wait for a ?burst=reset stream before it
// is sent a reset instead of them.
const BurstEvents = 200

// streamWriteWindow is how long one write to a stream may take: each write
// sets the write deadline (past the server's WriteTimeout) this far ahead, and a
// client that takes longer is gone.
const streamWriteWindow = 30 * time.Second

// handleEvents serves GET /events/: the event stream as Server-Sent Events.
// Each event is sent as
//
//	id: <stream position>
//	event: lead.moved
//	data: {"id": ..., "type": ..., "at": ..., "actor": ..., "lead": ..., "changes": [...]}
//
// A client that reconnects with Last-Event-ID (the browser does so by itself)
// is sent what it missed; one more than MaxReplay events behind, or naming a
// position the stream never reached, is sent "event: reset" with the current
// position instead, and should reload what it shows. Without Last-Event-ID,
// ?since=N (the position a page was rendered at) plays the same part; without
// either the stream starts now.
//
// Import progress comes as events without an id (hub_imports.go):
//
//	event: import.progress
//	data: {"id": ..., "state": "running", "rows_done": ..., ...}
//
// ?only=import sends those alone (the import page has no use for the lead
// events an import makes by the thousand).
//
// ?burst=reset is for a page that redraws itself (the board): when more than
// BurstEvents events are waiting for the stream (an import, a bulk action),
// it is sent one "event: reset" with the current position instead of them.
// An import of 100,000 rows is then a few resets, not some 100 MB of events to
// every open board. Streams without it (API clients, scripts) get every event.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) error {
	if s.Events == nil {
		return errStatus(http.StatusServiceUnavailable, "the event stream is not available on this server")
	}
	u, _ := currentUser(r)
	importsOnly := false
	switch r.URL.Query().Get("only") {
	case "":
	case "import":
		importsOnly = true
	default:
		return badRequest("only may be import (the import events alone) or absent")
	}
	burstReset := false
	switch r.URL.Query().Get("burst") {
	case "":
	case "reset":
		burstReset = true
	default:
		return badRequest("burst may be reset (a reset instead of a burst of events) or absent")
	}
	after := int64(-1)
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("since")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return badRequest("Last-Event-ID and since must be a stream position (a whole number ≥ 0)")
		}
		after = n
		break
	}
	sub, err := s.Events.subscribe(u.ID, !burstReset && !importsOnly)
	if errors.Is(err, errTooManyStreams) {
		return errStatus(http.StatusTooManyRequests, fmt.Sprintf("too many open event streams: at most %d per user on each server; close a tab", s.Events.StreamsPerUser))
	}
	defer s.Events.unsubscribe(sub)

	ctx := r.Context()
	reset := false
	switch {
	case importsOnly:
		// No lead events are read: where the stream is does not matter.
	case after < 0:
		after = s.Events.Last()
	case after < s.Events.Last()-MaxReplay || after > s.Events.Last():
		// Far behind this hub, or ahead of it: ask the table where the stream
		// is (the hub may be a moment behind another server).
		last, err := s.Store.SequenceEvents(ctx)
		if err != nil {
			return err
		}
		if after > last || last-after > MaxReplay {
			after, reset = last, true
		}
	}

	rc := http.NewResponseController(w)
	// The server's read timeout would end the request (its context) while the
	// stream is idle: a stream reads nothing more.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(chunks ...[]byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteWindow)); err != nil {
			return err
		}
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	// retry: how soon the browser reconnects after the stream ends.
	if err := write([]byte("retry: 1000\n: stream of lead events\n\n")); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.Events.Heartbeat)
	defer heartbeat.Stop()
	// A stream outlives the request that opened it: it ends when its session
	// is signed out (or ended by a password change) or its token is revoked or
	// its user deactivated, checked at every heartbeat and before sending
	// events when the last check is older than the hub's Recheck.
	checked := time.Now()
	valid := func(force bool) bool {
		if !force && time.Since(checked) < s.Events.Recheck {
			return true
		}
		checked = time.Now()
		return s.principalStillValid(r)
	}
	for {
		if !importsOnly {
			if !reset && burstReset {
				if last := s.Events.Last(); last-after > BurstEvents {
					after, reset = last, true
				}
			}
			if reset {
				id := strconv.FormatInt(after, 10)
				if err := write(sseFrame(id, "reset", []byte(`{"id":`+id+`}`))); err != nil {
					return nil
				}
			}
			frames, next, behind, err := s.Events.since(ctx, after)
			if err != nil {
				s.Log.WarnContext(ctx, "event stream read", "request_id", RequestID(ctx), "err", err)
				return nil // the client reconnects with Last-Event-ID
			}
			after, reset = next, behind
			if reset {
				continue
			}
			if len(frames) > 0 {
				if !valid(false) {
					return nil
				}
				if err := write(frames...); err != nil {
					return nil
				}
			}
		}
		// Import events after the lead events read with them: an import's
		// last leads before its import.finished, as a rule (not a promise:
		// the two travel apart).
		if notes := s.Events.takeNotes(sub); len(notes) > 0 {
			if !valid(false) {
				return nil
			}
			if err := write(notes...); err != nil {
				return nil
			}
		}
		select {
		case <-sub.wake:
		case <-heartbeat.C:
			if !valid(true) {
				return nil
			}
			if err := write([]byte(": ping\n\n")); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.Events.Done():
			return nil
		}
	}
}

// principalStillValid says whether whoever made r is still signed in: the
// session has not ended, the token is not revoked and its user is active. A
// failure to check (the database is down) counts as valid: the stream then
// ends with the database anyway, or is checked again at the next heartbeat.
func (s *Server) principalStillValid(r *http.Request) bool {
	p, ok := currentPrincipal(r.Context())
	if !ok {
		return false
	}
	var err error
	switch {
	case p.Token != nil:
		tok, ok := bearerToken(r)
		if !ok {
			return false
		}
		_, err = s.Store.TokenUser(r.Context(), tok)
	case p.SessionID != uuid.Nil:
		_, err = s.Store.SessionUser(r.Context(), p.SessionID)
	}
	return !errors.Is(err, store.ErrNotFound)
}
