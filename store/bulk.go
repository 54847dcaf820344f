package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Bulk actions: several leads moved to a stage, given an owner, or deleted (to
// the trash) as one operation, all or nothing, with one Undo.
//
// Concurrency: a bulk action locks every stage exclusively (in board order, as
// every writer does), then the leads' rows (in id order), then checks the
// versions the caller named; each lead is then written as a single write would
// write it, in the one transaction, each with its own event.

// Bulk actions.
const (
	BulkMove   = "move"
	BulkAssign = "assign"
	BulkDelete = "delete"
)

// MaxBulkLeads bounds how many leads one bulk action takes.
const MaxBulkLeads = 1000

// BulkInput is one bulk action.
type BulkInput struct {
	IDs    []uuid.UUID
	Action string
	// Status is the stage of a move.
	Status string
	// LostReason goes with a move into a lost stage (required when the
	// pipeline settings say so).
	LostReason string
	// LostNote goes with LostReason (optional).
	LostNote string
	// Owner is the user an assign gives the leads to (uuid.Nil: nobody).
	Owner uuid.UUID
	// Versions holds, for any id, the versions the caller saw (If-Match per
	// id); a lead whose version is not among them fails the whole action.
	Versions map[uuid.UUID][]int64
}

// BulkResult is a done bulk action: its id (for Undo) and the leads as they
// are after it (for a delete, as they went to the trash).
type BulkResult struct {
	ID    uuid.UUID `json:"id"`
	Leads []Lead    `json:"leads"`
}

// BulkStaleError is a bulk action refused because leads changed since the
// versions the caller named: nothing was written.
type BulkStaleError struct {
	IDs []uuid.UUID
}

func (e *BulkStaleError) Error() string {
	return fmt.Sprintf("%d of the leads were changed meanwhile", len(e.IDs))
}

// Is makes a BulkStaleError an ErrConflict.
func (e *BulkStaleError) Is(target error) bool { return target == ErrConflict }

// bulkEntry is what Undo needs of one lead of a bulk action.
type bulkEntry struct {
	ID       uuid.UUID  `json:"id"`
	Version  int64      `json:"version"`
	Status   string     `json:"status"`
	Position int32      `json:"position"`
	Owner    *uuid.UUID `json:"owner_id"`
}

func (in *BulkInput) validate() *ValidationError {
	errs := map[string]string{}
	switch {
	case len(in.IDs) == 0:
		errs["ids"] = "must list at least one lead id"
	case len(in.IDs) > MaxBulkLeads:
		errs["ids"] = fmt.Sprintf("must list at most %d leads", MaxBulkLeads)
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range in.IDs {
		if seen[id] {
			errs["ids"] = "must not list a lead twice (" + id.String() + ")"
		}
		seen[id] = true
	}
	switch in.Action {
	case BulkMove:
		in.Status = strings.TrimSpace(in.Status)
		if in.Status == "" {
			errs["status"] = "is required to move leads"
		}
		in.LostReason = strings.TrimSpace(in.LostReason)
		if msg := CheckLine(in.LostReason, MaxLostReasonLen); msg != "" {
			errs["lost_reason"] = msg
		}
		in.LostNote = strings.TrimSpace(in.LostNote)
		if msg := CheckText(in.LostNote, MaxLostNoteLen); msg != "" {
			errs["lost_note"] = msg
		}
	case BulkAssign, BulkDelete:
	default:
		errs["action"] = "must be move, assign or delete"
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

// BulkAction does in on every lead it names, in one transaction: every lead
// or none. An id naming no lead is ErrNotFound (saying which), a version
// mismatch a *BulkStaleError listing every stale lead.
func (s *Store) BulkAction(ctx context.Context, in BulkInput) (BulkResult, error) {
	if verr := in.validate(); verr != nil {
		return BulkResult{}, verr
	}
	var res BulkResult
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		res, err = s.bulkAction(ctx, q, in)
		return err
	})
	return res, err
}

func (s *Store) bulkAction(ctx context.Context, q *queries.Queries, in BulkInput) (BulkResult, error) {
	stages, err := listStages(ctx, q)
	if err != nil {
		return BulkResult{}, err
	}
	var target Stage
	if in.Action == BulkMove {
		st, ok := findStage(stages, in.Status)
		if !ok {
			return BulkResult{}, fieldError("status", "must be one of: "+stageNames(stages))
		}
		target = st
	}
	var ownerName string
	if in.Action == BulkAssign && in.Owner != uuid.Nil {
		u, err := q.GetUser(ctx, in.Owner)
		if err != nil || !u.Active {
			return BulkResult{}, fieldError("owner_id", "must be the id of an active user")
		}
		ownerName = u.Email
	}
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	if err := lockStages(ctx, q, names...); err != nil {
		return BulkResult{}, err
	}
	rows, err := q.LockLeads(ctx, in.IDs)
	if err != nil {
		return BulkResult{}, fmt.Errorf("lock leads: %w", err)
	}
	byID := make(map[uuid.UUID]queries.Lead, len(rows))
	var stale []uuid.UUID
	for _, r := range rows {
		byID[r.ID] = r
		if vs, ok := in.Versions[r.ID]; ok && !slices.Contains(vs, r.Version) {
			stale = append(stale, r.ID)
		}
	}
	for _, id := range in.IDs {
		if _, ok := byID[id]; !ok {
			return BulkResult{}, fmt.Errorf("%w: lead %s", ErrNotFound, id)
		}
	}
	if len(stale) > 0 {
		return BulkResult{}, &BulkStaleError{IDs: stale}
	}
	owners, err := s.ownerNames(ctx, q, rows)
	if err != nil {
		return BulkResult{}, err
	}
	entries := make([]bulkEntry, 0, len(in.IDs))
	res := BulkResult{Leads: make([]Lead, 0, len(in.IDs))}
	for _, id := range in.IDs {
		cur := byID[id]
		pos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder})
		if err != nil {
			return BulkResult{}, fmt.Errorf("position of lead %s: %w", id, err)
		}
		e := bulkEntry{ID: id, Status: cur.Status, Position: pos}
		if cur.OwnerID.Valid {
			o := uuid.UUID(cur.OwnerID.Bytes)
			e.Owner = &o
		}
		var lead Lead
		switch in.Action {
		case BulkMove:
			// updateLead applies the outcome rules (a lost reason when the
			// pipeline requires one) as for any move.
			move := LeadInput{Status: &target.Name}
			if in.LostReason != "" {
				move.LostReason = &in.LostReason
			}
			if in.LostNote != "" {
				move.LostNote = &in.LostNote
			}
			if lead, err = s.updateLead(ctx, q, id, move, nil); err != nil {
				return BulkResult{}, err
			}
		case BulkAssign:
			if lead, err = setOwner(ctx, q, cur, in.Owner, owners[cur.OwnerID], ownerName); err != nil {
				return BulkResult{}, err
			}
		case BulkDelete:
			if lead, err = s.deleteLead(ctx, q, id, nil); err != nil {
				return BulkResult{}, err
			}
		}
		e.Version = lead.Version
		entries = append(entries, e)
		res.Leads = append(res.Leads, lead)
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return BulkResult{}, fmt.Errorf("encode bulk operation: %w", err)
	}
	a := eventActor(ctx)
	if res.ID, err = q.InsertBulkOperation(ctx, queries.InsertBulkOperationParams{
		Action: in.Action, Leads: b, ActorUserID: a.userID, ActorName: a.name,
	}); err != nil {
		return BulkResult{}, fmt.Errorf("record bulk operation: %w", err)
	}
	return res, nil
}

