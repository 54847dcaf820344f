package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/queries"
)

// Concurrency design for the card order. A lead's position in its column (the
// API's card_order, 0..n-1) is its rank by the sort key stored in card_order,
// which has gaps (migration 00005): a move or a create writes one row, taking a
// key between its new neighbours' keys (placeKey), and a delete writes none. Two
// leads of a column never share a key: the unique constraint on (status,
// card_order). So positions have no duplicate and, being ranks, no gap. Each write
// that changes which leads a column holds or their order first locks the stage
// row of every column it touches (LockStages, in board order, so two writers
// never deadlock) and keeps the locks until commit: a writer reads its
// neighbours' keys and takes the one between them with no other writer placing a
// card in that column meanwhile. TestConcurrentMoves checks the order under 16
// concurrent writers, TestMovesFollowModel each move against a model.

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
	return leadFromRow(row.Lead, int(row.Position)), nil
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
	key, pos, err := endKey(ctx, q, status)
	if err != nil {
		return Lead{}, err
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
		CardOrder: key,
	})
	if err != nil {
		return Lead{}, fmt.Errorf("insert lead: %w", err)
	}
	if err := recordCreate(ctx, q, row); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row, int(pos)), nil
}

// UpdateLead changes the fields given in in. A changed status moves the lead to
// the end of its new column.
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
	var pos int32
	if in.Status != nil && *in.Status != cur.Status {
		p.Status = *in.Status
		if p.CardOrder, pos, err = endKey(ctx, q, p.Status); err != nil {
			return Lead{}, err
		}
	} else if pos, err = q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder}); err != nil {
		return Lead{}, fmt.Errorf("position of lead %s: %w", id, err)
	}
	row, err := q.UpdateLeadFields(ctx, p)
	if err != nil {
		return Lead{}, fmt.Errorf("update lead %s: %w", id, err)
	}
	if err := recordUpdate(ctx, q, cur, row); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row, int(pos)), nil
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

// moveLead is MoveLead's work inside the caller's transaction: read the lead's
// column, lock both columns' stages, read the lead and its position under the
// locks, find its new key between its new neighbours (placeKey), and write the
// one row, re-checking that the lead is still in the column it was read from
// (errStale when it moved meanwhile).
func (s *Store) moveLead(ctx context.Context, q *queries.Queries, id uuid.UUID, status string, order int) (Lead, error) {
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
	before, err := q.GetLead(ctx, id)
	if err != nil {
		return Lead{}, err
	}
	if before.Lead.Status != old {
		return Lead{}, errStale
	}
	order = max(order, 0)
	var key int64
	var pos int
	if status == old && int(before.Position) == order {
		key, pos = before.Lead.CardOrder, order // already there
	} else if key, pos, err = placeKey(ctx, q, status, id, order); err != nil {
		return Lead{}, err
	}
	row, err := q.PlaceLead(ctx, queries.PlaceLeadParams{ID: id, OldStatus: old, NewStatus: status, CardOrder: key})
	if errors.Is(err, pgx.ErrNoRows) {
		return Lead{}, errStale
	}
	if err != nil {
		return Lead{}, fmt.Errorf("move lead %s: %w", id, err)
	}
	if err := recordMove(ctx, q, old, int(before.Position), row, pos); err != nil {
		return Lead{}, err
	}
	return leadFromRow(row, pos), nil
}

// placeKey returns the sort key that puts a card at position pos of column status
// (not counting the lead id, which may already be in it), and that position,
// clamped to the column's end. Keys stay within half the int64 range, so the
// sums below cannot overflow; when a key would leave it, or two neighbours' keys
// have no room left between them, it renumbers the column first. The caller
// holds the column's stage lock.
func placeKey(ctx context.Context, q *queries.Queries, status string, id uuid.UUID, pos int) (int64, int, error) {
	for range 2 {
		keys, err := q.NeighbourKeys(ctx, queries.NeighbourKeysParams{Status: status, ID: id, Skip: int32(min(max(pos-1, 0), math.MaxInt32))})
		if err != nil {
			return 0, 0, fmt.Errorf("neighbours in %s: %w", status, err)
		}
		switch {
		case pos == 0 && len(keys) == 0: // an empty column
			return 0, 0, nil
		case pos == 0: // before the first card
			if keys[0] > math.MinInt64/2 {
				return keys[0] - keyGap, 0, nil
			}
		case len(keys) == 2: // between the cards at pos-1 and pos
			if gap := keys[1] - keys[0]; gap >= 2 {
				return keys[0] + gap/2, pos, nil
			}
		case len(keys) == 1: // after the last card
			if keys[0] < math.MaxInt64/2 {
				return keys[0] + keyGap, pos, nil
			}
		default: // past the end: at the end
			end, err := q.ColumnEnd(ctx, queries.ColumnEndParams{Status: status, ID: id, KeyGap: keyGap})
			if err != nil {
				return 0, 0, fmt.Errorf("end of %s: %w", status, err)
			}
			if end.NextKey < math.MaxInt64/2 {
				return end.NextKey, int(end.N), nil
			}
		}
		if _, err := q.RenumberColumn(ctx, queries.RenumberColumnParams{Status: status, KeyGap: keyGap}); err != nil {
			return 0, 0, fmt.Errorf("renumber %s: %w", status, err)
		}
	}
	return 0, 0, fmt.Errorf("no room for a card in %s after renumbering it", status)
}

// endKey is the sort key and the position of a card added at the end of column
// status. The caller holds the column's stage lock.
func endKey(ctx context.Context, q *queries.Queries, status string) (int64, int32, error) {
	end, err := q.ColumnEnd(ctx, queries.ColumnEndParams{Status: status, ID: uuid.Nil, KeyGap: keyGap})
	if err != nil {
		return 0, 0, fmt.Errorf("end of %s: %w", status, err)
	}
	if end.NextKey < math.MaxInt64/2 {
		return end.NextKey, end.N, nil
	}
	key, pos, err := placeKey(ctx, q, status, uuid.Nil, math.MaxInt32) // renumbers first
	return key, int32(pos), err
}

// DeleteLead moves the lead to the trash (see RestoreLead); the positions after
// it in its column close up by themselves (they are ranks).
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
	pos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder})
	if err != nil {
		return Lead{}, fmt.Errorf("position of lead %s: %w", id, err)
	}
	if _, err := trashLead(ctx, q, id); err != nil {
		return Lead{}, err
	}
	return leadFromRow(cur, int(pos)), nil
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
