package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Concurrency design for the card order. A lead's position in its column (the
// API's card_order, 0..n-1) is its rank by the sort key stored in card_order,
// which has gaps (migration 00005): a move or a create writes one row, taking a
// key between its new neighbours' keys, and a delete writes none. Positions,
// being ranks, have no gap; two leads of a column never share a key, by the
// unique constraint on (status, card_order), so no position is taken twice.
// The locks below make each write land where it was asked to, keep writers from
// wasting work on collisions, and make renumbering safe:
//   - Each write that changes which leads a column holds or their order locks
//     the stage rows of the columns it touches, in board order (so two writers
//     never deadlock), until commit.
//   - A move (move_lead, migration 00006) takes them shared, then the lead's
//     row lock (a concurrent move of the same lead is waited for; if it took the
//     lead to another column, the move is run again): moves in one column run
//     side by side. Two moves that pick the same key at once collide
//     on the unique constraint; the later one waits for the first to commit,
//     fails, and is run again (retry), reading the new neighbours.
//   - Creates, edits, deletes and the assistant's turns take them exclusively
//     (LockStages), and so does renumbering a column, which rewrites every key
//     of it: no move reads a column's keys while they are rewritten.
// Holding a column exclusively from the neighbours' read to the commit made
// moves wait in line behind each other's commit (a disk flush, about 1.5 ms
// here): 557 moves/s with 16 movers on two cores and 1,000 leads, against 912/s
// shared (make bench). TestConcurrentMoves checks the table and the board after
// 16 concurrent writers, TestMovesFollowModel each move against a model, and
// TestMoveWaitsForConcurrentMoveOfSameLead two moves of one lead.

// keyGap is the distance between neighbouring sort keys when a column is
// numbered afresh, and between the last card and one added after it: twenty
// moves can land between the same two cards before their column is renumbered.
const keyGap = 1 << 20

// GetLead returns the lead with id, or ErrNotFound.
func (s *Store) GetLead(ctx context.Context, id uuid.UUID) (Lead, error) {
	row, err := s.q.GetLead(ctx, id)
	if err != nil {
		return Lead{}, translate(err)
	}
	lead := leadFromRow(row.Lead, int(row.Position))
	if err := fillOwners(ctx, s.q, &lead); err != nil {
		return Lead{}, translate(err)
	}
	return lead, nil
}

// CreateLead validates in and adds the lead at the end of its column (the first
// stage when in.Status is nil).
func (s *Store) CreateLead(ctx context.Context, in LeadInput) (Lead, error) {
	in.Normalize()
	if verr := in.Validate(true); verr != nil {
		return Lead{}, verr
	}
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.createLead(ctx, q, in)
		return err
	})
	return lead, err
}

// createLead is CreateLead's work inside the caller's transaction; in is already
// normalized and validated.
func (s *Store) createLead(ctx context.Context, q *queries.Queries, in LeadInput) (Lead, error) {
	st, err := s.resolveStage(ctx, q, in.Status)
	if err != nil {
		return Lead{}, err
	}
	status := st.Name
	outcome, err := applyOutcome(ctx, q, nil, st, &in)
	if err != nil {
		return Lead{}, err
	}
	owner := defaultOwner(ctx)
	if in.Owner != nil {
		if owner, err = resolveOwner(ctx, q, *in.Owner, pgtype.UUID{}); err != nil {
			return Lead{}, err
		}
	}
	if err := lockStages(ctx, q, status); err != nil {
		return Lead{}, err
	}
	key, pos, err := endKey(ctx, q, status)
	if err != nil {
		return Lead{}, err
	}
	row, err := q.InsertLead(ctx, queries.InsertLeadParams{
		Name:       *in.Name,
		Company:    deref(in.Company),
		Email:      deref(in.Email),
		Phone:      deref(in.Phone),
		Value:      numericFromMoney(derefMoney(in.Value)),
		Notes:      deref(in.Notes),
		Status:     status,
		Source:     deref(in.Source),
		CardOrder:  key,
		OwnerID:    owner,
		LostReason: outcome.lostReason,
		LostNote:   outcome.lostNote,
	})
	if err != nil {
		return Lead{}, fmt.Errorf("insert lead: %w", err)
	}
	lead := leadFromRow(row, int(pos))
	if err := fillOwners(ctx, q, &lead); err != nil {
		return Lead{}, err
	}
	if err := recordCreate(ctx, q, lead); err != nil {
		return Lead{}, err
	}
	return lead, nil
}

