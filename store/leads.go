package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/queries"
)

// Concurrency design for the card order. Every column holds card_order 0..n-1 with
// no gap or duplicate. Each write that changes which leads a column holds or their
// order first locks the stage row of every column it touches (LockStages, in board
// order, so two writers never deadlock) and keeps the locks until commit. Writers
// to one column are therefore serialized, while writers to different columns run in
// parallel. The locks alone keep the order whole (no unique constraint: see the
// migration), and TestConcurrentMoves checks it under 16 concurrent writers.

// GetLead returns the lead with id, or ErrNotFound.
func (s *Store) GetLead(ctx context.Context, id uuid.UUID) (Lead, error) {
	row, err := s.q.GetLead(ctx, id)
	if err != nil {
		return Lead{}, translate(err)
	}
	return leadFromRow(row), nil
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
	status, err := s.resolveStatus(ctx, q, in.Status)
	if err != nil {
		return Lead{}, err
	}
	if err := lockStages(ctx, q, status); err != nil {
		return Lead{}, err
	}
	n, err := q.CountLeadsInStatus(ctx, status)
	if err != nil {
		return Lead{}, fmt.Errorf("count %s: %w", status, err)
	}
	row, err := q.InsertLead(ctx, queries.InsertLeadParams{
		Name:      *in.Name,
		Company:   deref(in.Company),
		Email:     deref(in.Email),
		Phone:     deref(in.Phone),
		Value:     numericFromMoney(derefMoney(in.Value)),
		Notes:     deref(in.Notes),
		Status:    status,
		Source:    deref(in.Source),
		CardOrder: n,
	})
	if err != nil {
		return Lead{}, fmt.Errorf("insert lead: %w", err)
	}
	if err := recordCreate(ctx, q, row); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row), nil
}

// UpdateLead changes the fields given in in. A changed status moves the lead to
// the end of its new column and closes the gap it leaves.
func (s *Store) UpdateLead(ctx context.Context, id uuid.UUID, in LeadInput) (Lead, error) {
	in.Normalize()
	if verr := in.Validate(false); verr != nil {
		return Lead{}, verr
	}
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.updateLead(ctx, q, id, in)
		return err
	})
	return lead, err
}

// updateLead is UpdateLead's work inside the caller's transaction; in is already
// normalized and validated.
func (s *Store) updateLead(ctx context.Context, q *queries.Queries, id uuid.UUID, in LeadInput) (Lead, error) {
	cur, err := lockLeadAndColumns(ctx, q, id, in.Status, s)
	if err != nil {
		return Lead{}, err
	}
	p := queries.UpdateLeadFieldsParams{
		ID:        id,
		Name:      pick(in.Name, cur.Name),
		Company:   pick(in.Company, cur.Company),
		Email:     pick(in.Email, cur.Email),
		Phone:     pick(in.Phone, cur.Phone),
		Value:     cur.Value,
		Notes:     pick(in.Notes, cur.Notes),
		Source:    pick(in.Source, cur.Source),
		Status:    cur.Status,
		CardOrder: cur.CardOrder,
	}
	if in.Value != nil {
		p.Value = numericFromMoney(*in.Value)
	}
	if in.Status != nil && *in.Status != cur.Status {
		if _, err := q.CloseGap(ctx, queries.CloseGapParams{Status: cur.Status, FromOrder: cur.CardOrder, ToOrder: maxOrder}); err != nil {
			return Lead{}, fmt.Errorf("close gap in %s: %w", cur.Status, err)
		}
		n, err := q.CountLeadsInStatus(ctx, *in.Status)
		if err != nil {
			return Lead{}, fmt.Errorf("count %s: %w", *in.Status, err)
		}
		p.Status, p.CardOrder = *in.Status, n
	}
	row, err := q.UpdateLeadFields(ctx, p)
	if err != nil {
		return Lead{}, fmt.Errorf("update lead %s: %w", id, err)
	}
	if err := recordUpdate(ctx, q, cur, row); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row), nil
}

// MoveLead puts the lead at position order of the column status (within its own
// column or across columns). order is clamped into 0..n where n is the number of
// other leads in the target column.
func (s *Store) MoveLead(ctx context.Context, id uuid.UUID, status string, order int) (Lead, error) {
	status = strings.TrimSpace(status)
	if status == "" {
		return Lead{}, fieldError("status", "is required")
	}
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.moveLead(ctx, q, id, status, order)
		return err
	})
	return lead, err
}