// ownerNames returns how the history names the owners of rows (their
// emails, as the field table writes an owner), keyed by owner id.
func (s *Store) ownerNames(ctx context.Context, q *queries.Queries, rows []queries.Lead) (map[pgtype.UUID]string, error) {
	var ids []uuid.UUID
	for _, r := range rows {
		if r.OwnerID.Valid {
			ids = append(ids, r.OwnerID.Bytes)
		}
	}
	out := map[pgtype.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	users, err := q.UserNames(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("owner names: %w", err)
	}
	for _, u := range users {
		out[pgtype.UUID{Bytes: u.ID, Valid: true}] = u.Name
	}
	return out, nil
}

// setOwner gives lead cur to owner (uuid.Nil: nobody) and records the change
// as an update of the field owner.
func setOwner(ctx context.Context, q *queries.Queries, cur queries.Lead, owner uuid.UUID, oldName, newName string) (Lead, error) {
	next := pgtype.UUID{Bytes: owner, Valid: owner != uuid.Nil}
	if next == cur.OwnerID || (!next.Valid && !cur.OwnerID.Valid) {
		return leadAt(ctx, q, cur)
	}
	row, err := q.SetLeadOwner(ctx, queries.SetLeadOwnerParams{ID: cur.ID, OwnerID: next})
	if err != nil {
		return Lead{}, fmt.Errorf("set owner of lead %s: %w", cur.ID, err)
	}
	if err := recordEvent(ctx, q, cur.ID, EventUpdate, []FieldChange{{Field: "owner", Old: oldName, New: newName}}); err != nil {
		return Lead{}, err
	}
	return leadAt(ctx, q, row)
}

// leadAt is the lead of row r with its position.
func leadAt(ctx context.Context, q *queries.Queries, r queries.Lead) (Lead, error) {
	pos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: r.Status, CardOrder: r.CardOrder})
	if err != nil {
		return Lead{}, fmt.Errorf("position of lead %s: %w", r.ID, err)
	}
	lead := leadFromRow(r, int(pos))
	return lead, fillOwners(ctx, q, &lead)
}