// UpdateLead changes the fields given in in. A changed status moves the lead to
// the end of its new column.
func (s *Store) UpdateLead(ctx context.Context, id uuid.UUID, in LeadInput) (Lead, error) {
	return s.UpdateLeadIf(ctx, id, in, nil)
}

// UpdateLeadIf is UpdateLead when the lead's version is one of ifVersions (any
// version when ifVersions is nil); a *StaleLeadError holding the lead as it is
// otherwise, and nothing is written.
func (s *Store) UpdateLeadIf(ctx context.Context, id uuid.UUID, in LeadInput, ifVersions []int64) (Lead, error) {
	in.Normalize()
	if verr := in.Validate(false); verr != nil {
		return Lead{}, verr
	}
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.updateLead(ctx, q, id, in, ifVersions)
		return err
	})
	return lead, err
}

// updateLead is UpdateLeadIf's work inside the caller's transaction; in is
// already normalized and validated.
func (s *Store) updateLead(ctx context.Context, q *queries.Queries, id uuid.UUID, in LeadInput, ifVersions []int64) (Lead, error) {
	cur, err := lockLeadAndColumns(ctx, q, id, in.Status, s)
	if err != nil {
		return Lead{}, err
	}
	if err := checkVersion(ctx, q, cur, ifVersions); err != nil {
		return Lead{}, err
	}
	st, err := s.resolveStage(ctx, q, &cur.Status)
	if in.Status != nil {
		st, err = s.resolveStage(ctx, q, in.Status)
	}
	if err != nil {
		return Lead{}, err
	}
	outcome, err := applyOutcome(ctx, q, &cur, st, &in)
	if err != nil {
		return Lead{}, err
	}
	owner := cur.OwnerID
	if in.Owner != nil {
		if owner, err = resolveOwner(ctx, q, *in.Owner, cur.OwnerID); err != nil {
			return Lead{}, err
		}
	}
	p := queries.UpdateLeadFieldsParams{
		ID:         id,
		Name:       pick(in.Name, cur.Name),
		Company:    pick(in.Company, cur.Company),
		Email:      pick(in.Email, cur.Email),
		Phone:      pick(in.Phone, cur.Phone),
		Value:      cur.Value,
		Notes:      pick(in.Notes, cur.Notes),
		Source:     pick(in.Source, cur.Source),
		Status:     cur.Status,
		CardOrder:  cur.CardOrder,
		OwnerID:    owner,
		LostReason: outcome.lostReason,
		LostNote:   outcome.lostNote,
	}
	if in.Value != nil {
		p.Value = numericFromMoney(*in.Value)
	}
	var pos int32
	if in.Status != nil && *in.Status != cur.Status {
		p.Status = *in.Status
		if p.CardOrder, pos, err = endKey(ctx, q, p.Status); err != nil {
			return Lead{}, err
		}
	} else if pos, err = q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder}); err != nil {
		return Lead{}, fmt.Errorf("position of lead %s: %w", id, err)
	}
	// An update that changes nothing writes nothing: no new version, no
	// updated_at, no event (a client following the stream keeps a version that
	// still matches).
	planned := cur
	planned.Name, planned.Company, planned.Email, planned.Phone = p.Name, p.Company, p.Email, p.Phone
	planned.Value, planned.Notes, planned.Source, planned.Status = p.Value, p.Notes, p.Source, p.Status
	planned.OwnerID, planned.LostReason, planned.LostNote = p.OwnerID, p.LostReason, p.LostNote
	before, after := leadFromRow(cur, int(pos)), leadFromRow(planned, int(pos))
	if err := fillOwners(ctx, q, &before, &after); err != nil {
		return Lead{}, err
	}
	if len(fieldChanges(before, after)) == 0 {
		return before, nil
	}
	row, err := q.UpdateLeadFields(ctx, p)
	if err != nil {
		return Lead{}, fmt.Errorf("update lead %s: %w", id, err)
	}
	after = leadFromRow(row, int(pos))
	if err := fillOwners(ctx, q, &after); err != nil {
		return Lead{}, err
	}
	if err := recordUpdate(ctx, q, before, after); err != nil {
		return Lead{}, err
	}
	return after, nil
}

