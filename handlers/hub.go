package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store"
)

// The event hub: each server's one reader of the event stream, fanning out to
// all of its streams (GET /events/, events.go).
//
// Several servers. The events table is the source of truth; wake-ups travel by
// Redis pub/sub. After a write, the process that made it (a server, or a
// worker running the assistant) publishes a wake-up on WakeChannel; every
// server's hub then numbers the committed events (store.SequenceEvents, one
// server at a time) and reads what is new, once, for all its streams. Redis
// rather than LISTEN/NOTIFY: LISTEN needs a session of its own on the
// database, which a transaction-mode pooler (PgBouncer, a hosted database's
// pooler) does not give, and Redis is required already. A wake-up carries no
// data, so a lost one costs only time: each hub also polls the table every
// Poll (two small queries) and so keeps working, a little slower, while Redis is
// down, and sees writes made by anything that does not publish (psql, an
// older server). Nothing here holds a database session between statements, so
// all of it works through a transaction-mode pooler.

// WakeChannel is the Redis channel of the hubs' wake-ups.
const WakeChannel = "crm:events:wake"

// ReplyChannel is the Redis channel on which workers announce a finished chat
// reply (its id), so a long poll waiting for it answers at once (chat_panel.go).
const ReplyChannel = "crm:chat:done"

// Defaults of EventHub.
const (
	// DefaultEventPoll is how often a hub reads the table without a wake-up.
	DefaultEventPoll = 500 * time.Millisecond
	// DefaultStreamsPerUser caps one user's open streams on one server: a few
	// tabs and devices each, not a leak of reconnecting clients.
	DefaultStreamsPerUser = 8
	// DefaultHeartbeat is how often an idle stream sends a comment line, so
	// that proxies and the browser see it alive.
	DefaultHeartbeat = 15 * time.Second
	// MaxReplay is how far behind a reconnecting stream may be: with more than
	// this many events missed it is sent a reset (reload the board) instead.
	MaxReplay = 1000
	// hubRing is how many recent events a hub keeps encoded in memory, so a
	// stream that is a little behind is served without reading the table.
	hubRing = 1024
	// hubBatch is how many events a hub reads at a time.
	hubBatch = 500
)

// EventHub reads new events for all of one server's streams.
type EventHub struct {
	store *store.Store
	rdb   redis.UniversalClient
	log   *slog.Logger
	// Poll is how often the table is read without a wake-up.
	Poll time.Duration
	// StreamsPerUser caps each user's streams on this server.
	StreamsPerUser int
	// Heartbeat is how often an idle stream sends a comment line.
	Heartbeat time.Duration
	// Recheck is how old a stream's last check of its session or token may be
	// when it sends events (it is checked at every heartbeat too).
	Recheck time.Duration

	mu sync.Mutex
	// ring holds the encoded events with floor < id <= last, oldest first.
	ring    []frame
	floor   int64
	last    int64
	subs    map[*subscriber]struct{}
	perUser map[uuid.UUID]int
	replies map[uuid.UUID][]chan struct{}
	// every is how many of subs are sent every lead event (subscriber.every).
	every int
	// imports are the import events to send (hub_imports.go).
	imports *importNotes

	wake   chan struct{}
	done   chan struct{}
	closed sync.Once
}

// frame is one event encoded for the stream.
type frame struct {
	id int64
	b  []byte
}

// subscriber is one open stream: a wake-up channel and little else.
type subscriber struct {
	user uuid.UUID
	wake chan struct{}
	// notes are the import events waiting to be sent (guarded by the hub's
	// mu): the latest of each import.
	notes []note
	// every: the stream is sent every lead event, however many (not
	// ?burst=reset, not ?only=import).
	every bool
}