// UndoReport says what an Undo did: the leads put back, and those kept as they
// are because someone changed them since (Kept; a deleted lead restored or
// purged meanwhile counts as changed).
type UndoReport struct {
	Restored int         `json:"restored"`
	Kept     []uuid.UUID `json:"kept"`
	Message  string      `json:"message"`
}

// ErrBulkUndone is the undo of a bulk action that was undone already: a
// conflict with the action's state, as a second undo of an import is
// (ImportStateError).
var ErrBulkUndone = fmt.Errorf("%w: this bulk action was undone already", ErrConflict)

// UndoBulkAction puts back what bulk action id changed, lead by lead, except
// the leads changed since (see UndoReport). ErrNotFound for an unknown id,
// ErrBulkUndone when it was undone already.
func (s *Store) UndoBulkAction(ctx context.Context, id uuid.UUID) (UndoReport, error) {
	var rep UndoReport
	err := s.inTx(ctx, func(q *queries.Queries) error {
		rep = UndoReport{Kept: []uuid.UUID{}}
		op, err := q.GetBulkOperationForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if op.UndoneAt.Valid {
			return ErrBulkUndone
		}
		var entries []bulkEntry
		if err := json.Unmarshal(op.Leads, &entries); err != nil {
			return fmt.Errorf("decode bulk operation %s: %w", id, err)
		}
		if _, err := lockEveryColumn(ctx, q); err != nil {
			return err
		}
		// Each position was read after the leads before it had left, so the
		// leads go back last first, each to the place it left.
		slices.Reverse(entries)
		for _, e := range entries {
			ok, err := s.undoBulkEntry(ctx, q, op.Action, e)
			if err != nil {
				return err
			}
			if ok {
				rep.Restored++
			} else {
				rep.Kept = append(rep.Kept, e.ID)
			}
		}
		rep.Message = fmt.Sprintf("Put back %d %s.", rep.Restored, plural(rep.Restored, "lead", "leads"))
		if len(rep.Kept) > 0 {
			rep.Message += fmt.Sprintf(" Kept %d as %s: changed by someone since.", len(rep.Kept), plural(len(rep.Kept), "it is", "they are"))
		}
		return q.MarkBulkOperationUndone(ctx, id)
	})
	return rep, err
}

// undoBulkEntry puts back one lead of a bulk action, and says whether it did
// (false: the lead changed since, and is left alone).
func (s *Store) undoBulkEntry(ctx context.Context, q *queries.Queries, action string, e bulkEntry) (bool, error) {
	if action == BulkDelete {
		if _, err := q.GetTrashedLead(ctx, e.ID); errors.Is(err, pgx.ErrNoRows) {
			return false, nil // restored or purged meanwhile
		} else if err != nil {
			return false, err
		}
		if _, err := restoreLead(ctx, q, e.ID); err != nil {
			return false, err
		}
		return true, moveBack(ctx, q, e)
	}
	rows, err := q.LockLeads(ctx, []uuid.UUID{e.ID})
	if err != nil {
		return false, fmt.Errorf("lock lead %s: %w", e.ID, err)
	}
	if len(rows) == 0 || rows[0].Version != e.Version {
		return false, nil
	}
	cur := rows[0]
	switch action {
	case BulkMove:
		if err := moveBack(ctx, q, e); err != nil {
			return false, err
		}
	case BulkAssign:
		owner := uuid.Nil
		if e.Owner != nil {
			owner = *e.Owner
		}
		names, err := s.ownerNames(ctx, q, []queries.Lead{cur, {OwnerID: pgtype.UUID{Bytes: owner, Valid: owner != uuid.Nil}}})
		if err != nil {
			return false, err
		}
		if _, err := setOwner(ctx, q, cur, owner, names[cur.OwnerID], names[pgtype.UUID{Bytes: owner, Valid: owner != uuid.Nil}]); err != nil {
			return false, err
		}
	}
	return true, nil
}

// moveBack puts the lead of e back at its old place (move_lead, in the
// caller's transaction, which holds every stage lock).
func moveBack(ctx context.Context, q *queries.Queries, e bulkEntry) error {
	a := eventActor(ctx)
	if _, err := q.MoveLead(ctx, queries.MoveLeadParams{
		ID: e.ID, Target: e.Status, TargetPosition: e.Position, KeyGap: keyGap,
		ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name,
	}); err != nil {
		return fmt.Errorf("move lead %s back: %w", e.ID, err)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