// MoveLead puts the lead at position order of the column status (within its own
// column or across columns). order is clamped into 0..n where n is the number of
// other leads in the target column. The move is one statement, move_lead in
// migration 00006, which takes its locks, reads, writes and records the move.
func (s *Store) MoveLead(ctx context.Context, id uuid.UUID, status string, order int) (Lead, error) {
	return s.MoveLeadIf(ctx, id, status, order, nil)
}

// MoveLeadIf is MoveLead when the lead's version is one of ifVersions (any
// version when ifVersions is nil); a *StaleLeadError holding the lead as it is
// otherwise, and nothing is written. move_lead checks the version under the
// lead's row lock.
func (s *Store) MoveLeadIf(ctx context.Context, id uuid.UUID, status string, order int, ifVersions []int64) (Lead, error) {
	return s.moveLead(ctx, id, status, order, Outcome{}, ifVersions)
}

// moveLead is MoveLeadIf with an outcome (MoveLeadOutcome). The outcome's
// rules that need the target stage's kind and the settings are applied by
// move_lead under its locks; the reason's spelling and that it is given only
// for a lost stage are checked here.
func (s *Store) moveLead(ctx context.Context, id uuid.UUID, status string, order int, out Outcome, ifVersions []int64) (Lead, error) {
	status = strings.TrimSpace(status)
	if status == "" {
		return Lead{}, fieldError("status", "is required")
	}
	if errs := map[string]string{}; checkText(errs, "status", &status, maxStageLen) {
		return Lead{}, &ValidationError{Fields: errs}
	}
	in := LeadInput{LostReason: out.LostReason, LostNote: out.LostNote, Value: out.Value}
	in.Normalize()
	if verr := in.Validate(false); verr != nil {
		return Lead{}, verr
	}
	if in.LostReason != nil || in.LostNote != nil {
		st, err := s.resolveStage(ctx, s.q, &status)
		if err != nil {
			return Lead{}, err
		}
		if st.Kind != "lost" {
			field := "lost_note"
			if in.LostReason != nil {
				field = "lost_reason"
			}
			return Lead{}, fieldError(field, msgLostOnly)
		}
		if err := canonicalReason(ctx, s.q, in.LostReason); err != nil {
			return Lead{}, translate(err)
		}
	}
	var value pgtype.Numeric
	if in.Value != nil {
		value = numericFromMoney(*in.Value)
	}
	a := eventActor(ctx)
	var row queries.MoveLeadRow
	err := s.retry(ctx, func() error {
		var err error
		row, err = s.q.MoveLead(ctx, queries.MoveLeadParams{
			ID: id, Target: status, TargetPosition: int32(min(max(order, 0), math.MaxInt32)), KeyGap: keyGap,
			ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name, IfVersions: ifVersions,
			LostReason: in.LostReason, LostNote: in.LostNote, Value: value,
		})
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "P0002" {
		// Not a stage: resolveStatus says so, naming the stages there are.
		if _, err := s.resolveStatus(ctx, s.q, &status); err != nil {
			return Lead{}, err
		}
		return Lead{}, fmt.Errorf("%w: stage %q was renamed meanwhile", ErrConflict, status)
	}
	if errors.As(err, &pgErr) && pgErr.Code == "CR001" {
		return Lead{}, fieldError("lost_reason", MsgLostReasonRequired)
	}
	if err != nil {
		return Lead{}, translate(err)
	}
	lead, err := leadFromJSON(row.Lead, int(row.Position))
	if err != nil {
		return Lead{}, fmt.Errorf("decode moved lead %s: %w", id, err)
	}
	if err := fillOwners(ctx, s.q, &lead); err != nil {
		return Lead{}, translate(err)
	}
	if row.Stale {
		return Lead{}, &StaleLeadError{Lead: lead}
	}
	return lead, nil
}

// endKey is the sort key and the position of a card added at the end of column
// status. Keys stay below half the int64 range (as in move_lead), so the sums
// cannot overflow. The caller holds the column's stage lock exclusively.
func endKey(ctx context.Context, q *queries.Queries, status string) (int64, int32, error) {
	end, err := q.ColumnEnd(ctx, queries.ColumnEndParams{Status: status, KeyGap: keyGap})
	if err != nil {
		return 0, 0, fmt.Errorf("end of %s: %w", status, err)
	}
	if end.NextKey < math.MaxInt64/2 {
		return end.NextKey, end.N, nil
	}
	// The keys ran up to the end of their range: number the column afresh.
	if err := q.RenumberColumn(ctx, queries.RenumberColumnParams{Status: status, KeyGap: keyGap}); err != nil {
		return 0, 0, fmt.Errorf("renumber %s: %w", status, err)
	}
	if end, err = q.ColumnEnd(ctx, queries.ColumnEndParams{Status: status, KeyGap: keyGap}); err != nil {
		return 0, 0, fmt.Errorf("end of %s: %w", status, err)
	}
	return end.NextKey, end.N, nil
}

// DeleteLead moves the lead to the trash (see RestoreLead); the positions after
// it in its column close up by themselves (they are ranks).
func (s *Store) DeleteLead(ctx context.Context, id uuid.UUID) (Lead, error) {
	return s.DeleteLeadIf(ctx, id, nil)
}

// DeleteLeadIf is DeleteLead when the lead's version is one of ifVersions (any
// version when ifVersions is nil); a *StaleLeadError holding the lead as it is
// otherwise, and nothing is deleted.
func (s *Store) DeleteLeadIf(ctx context.Context, id uuid.UUID, ifVersions []int64) (Lead, error) {
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.deleteLead(ctx, q, id, ifVersions)
		return err
	})
	return lead, err
}

