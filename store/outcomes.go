package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Won and lost are outcomes, and every lead has an owner (issue "A pipeline
// the team owns"). The rules hold on every write path (CreateLead, UpdateLead,
// MoveLead, MoveLeadOutcome, and so the API, the board, the assistant and
// import alike):
//   - entering a stage sets stage_entered_at; entering a won or lost stage
//     sets closed_at, entering an open one clears it (the audit trail keeps
//     the history): the trigger of migration 00012 does it on every write;
//   - entering a lost stage takes the lost reason and note given (none: "");
//     when PipelineSettings.LostReasonRequired, a lead entering a lost stage
//     without a non-empty reason is refused with a *ValidationError on
//     "lost_reason" and nothing changes. A reason may be changed while the
//     lead stays lost; it is refused for a lead that does not end in a lost
//     stage (unless it equals the one kept as history);
//   - a reason matching an entry of the admin list without regard to case is
//     stored in the list's spelling; other text is kept as free text;
//   - owner: a user by email or id, active unless the lead already has them;
//     a new lead is owned by the user its actor acts for (none for the system).
// Moves run in move_lead (migration 00013), which applies the same rules
// under the lead's row lock; creates and updates apply them here.

// MsgLostReasonRequired is the message of the refusal of a lost lead without a
// reason, on field "lost_reason".
const MsgLostReasonRequired = "is required when a lead is lost (lost_reason)"

// msgLostOnly refuses a lost reason or note for a lead not in a lost stage.
const msgLostOnly = "can only be given for a lead in a lost stage"

// Outcome is what a move may carry besides the target: why a lead was lost,
// and a won deal's final value. Nil members are not given.
type Outcome struct {
	LostReason *string
	LostNote   *string
	Value      *Money
}

// MoveLeadOutcome is MoveLeadIf carrying an outcome: a lost reason and note
// (only for a lost target stage), and a value (a won deal's final value; any
// move may carry one). When the team requires a reason, a move into a lost
// stage without one is refused with a *ValidationError on "lost_reason".
func (s *Store) MoveLeadOutcome(ctx context.Context, id uuid.UUID, status string, order int, out Outcome, ifVersions []int64) (Lead, error) {
	return s.moveLead(ctx, id, status, order, out, ifVersions)
}

// PipelineSettings are the team-wide pipeline settings.
type PipelineSettings struct {
	// LostReasonRequired refuses a lead entering a lost stage without a reason.
	LostReasonRequired bool `json:"lost_reason_required"`
}

// GetPipelineSettings reads the pipeline settings.
func (s *Store) GetPipelineSettings(ctx context.Context) (PipelineSettings, error) {
	req, err := s.q.GetPipelineSettings(ctx)
	if err != nil {
		return PipelineSettings{}, translate(fmt.Errorf("get pipeline settings: %w", err))
	}
	return PipelineSettings{LostReasonRequired: req}, nil
}

// UpdatePipelineSettings writes the pipeline settings.
func (s *Store) UpdatePipelineSettings(ctx context.Context, p PipelineSettings) error {
	if _, err := s.q.UpdatePipelineSettings(ctx, p.LostReasonRequired); err != nil {
		return translate(fmt.Errorf("update pipeline settings: %w", err))
	}
	return nil
}

// LostReason is an entry of the admin-kept list of lost reasons. Retired
// entries (Active false) are no longer offered; leads keep their text.
type LostReason struct {
	ID       int16  `json:"id"`
	Name     string `json:"name"`
	Position int    `json:"position"`
	Active   bool   `json:"active"`
}

func lostReasonFrom(id int16, name string, pos int32, active bool) LostReason {
	return LostReason{ID: id, Name: name, Position: int(pos), Active: active}
}

// ListLostReasons returns the list of lost reasons in order, retired ones
// included (activeOnly false) or not.
func (s *Store) ListLostReasons(ctx context.Context, activeOnly bool) ([]LostReason, error) {
	rows, err := s.q.ListLostReasons(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("list lost reasons: %w", err))
	}
	out := make([]LostReason, 0, len(rows))
	for _, r := range rows {
		if r.Active || !activeOnly {
			out = append(out, lostReasonFrom(r.ID, r.Name, r.Position, r.Active))
		}
	}
	return out, nil
}

// checkReasonName trims name and checks it as a list entry.
func checkReasonName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fieldError("name", "must not be empty")
	}
	if msg := CheckLine(name, 100); msg != "" {
		return "", fieldError("name", msg)
	}
	return name, nil
}

// AddLostReason adds a reason at the end of the list. A name already on the
// list (without regard to case) is an ErrConflict.
func (s *Store) AddLostReason(ctx context.Context, name string) (LostReason, error) {
	name, err := checkReasonName(name)
	if err != nil {
		return LostReason{}, err
	}
	r, err := s.q.InsertLostReason(ctx, name)
	if err != nil {
		return LostReason{}, reasonError(err, name)
	}
	return lostReasonFrom(r.ID, r.Name, r.Position, r.Active), nil
}

