package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/queries"
)

// The event stream. Every change to a lead is recorded in the audit trail,
// lead_events, in the transaction of the change (audit.go); the stream is that
// table read in the order the changes committed. Identity ids are drawn at
// insert and commit in any order, so "events with id > n" would skip an event
// whose transaction committed after a reader had moved past its id. Instead an
// event gets its stream position, seq, after its transaction committed:
// SequenceEvents numbers the committed events without one, one caller at a
// time across every server (migration 00008 says why that is safe). A reader
// that has seen up to n asks for seq > n and never misses an event.
//
// Who calls SequenceEvents: each server's event hub (handlers/events.go), woken
// when any process signals a write (EventsWritten, carried between processes by
// Redis) and by a short poll, so nothing depends on a wake-up arriving.

// Event types, as the stream names them.
const (
	LeadCreated  = "lead.created"
	LeadUpdated  = "lead.updated"
	LeadMoved    = "lead.moved"
	LeadDeleted  = "lead.deleted"
	LeadRestored = "lead.restored"
)

// eventTypes maps the audit trail's actions to event types.
var eventTypes = map[string]string{
	EventCreate: LeadCreated, EventUpdate: LeadUpdated, EventMove: LeadMoved,
	EventDelete: LeadDeleted, EventRestore: LeadRestored,
	EventStageCreate: StageCreated, EventStageUpdate: StageUpdated,
	EventStageDelete: StageDeleted, EventStageReorder: StageReordered,
}

// Event is one change as the event stream sends it, and as outgoing webhooks
// will: designed once.
type Event struct {
	// ID is the event's position in the stream: increasing in commit order.
	ID    int64      `json:"id"`
	Type  string     `json:"type"`
	At    time.Time  `json:"at"`
	Actor EventActor `json:"actor"`
	// Lead is the lead after the change; for lead.deleted, as it went to the
	// trash (card_order 0). Absent from stage events.
	Lead Lead `json:"lead,omitzero"`
	// Stage is, for stage.created and stage.updated, the stage after the
	// change; for stage.deleted, the stage as it was (its leads went to the
	// stage the changes name as move_to); absent otherwise.
	Stage *Stage `json:"stage,omitempty"`
	// Stages is, for every stage.* event, the whole pipeline after the change
	// in board order, so a client re-draws its columns from the event alone.
	Stages []Stage `json:"stages,omitempty"`
	// Changes are the fields changed, values as text (see FieldChange).
	Changes []FieldChange `json:"changes"`
}

// EventActor is who made a change.
type EventActor struct {
	// Kind is ActorUser, ActorToken, ActorAssistant or ActorSystem.
	Kind string `json:"kind"`
	// UserID is the user acting, or for whom; absent for the system.
	UserID *uuid.UUID `json:"user_id,omitempty"`
	// Name is the actor as the timeline shows it.
	Name string `json:"name"`
}

// EventsWritten delivers a signal after writes that may have recorded events,
// coalesced: one pending signal stands for any number of writes. The process
// passes it on to every server (handlers.EventHub, handlers.PublishWrites);
// nobody reading it costs nothing.
func (s *Store) EventsWritten() <-chan struct{} { return s.written }

// signalWrite is called after every committed write.
func (s *Store) signalWrite() {
	select {
	case s.written <- struct{}{}:
	default:
	}
}

// SequenceEvents gives stream positions to the committed events that have
// none yet and returns the last position assigned.
func (s *Store) SequenceEvents(ctx context.Context) (int64, error) {
	last, err := s.q.SequenceLeadEvents(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("sequence events: %w", err))
	}
	return last, nil
}

// LastEventID is the last stream position assigned: a page rendered after
// reading it, and a stream that starts after it, miss nothing between them.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	last, err := s.q.LastLeadEventSeq(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("last event id: %w", err))
	}
	return last, nil
}

// MaxEventsRead bounds EventsAfter.
const MaxEventsRead = 5000

// EventsAfter returns up to limit events after stream position after, in
// stream order.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	return eventsAfter(ctx, s.q, after, limit)
}

// eventsAfter is EventsAfter through q (a transaction's, say).
func eventsAfter(ctx context.Context, q *queries.Queries, after int64, limit int) ([]Event, error) {
	rows, err := q.ListStreamEvents(ctx, queries.ListStreamEventsParams{After: after, RowLimit: clampInt32(min(limit, MaxEventsRead))})
	if err != nil {
		return nil, translate(fmt.Errorf("list events after %d: %w", after, err))
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		ev := Event{ID: r.Seq, Type: eventTypes[r.Action], At: r.At.UTC(), Changes: []FieldChange{},
			Actor: EventActor{Kind: r.ActorKind, Name: r.ActorName}}
		if r.ActorUserID.Valid {
			id := uuid.UUID(r.ActorUserID.Bytes)
			ev.Actor.UserID = &id
		}
		if err := json.Unmarshal(r.Changes, &ev.Changes); err != nil {
			return nil, fmt.Errorf("decode changes of event %d: %w", r.Seq, err)
		}
		if strings.HasPrefix(ev.Type, "stage.") {
			if err := decodeStageEvent(&ev, r.Stage, r.Stages); err != nil {
				return nil, fmt.Errorf("decode stages of event %d: %w", r.Seq, err)
			}
			out[i] = ev
			continue
		}
		// The snapshot is the leads row as JSON (card_order its position):
		// read as the API's lead, the owner filled in below.
		lead, err := leadFromJSON(r.Lead, -1)
		if err != nil {
			return nil, fmt.Errorf("decode lead of event %d: %w", r.Seq, err)
		}
		ev.Lead = lead
		ev.Lead.ID = r.LeadID
		out[i] = ev
	}
	leads := make([]*Lead, 0, len(out))
	for i := range out {
		if out[i].Stage == nil && out[i].Stages == nil {
			leads = append(leads, &out[i].Lead)
		}
	}
	if err := fillOwners(ctx, q, leads...); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// decodeStageEvent fills a stage event's stage (when it has one) and pipeline.
func decodeStageEvent(ev *Event, stage, stages []byte) error {
	if string(stage) != "null" {
		ev.Stage = &Stage{}
		if err := json.Unmarshal(stage, ev.Stage); err != nil {
			return err
		}
	}
	return json.Unmarshal(stages, &ev.Stages)
}