// deleteLead is DeleteLeadIf's work inside the caller's transaction.
func (s *Store) deleteLead(ctx context.Context, q *queries.Queries, id uuid.UUID, ifVersions []int64) (Lead, error) {
	cur, err := lockLeadAndColumns(ctx, q, id, nil, s)
	if err != nil {
		return Lead{}, err
	}
	if err := checkVersion(ctx, q, cur, ifVersions); err != nil {
		return Lead{}, err
	}
	pos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder})
	if err != nil {
		return Lead{}, fmt.Errorf("position of lead %s: %w", id, err)
	}
	if _, err := trashLead(ctx, q, id); err != nil {
		return Lead{}, err
	}
	lead := leadFromRow(cur, int(pos))
	if err := fillOwners(ctx, q, &lead); err != nil {
		return Lead{}, err
	}
	return lead, nil
}

// lockLeadAndColumns locks the stage of the lead's column and, when newStatus is
// given, of that column too (validating that it is a stage), then locks and returns
// the lead row. The lead's status is read before the stage locks are held, so it
// is read again under them: errStale if a concurrent move changed it.
func lockLeadAndColumns(ctx context.Context, q *queries.Queries, id uuid.UUID, newStatus *string, s *Store) (queries.Lead, error) {
	if newStatus != nil {
		if _, err := s.resolveStatus(ctx, q, newStatus); err != nil {
			return queries.Lead{}, err
		}
	}
	status, err := q.GetLeadStatus(ctx, id)
	if err != nil {
		return queries.Lead{}, err
	}
	names := []string{status}
	if newStatus != nil && *newStatus != status {
		names = append(names, *newStatus)
	}
	if err := lockStages(ctx, q, names...); err != nil {
		return queries.Lead{}, err
	}
	cur, err := q.GetLeadForUpdate(ctx, id)
	if err != nil {
		return queries.Lead{}, err
	}
	if cur.Status != status {
		return queries.Lead{}, errStale
	}
	return cur, nil
}

