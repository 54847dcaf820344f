package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// The audit trail. Every write to a lead (create, update, move, delete,
// restore) records an event in the same transaction as the write, naming the
// actor found in the context: handlers put the signed-in user or the API token
// there (WithActor), the assistant's turns write as "assistant on behalf of"
// the conversation's user, and anything else (seeding, tests) is the system.

// Kinds of actor.
const (
	ActorUser      = "user"
	ActorToken     = "token"
	ActorAssistant = "assistant"
	ActorSystem    = "system"
)

// Actions of a lead event.
const (
	EventCreate  = "create"
	EventUpdate  = "update"
	EventMove    = "move"
	EventDelete  = "delete"
	EventRestore = "restore"
)

// Actor is who makes a change.
type Actor struct {
	Kind string
	// UserID is the user acting, or for whom (uuid.Nil for the system).
	UserID uuid.UUID
	// Name is the actor as the timeline shows it.
	Name string
}

// UserActor is a signed-in user acting in the browser or the API.
func UserActor(u User) Actor { return Actor{Kind: ActorUser, UserID: u.ID, Name: u.Name} }

// TokenActor is an API client acting with one of u's tokens.
func TokenActor(u User, tokenName string) Actor {
	return Actor{Kind: ActorToken, UserID: u.ID, Name: "API token “" + tokenName + "” of " + u.Name}
}

// AssistantActor is the assistant acting on behalf of u.
func AssistantActor(u User) Actor {
	return Actor{Kind: ActorAssistant, UserID: u.ID, Name: "assistant on behalf of " + u.Name}
}

// SystemActor is the program itself: seeding, the command line, jobs.
var SystemActor = Actor{Kind: ActorSystem, Name: "system"}

type actorKey struct{}

// WithActor returns ctx carrying the actor the store records changes as.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or SystemActor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return SystemActor
}

// FieldChange is one field of a lead that an event changed.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// LeadEvent is one entry of a lead's history.
type LeadEvent struct {
	ID      int64         `json:"id"`
	LeadID  uuid.UUID     `json:"lead_id"`
	At      time.Time     `json:"at"`
	Action  string        `json:"action"`
	Changes []FieldChange `json:"changes"`
	// ActorKind is ActorUser, ActorToken, ActorAssistant or ActorSystem.
	ActorKind string `json:"actor_kind"`
	ActorName string `json:"actor"`
}

// MaxHistory bounds how many events LeadHistory returns.
const MaxHistory = 500

// LeadHistory returns the newest limit events of the lead (in the trash or
// not), newest first; none for a lead that never existed.
func (s *Store) LeadHistory(ctx context.Context, leadID uuid.UUID, limit int) ([]LeadEvent, error) {
	rows, err := s.q.ListLeadEvents(ctx, queries.ListLeadEventsParams{LeadID: leadID, RowLimit: clampInt32(min(limit, MaxHistory))})
	if err != nil {
		return nil, translate(fmt.Errorf("list lead events: %w", err))
	}
	out := make([]LeadEvent, len(rows))
	for i, r := range rows {
		ev := LeadEvent{ID: r.ID, LeadID: r.LeadID, At: r.At.UTC(), Action: r.Action, ActorKind: r.ActorKind, ActorName: r.ActorName, Changes: []FieldChange{}}
		if err := json.Unmarshal(r.Changes, &ev.Changes); err != nil {
			return nil, fmt.Errorf("decode changes of lead event %d: %w", r.ID, err)
		}
		out[i] = ev
	}
	return out, nil
}

// recordEvent writes one event in the caller's transaction.
func recordEvent(ctx context.Context, q *queries.Queries, leadID uuid.UUID, action string, changes []FieldChange) error {
	if changes == nil {
		changes = []FieldChange{}
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("encode changes: %w", err)
	}
	a := eventActor(ctx)
	if err := q.InsertLeadEvent(ctx, queries.InsertLeadEventParams{
		LeadID: leadID, Action: action, Changes: b, ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name,
	}); err != nil {
		return fmt.Errorf("record %s of lead %s: %w", action, leadID, err)
	}
	return nil
}