// UpdateLostReason renames a reason and retires (active false) or revives
// it. Leads keep the text they were given.
func (s *Store) UpdateLostReason(ctx context.Context, id int16, name string, active bool) (LostReason, error) {
	name, err := checkReasonName(name)
	if err != nil {
		return LostReason{}, err
	}
	r, err := s.q.UpdateLostReason(ctx, queries.UpdateLostReasonParams{ID: id, Name: name, Active: active})
	if err != nil {
		return LostReason{}, reasonError(err, name)
	}
	return lostReasonFrom(r.ID, r.Name, r.Position, r.Active), nil
}

func reasonError(err error, name string) error {
	err = translate(err)
	if errors.Is(err, ErrConflict) {
		return fieldError("name", fmt.Sprintf("%q is already on the list", name))
	}
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("lost reason: %w", ErrNotFound)
	}
	return err
}

// canonicalReason writes the list's spelling of *reason back when the list has
// it (retired entries too).
func canonicalReason(ctx context.Context, q *queries.Queries, reason *string) error {
	if reason == nil || *reason == "" {
		return nil
	}
	r, err := q.LostReasonByName(ctx, *reason)
	if err != nil {
		if errors.Is(translate(err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("find lost reason: %w", err)
	}
	*reason = r.Name
	return nil
}

// leadOutcome is what a create or an update writes for the stage it ends in.
type leadOutcome struct {
	lostReason string
	lostNote   string
}

// applyOutcome works out the outcome columns of a lead going from cur (nil on
// create) to stage st, with the reason and note in gives, and checks the
// rules above.
func applyOutcome(ctx context.Context, q *queries.Queries, cur *queries.Lead, st Stage, in *LeadInput) (leadOutcome, error) {
	if err := canonicalReason(ctx, q, in.LostReason); err != nil {
		return leadOutcome{}, err
	}
	entering := cur == nil || cur.Status != st.Name
	var out leadOutcome
	if cur != nil {
		out.lostReason, out.lostNote = cur.LostReason, cur.LostNote
	}
	if st.Kind != "lost" {
		errs := map[string]string{}
		if in.LostReason != nil && *in.LostReason != out.lostReason {
			errs["lost_reason"] = msgLostOnly
		}
		if in.LostNote != nil && *in.LostNote != out.lostNote {
			errs["lost_note"] = msgLostOnly
		}
		if len(errs) > 0 {
			return leadOutcome{}, &ValidationError{Fields: errs}
		}
		return out, nil
	}
	if entering {
		out.lostReason, out.lostNote = "", ""
	}
	if in.LostReason != nil {
		out.lostReason = *in.LostReason
	}
	if in.LostNote != nil {
		out.lostNote = *in.LostNote
	}
	if entering && strings.TrimSpace(out.lostReason) == "" {
		req, err := q.GetPipelineSettings(ctx)
		if err != nil {
			return leadOutcome{}, fmt.Errorf("get pipeline settings: %w", err)
		}
		if req {
			return leadOutcome{}, fieldError("lost_reason", MsgLostReasonRequired)
		}
	}
	return out, nil
}

// resolveOwner returns the user text names (an email or an id; "" for
// nobody). A deactivated user is refused unless they are current, the lead's
// owner already.
func resolveOwner(ctx context.Context, q *queries.Queries, text string, current pgtype.UUID) (pgtype.UUID, error) {
	if text == "" {
		return pgtype.UUID{}, nil
	}
	var (
		u   queries.User
		err error
	)
	if id, perr := uuid.Parse(text); perr == nil {
		u, err = q.GetUser(ctx, id)
	} else {
		u, err = q.GetUserByEmail(ctx, text)
	}
	if err != nil {
		if errors.Is(translate(err), ErrNotFound) {
			return pgtype.UUID{}, fieldError("owner", fmt.Sprintf("no user has the email or id %q", text))
		}
		return pgtype.UUID{}, fmt.Errorf("find owner: %w", err)
	}
	if !u.Active && !(current.Valid && uuid.UUID(current.Bytes) == u.ID) {
		return pgtype.UUID{}, fieldError("owner", u.Email+" is deactivated; choose an active user")
	}
	return pgtype.UUID{Bytes: u.ID, Valid: true}, nil
}

// defaultOwner is the owner of a new lead given none: the user the actor acts
// for, nobody for the system.
func defaultOwner(ctx context.Context) pgtype.UUID {
	a := ActorFrom(ctx)
	if a.Kind == ActorSystem || a.UserID == uuid.Nil {
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: a.UserID, Valid: true}
}

// fillOwners fills in the name and email of the leads' owners, in one query.
func fillOwners(ctx context.Context, q *queries.Queries, leads ...*Lead) error {
	var ids []uuid.UUID
	for _, l := range leads {
		if l.Owner != nil {
			ids = append(ids, l.Owner.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.LeadOwners(ctx, ids)
	if err != nil {
		return fmt.Errorf("read lead owners: %w", err)
	}
	byID := make(map[uuid.UUID]LeadOwner, len(rows))
	for _, r := range rows {
		byID[r.ID] = LeadOwner{ID: r.ID, Name: r.Name, Email: r.Email}
	}
	for _, l := range leads {
		if l.Owner == nil {
			continue
		}
		if o, ok := byID[l.Owner.ID]; ok {
			l.Owner = &o
		} else {
			l.Owner = nil // deleted meanwhile (owner_id is ON DELETE SET NULL)
		}
	}
	return nil
}

// fillOwnersOf is fillOwners for a slice of leads.
func fillOwnersOf(ctx context.Context, q *queries.Queries, leads []Lead) error {
	ptrs := make([]*Lead, len(leads))
	for i := range leads {
		ptrs[i] = &leads[i]
	}
	return fillOwners(ctx, q, ptrs...)
}

// fillBoardOwners is fillOwners for every lead of the board.
func fillBoardOwners(ctx context.Context, q *queries.Queries, b *Board) error {
	var all []*Lead
	for i := range b.Columns {
		for j := range b.Columns[i].Leads {
			all = append(all, &b.Columns[i].Leads[j])
		}
	}
	return fillOwners(ctx, q, all...)
}

// leadFromJSON reads a lead as to_jsonb makes it from a leads row (move_lead's
// result) or as an event's snapshot has it, at position pos (-1: the position
// the JSON holds, as a snapshot's card_order does).
func leadFromJSON(b []byte, pos int) (Lead, error) {
	var l Lead
	if err := json.Unmarshal(b, &l); err != nil {
		return Lead{}, err
	}
	var extra struct {
		OwnerID *uuid.UUID `json:"owner_id"`
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return Lead{}, err
	}
	if extra.OwnerID != nil {
		l.Owner = &LeadOwner{ID: *extra.OwnerID}
	}
	if pos >= 0 {
		l.CardOrder = pos
	}
	l.CreatedAt, l.UpdatedAt, l.StageEnteredAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC(), l.StageEnteredAt.UTC()
	if l.ClosedAt != nil {
		t := l.ClosedAt.UTC()
		l.ClosedAt = &t
	}
	return l, nil
}

// LeadCountsByOwner returns how many leads each user owns (users who own
// none are absent).
func (s *Store) LeadCountsByOwner(ctx context.Context) (map[uuid.UUID]int, error) {
	rows, err := s.q.CountLeadsByOwner(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("count leads by owner: %w", err))
	}
	out := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		out[r.OwnerID] = int(r.Leads)
	}
	return out, nil
}

// ReassignLeads gives every lead owned by from to the active user to, in one
// transaction, each lead's change recorded in the audit trail. It returns how
// many leads changed owner.
func (s *Store) ReassignLeads(ctx context.Context, from, to uuid.UUID) (int, error) {
	if from == to {
		return 0, fieldError("owner", "choose another user to give the leads to")
	}
	var n int
	err := s.inTx(ctx, func(q *queries.Queries) error {
		target, err := resolveOwner(ctx, q, to.String(), pgtype.UUID{})
		if err != nil {
			return err
		}
		// The leads' row locks, taken in id order, keep a concurrent edit
		// from writing over the new owner (or this over the edit's).
		rows, err := q.LockLeadsOfOwner(ctx, pgtype.UUID{Bytes: from, Valid: true})
		if err != nil {
			return fmt.Errorf("leads of %s: %w", from, err)
		}
		if len(rows) == 0 {
			n = 0
			return nil
		}
		ids := make([]uuid.UUID, len(rows))
		before := make(map[uuid.UUID]int, len(rows))
		pairs := make([]Lead, 0, 2*len(rows))
		for i, r := range rows {
			ids[i] = r.ID
			before[r.ID] = len(pairs)
			pairs = append(pairs, leadFromRow(r, 0), Lead{})
		}
		after, err := q.SetLeadOwners(ctx, queries.SetLeadOwnersParams{OwnerID: target, Ids: ids})
		if err != nil {
			return fmt.Errorf("reassign leads of %s: %w", from, err)
		}
		for _, r := range after {
			pairs[before[r.ID]+1] = leadFromRow(r, 0)
		}
		if err := fillOwnersOf(ctx, q, pairs); err != nil {
			return err
		}
		for i := 0; i < len(pairs); i += 2 {
			if err := recordUpdate(ctx, q, pairs[i], pairs[i+1]); err != nil {
				return err
			}
		}
		n = len(after)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