// moveLead is MoveLead's work inside the caller's transaction. The move is three
// statements: read the lead's column, lock both columns' stages, and MoveLeadTo,
// which re-checks the column under the locks and shifts every card in one UPDATE
// (errStale when the lead moved meanwhile). Keeping the locked span short is what
// lets moves in different columns run side by side and moves in one column follow
// each other quickly.
func (s *Store) moveLead(ctx context.Context, q *queries.Queries, id uuid.UUID, status string, order int) (Lead, error) {
	target := int32(max(0, min(order, int(maxOrder))))
	old, err := q.GetLeadStatus(ctx, id)
	if err != nil {
		return Lead{}, err
	}
	if status != old {
		// Validate the target stage (and take its own spelling) before locking.
		if _, err := s.resolveStatus(ctx, q, &status); err != nil {
			return Lead{}, err
		}
	}
	names := []string{old}
	if status != old {
		names = append(names, status)
	}
	if err := lockStages(ctx, q, names...); err != nil {
		return Lead{}, err
	}
	// The position before the move, for the audit trail: stable under the lock
	// while the lead is still in old, which MoveLeadTo checks.
	before, err := q.GetLead(ctx, id)
	if err != nil {
		return Lead{}, err
	}
	row, err := q.MoveLeadTo(ctx, queries.MoveLeadToParams{ID: id, OldStatus: old, NewStatus: status, TargetOrder: target})
	if errors.Is(err, pgx.ErrNoRows) {
		return Lead{}, errStale
	}
	if err != nil {
		return Lead{}, fmt.Errorf("move lead %s: %w", id, err)
	}
	if err := recordMove(ctx, q, old, before.CardOrder, row); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row), nil
}

// DeleteLead moves the lead to the trash (see RestoreLead) and closes up the
// rest of its column.
func (s *Store) DeleteLead(ctx context.Context, id uuid.UUID) (Lead, error) {
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		var err error
		lead, err = s.deleteLead(ctx, q, id)
		return err
	})
	return lead, err
}

// deleteLead is DeleteLead's work inside the caller's transaction.
func (s *Store) deleteLead(ctx context.Context, q *queries.Queries, id uuid.UUID) (Lead, error) {
	cur, err := lockLeadAndColumns(ctx, q, id, nil, s)
	if err != nil {
		return Lead{}, err
	}
	if _, err := trashLead(ctx, q, id); err != nil {
		return Lead{}, err
	}
	if _, err := q.CloseGap(ctx, queries.CloseGapParams{Status: cur.Status, FromOrder: cur.CardOrder, ToOrder: maxOrder}); err != nil {
		return Lead{}, fmt.Errorf("close gap in %s: %w", cur.Status, err)
	}
	return leadFromRow(cur), nil
}

// maxOrder stands for "to the end of the column".
const maxOrder = int32(1<<31 - 1)

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

// errStale means the lead moved to another column between reading its column and
// locking it. The transaction then holds locks on the wrong column, and locking
// the right one now could break the board-order rule that keeps writers free of
// deadlocks, so the whole transaction is rolled back and retried (inTx).
var errStale = fmt.Errorf("%w: the lead moved meanwhile", ErrConflict)

func lockStages(ctx context.Context, q *queries.Queries, names ...string) error {
	locked, err := q.LockStages(ctx, names)
	if err != nil {
		return fmt.Errorf("lock stages: %w", err)
	}
	if len(locked) != len(names) {
		return fmt.Errorf("%w: stage was renamed or removed", ErrConflict)
	}
	return nil
}

// resolveStatus returns the stage named by status (matched exactly, then without
// regard to case, writing the stage's own spelling back), or the first stage when
// status is nil.
func (s *Store) resolveStatus(ctx context.Context, q *queries.Queries, status *string) (string, error) {
	rows, err := q.ListStages(ctx)
	if err != nil {
		return "", fmt.Errorf("list stages: %w", err)
	}
	if len(rows) == 0 {
		return "", errors.New("no stages are defined")
	}
	if status == nil {
		return rows[0].Name, nil
	}
	stages := make([]Stage, len(rows))
	for i, r := range rows {
		stages[i] = Stage{Name: r.Name, Position: int(r.Position), Kind: r.Kind}
	}
	st, ok := findStage(stages, *status)
	if !ok {
		return "", fieldError("status", "must be one of: "+stageNames(stages))
	}
	*status = st.Name
	return st.Name, nil
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