// NewEventHub returns a hub over st; rdb nil means polling alone.
func NewEventHub(st *store.Store, rdb redis.UniversalClient, log *slog.Logger) *EventHub {
	return &EventHub{
		store: st, rdb: rdb, log: log, Poll: DefaultEventPoll, StreamsPerUser: DefaultStreamsPerUser, Heartbeat: DefaultHeartbeat, Recheck: 5 * time.Second,
		subs: map[*subscriber]struct{}{}, perUser: map[uuid.UUID]int{}, replies: map[uuid.UUID][]chan struct{}{},
		imports: newImportNotes(), wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// Start reads where the stream is and runs the hub until ctx ends or Close.
func (h *EventHub) Start(ctx context.Context) error {
	last, err := h.store.SequenceEvents(ctx)
	if err != nil {
		return fmt.Errorf("start event hub: %w", err)
	}
	h.mu.Lock()
	h.floor, h.last = last, last
	h.mu.Unlock()
	if h.rdb != nil {
		go h.listen(ctx)
	}
	go h.run(ctx)
	go h.runImports(ctx)
	return nil
}

// Close ends every stream (the server is shutting down); their clients
// reconnect, to another server, with Last-Event-ID.
func (h *EventHub) Close() { h.closed.Do(func() { close(h.done) }) }

// Done is closed by Close.
func (h *EventHub) Done() <-chan struct{} { return h.done }

// Last is the last event the hub has read.
func (h *EventHub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func (h *EventHub) run(ctx context.Context) {
	tick := time.NewTicker(h.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-h.store.EventsWritten():
			h.publish(ctx, WakeChannel, "")
		case <-h.store.ImportsProgressed():
			h.localImportsProgressed(ctx)
			continue
		case <-h.wake:
		case <-tick.C:
		}
		if err := h.read(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("event hub read", "err", err)
		}
	}
}

// listen turns Redis messages into wake-ups. go-redis resubscribes by itself
// after a lost connection; meanwhile the poll carries on.
func (h *EventHub) listen(ctx context.Context) {
	ps := h.rdb.Subscribe(ctx, WakeChannel, ReplyChannel, ImportChannel)
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m.Channel {
			case WakeChannel:
				h.Wake()
			case ReplyChannel:
				if id, err := uuid.Parse(m.Payload); err == nil {
					h.replyDone(id)
				}
			case ImportChannel:
				if id, err := uuid.Parse(m.Payload); err == nil {
					h.importProgressed(id)
				}
			}
		}
	}
}

// Wake makes the hub read the table now.
func (h *EventHub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *EventHub) publish(ctx context.Context, channel, msg string) {
	if h.rdb == nil {
		return
	}
	if err := publish(ctx, h.rdb, channel, msg); err != nil {
		h.log.Debug("publish wake-up", "channel", channel, "err", err)
	}
}

// publish sends msg on a Redis channel, waiting at most a second: every
// message between the processes is a hint that a poll also picks up.
func publish(ctx context.Context, rdb redis.UniversalClient, channel, msg string) error {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rdb.Publish(pctx, channel, msg).Err()
}