// StaleLeadError is a conditional write refused because the lead changed since
// the version the caller named: Lead is the lead as it is now. It is an
// ErrConflict.
type StaleLeadError struct {
	Lead Lead
}

func (e *StaleLeadError) Error() string {
	return fmt.Sprintf("lead %s was changed meanwhile (now version %d)", e.Lead.ID, e.Lead.Version)
}

// Is makes a StaleLeadError an ErrConflict.
func (e *StaleLeadError) Is(target error) bool { return target == ErrConflict }

// checkVersion returns a *StaleLeadError unless cur's version is one of
// ifVersions (nil: any). The caller holds cur's row lock, so the version
// cannot change between this check and its write.
func checkVersion(ctx context.Context, q *queries.Queries, cur queries.Lead, ifVersions []int64) error {
	if ifVersions == nil || slices.Contains(ifVersions, cur.Version) {
		return nil
	}
	pos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder})
	if err != nil {
		return fmt.Errorf("position of lead %s: %w", cur.ID, err)
	}
	lead := leadFromRow(cur, int(pos))
	if err := fillOwners(ctx, q, &lead); err != nil {
		return err
	}
	return &StaleLeadError{Lead: lead}
}

// errStale means the lead moved to another column between reading its column and
// locking it. The transaction then holds locks on the wrong column, and locking
// the right one now could break the board-order rule that keeps writers free of
// deadlocks, so the whole transaction is rolled back and retried (inTx).
var errStale = fmt.Errorf("%w: the lead moved meanwhile", ErrConflict)

// lockEveryColumn locks every column (bulk work over the whole board: a bulk
// action, an import's batch, its undo) and returns the stages.
func lockEveryColumn(ctx context.Context, q *queries.Queries) ([]Stage, error) {
	stages, err := listStages(ctx, q)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	return stages, lockStages(ctx, q, names...)
}

// lockStages locks the named columns exclusively (see the concurrency design at
// the top of this file).
func lockStages(ctx context.Context, q *queries.Queries, names ...string) error {
	locked, err := q.LockStages(ctx, names)
	if err != nil {
		return fmt.Errorf("lock stages: %w", err)
	}
	if len(locked) != len(names) {
		// Renamed or deleted since its name was read: run again (retry),
		// reading the lead's column anew.
		return fmt.Errorf("%w: a stage was renamed or removed", errStale)
	}
	return nil
}

// resolveStatus returns the stage named by status (matched exactly, then without
// regard to case, writing the stage's own spelling back), or the first stage when
// status is nil.
func (s *Store) resolveStatus(ctx context.Context, q *queries.Queries, status *string) (string, error) {
	st, err := s.resolveStage(ctx, q, status)
	return st.Name, err
}

// resolveStage is resolveStatus returning the whole stage.
func (s *Store) resolveStage(ctx context.Context, q *queries.Queries, status *string) (Stage, error) {
	stages, err := listStages(ctx, q)
	if err != nil {
		return Stage{}, err
	}
	if len(stages) == 0 {
		return Stage{}, errors.New("no stages are defined")
	}
	if status == nil {
		return stages[0], nil
	}
	st, ok := findStage(stages, *status)
	if !ok {
		return Stage{}, fieldError("status", "must be one of: "+stageNames(stages))
	}
	*status = st.Name
	return st, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefMoney(p *Money) Money {
	if p == nil {
		return 0
	}
	return *p
}

func pick(p *string, cur string) string {
	if p == nil {
		return cur
	}
	return *p
}