// actorColumns is the actor of ctx as lead_events records it.
type actorColumns struct {
	kind   string
	userID pgtype.UUID
	name   string
}

func eventActor(ctx context.Context) actorColumns {
	a := ActorFrom(ctx)
	var userID pgtype.UUID
	if a.UserID != uuid.Nil {
		userID = pgtype.UUID{Bytes: a.UserID, Valid: true}
	}
	name := a.Name
	if r := []rune(name); len(r) > 300 { // the column's limit, in characters
		name = string(r[:300])
	}
	return actorColumns{kind: a.Kind, userID: userID, name: name}
}

// auditedFields are the fields of the lead-field table the audit trail
// records: all but the read-only ones.
func auditedFields() []Field {
	out := make([]Field, 0, len(leadFields))
	for _, f := range leadFields {
		if !f.ReadOnly {
			out = append(out, f)
		}
	}
	return out
}

// recordCreate records a new lead with the fields it was given.
func recordCreate(ctx context.Context, q *queries.Queries, l Lead) error {
	return recordEvent(ctx, q, l.ID, EventCreate, createChanges(l))
}

// createChanges are the changes a create event lists: every field the new
// lead has (a value of zero is none).
func createChanges(l Lead) []FieldChange {
	changes := []FieldChange{}
	for _, f := range auditedFields() {
		if v := f.Text(l); v != "" && (f.Kind != KindMoney || l.Value != 0) {
			changes = append(changes, FieldChange{Field: f.Name, New: v})
		}
	}
	return changes
}

// fieldChanges lists the fields that differ between before and after, values
// as the table shows them.
func fieldChanges(before, after Lead) []FieldChange {
	var changes []FieldChange
	for _, f := range auditedFields() {
		if o, n := f.Text(before), f.Text(after); o != n {
			changes = append(changes, FieldChange{Field: f.Name, Old: o, New: n})
		}
	}
	return changes
}

// recordUpdate records the fields an update changed, as a move when the stage
// is one of them (so the stream and webhooks say lead.moved, whatever path
// changed the stage); an update that changed nothing is not recorded.
func recordUpdate(ctx context.Context, q *queries.Queries, before, after Lead) error {
	changes := fieldChanges(before, after)
	if len(changes) == 0 {
		return nil
	}
	action := EventUpdate
	if before.Status != after.Status {
		action = EventMove
	}
	return recordEvent(ctx, q, after.ID, action, changes)
}

// LastLeadEvent returns the newest event of the lead: who changed it last, how
// and when. ErrNotFound when it has none.
func (s *Store) LastLeadEvent(ctx context.Context, leadID uuid.UUID) (LeadEvent, error) {
	r, err := s.q.LastLeadEvent(ctx, leadID)
	if err != nil {
		return LeadEvent{}, translate(err)
	}
	ev := LeadEvent{ID: r.ID, LeadID: r.LeadID, At: r.At.UTC(), Action: r.Action, ActorKind: r.ActorKind, ActorName: r.ActorName, Changes: []FieldChange{}}
	if err := json.Unmarshal(r.Changes, &ev.Changes); err != nil {
		return LeadEvent{}, fmt.Errorf("decode changes of lead event %d: %w", r.ID, err)
	}
	return ev, nil
}

// FieldAuthor is who last changed a field of a lead, and when.
type FieldAuthor struct {
	Actor string
	At    time.Time
}

// LastFieldChanges returns, for each field of the lead that an event changed,
// who changed it last and when (the board's conflict view names them).
func (s *Store) LastFieldChanges(ctx context.Context, leadID uuid.UUID) (map[string]FieldAuthor, error) {
	rows, err := s.q.LastFieldChanges(ctx, leadID)
	if err != nil {
		return nil, translate(fmt.Errorf("last field changes: %w", err))
	}
	out := make(map[string]FieldAuthor, len(rows))
	for _, r := range rows {
		out[r.Field] = FieldAuthor{Actor: r.ActorName, At: r.At.UTC()}
	}
	return out, nil
}