// read numbers what committed, reads what is new into the ring and wakes the
// streams.
func (h *EventHub) read(ctx context.Context) error {
	newest, err := h.store.SequenceEvents(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.every == 0 && (len(h.subs) == 0 && newest > h.last || newest-h.last > BurstEvents) {
		// Nobody is streaming from this server, or only streams that take a
		// reset for a burst (?burst=reset, ?only=import): nothing is read (an
		// import is 100,000 events). A stream opened later from before newest
		// reads the table (since).
		h.ring = h.ring[:0]
		h.floor, h.last = newest, newest
	}
	h.mu.Unlock()
	for h.Last() < newest {
		evs, err := h.store.EventsAfter(ctx, h.Last(), hubBatch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		frames := make([]frame, len(evs))
		for i, ev := range evs {
			if frames[i], err = encodeEvent(ev); err != nil {
				return err
			}
		}
		h.mu.Lock()
		h.ring = append(h.ring, frames...)
		if n := len(h.ring) - hubRing; n > 0 {
			h.floor = h.ring[n-1].id
			h.ring = append(h.ring[:0:0], h.ring[n:]...)
		}
		h.last = frames[len(frames)-1].id
		for s := range h.subs {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		h.mu.Unlock()
	}
	return nil
}

func encodeEvent(ev store.Event) (frame, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return frame{}, fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	return frame{id: ev.ID, b: sseFrame(strconv.FormatInt(ev.ID, 10), ev.Type, data)}, nil
}

// sseFrame is one Server-Sent Event: its id: line (none when id is ""), its
// type and its data (one line of JSON).
func sseFrame(id, typ string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(typ)+len(id)+24)
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return b
}

// errTooManyStreams refuses a stream over the per-user cap.
var errTooManyStreams = errors.New("too many open event streams")

func (h *EventHub) subscribe(user uuid.UUID, every bool) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perUser[user] >= h.StreamsPerUser {
		return nil, errTooManyStreams
	}
	h.perUser[user]++
	s := &subscriber{user: user, wake: make(chan struct{}, 1), every: every}
	h.subs[s] = struct{}{}
	if every {
		h.every++
	}
	return s, nil
}

func (h *EventHub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	if s.every {
		h.every--
	}
	if h.perUser[s.user]--; h.perUser[s.user] <= 0 {
		delete(h.perUser, s.user)
	}
}

// since returns the encoded events after after, and the id to continue from.
// reset is true when the client is more than MaxReplay positions behind (or,
// reading the table, MaxReplay events): it is sent a reset and continues from
// next.
func (h *EventHub) since(ctx context.Context, after int64) (frames [][]byte, next int64, reset bool, err error) {
	h.mu.Lock()
	if after >= h.floor {
		i := sort.Search(len(h.ring), func(i int) bool { return h.ring[i].id > after })
		if h.last-after > MaxReplay {
			last := h.last
			h.mu.Unlock()
			return nil, last, true, nil
		}
		for _, f := range h.ring[i:] {
			frames = append(frames, f.b)
		}
		next = max(after, h.last)
		h.mu.Unlock()
		return frames, next, false, nil
	}
	last := h.last
	h.mu.Unlock()
	// Behind the ring: read the table, at most MaxReplay events.
	evs, err := h.store.EventsAfter(ctx, after, MaxReplay+1)
	if err != nil {
		return nil, after, false, err
	}
	if len(evs) > MaxReplay {
		return nil, last, true, nil
	}
	next = after
	for _, ev := range evs {
		f, err := encodeEvent(ev)
		if err != nil {
			return nil, after, false, err
		}
		frames, next = append(frames, f.b), ev.ID
	}
	return frames, next, false, nil
}

// waitReply returns a channel closed when a worker announces that reply id is
// finished, and a function to stop waiting.
func (h *EventHub) waitReply(id uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.replies[id] = append(h.replies[id], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := h.replies[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(h.replies, id)
		} else {
			h.replies[id] = list
		}
	}
}

func (h *EventHub) replyDone(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.replies[id] {
		close(ch)
	}
	delete(h.replies, id)
}

// PublishWrites passes st's write signals, and its imports' progress
// (hub_imports.go), on to every server's hub through Redis until ctx ends: for
// a process that writes but has no hub (crm worker).
func PublishWrites(ctx context.Context, st *store.Store, rdb redis.UniversalClient, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.EventsWritten():
			if err := publish(ctx, rdb, WakeChannel, ""); err != nil {
				log.Debug("publish wake-up", "err", err)
			}
		case <-st.ImportsProgressed():
			for _, id := range st.TakeImportsProgressed() {
				if err := publish(ctx, rdb, ImportChannel, id.String()); err != nil {
					log.Debug("publish import progress", "import_id", id, "err", err)
				}
			}
		}
	}
}

// PublishReplyDone announces that chat reply id is finished, to the long polls
// of every server.
func PublishReplyDone(ctx context.Context, rdb redis.UniversalClient, id uuid.UUID) error {
	return publish(ctx, rdb, ReplyChannel, id.String())
}
