package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/queries"
)

// The trash. Deleting a lead (DeleteLead, from the board, the API or the
// assistant) moves its row to trashed_leads in the transaction that closes the
// gap in its column; RestoreLead brings it back at the end of that column with
// the same id and history; PurgeTrash deletes what has been in the trash longer
// than the retention period, for good.

// TrashRetention is how long a deleted lead can be restored.
const TrashRetention = 30 * 24 * time.Hour

// TrashedLead is a deleted lead waiting in the trash.
type TrashedLead struct {
	Lead
	DeletedAt time.Time `json:"deleted_at"`
	// DeletedBy is who deleted it, as the audit trail names them.
	DeletedBy string `json:"deleted_by"`
}

// PurgeAt is when the lead leaves the trash for good.
func (t TrashedLead) PurgeAt() time.Time { return t.DeletedAt.Add(TrashRetention) }

func trashedFromRow(r queries.TrashedLead) TrashedLead {
	return TrashedLead{
		Lead: Lead{
			ID: r.ID, Name: r.Name, Company: r.Company, Email: r.Email, Phone: r.Phone,
			Value: moneyFromNumeric(r.Value), Notes: r.Notes, Status: r.Status, Source: r.Source,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		},
		DeletedAt: r.DeletedAt.UTC(),
		DeletedBy: r.DeletedBy,
	}
}

// trashLead moves the lead to the trash and records the delete, inside the
// caller's transaction, which holds the lock of the lead's stage and closes the
// gap the lead leaves.
func trashLead(ctx context.Context, q *queries.Queries, id uuid.UUID) (TrashedLead, error) {
	row, err := q.TrashLead(ctx, queries.TrashLeadParams{ID: id, DeletedBy: ActorFrom(ctx).Name})
	if err != nil {
		return TrashedLead{}, fmt.Errorf("move lead %s to the trash: %w", id, err)
	}
	if err := recordEvent(ctx, q, id, EventDelete, nil); err != nil {
		return TrashedLead{}, err
	}
	return trashedFromRow(row), nil
}

// MaxTrashList bounds ListTrash.
const MaxTrashList = 1000

// ListTrash returns up to limit leads in the trash, most recently deleted first.
func (s *Store) ListTrash(ctx context.Context, limit int) ([]TrashedLead, error) {
	rows, err := s.q.ListTrash(ctx, clampInt32(min(limit, MaxTrashList)))
	if err != nil {
		return nil, translate(fmt.Errorf("list trash: %w", err))
	}
	out := make([]TrashedLead, len(rows))
	for i, r := range rows {
		out[i] = trashedFromRow(r)
	}
	return out, nil
}

// GetTrashedLead returns the lead with id from the trash, or ErrNotFound.
func (s *Store) GetTrashedLead(ctx context.Context, id uuid.UUID) (TrashedLead, error) {
	row, err := s.q.GetTrashedLead(ctx, id)
	if err != nil {
		return TrashedLead{}, translate(err)
	}
	return trashedFromRow(row), nil
}

// RestoreLead brings the lead with id back from the trash to the end of the
// column it was deleted from, and records the restore. ErrNotFound when it is
// not in the trash (restored already, purged, or never deleted).
//
// Locks are taken as every lead write takes them: the stage first, then the
// row. The stage is read before its lock, so the row is read again under it
// (errStale, retried by inTx, if the stage was renamed meanwhile); two restores
// of one lead serialize on the row, and the second finds it gone.
func (s *Store) RestoreLead(ctx context.Context, id uuid.UUID) (Lead, error) {
	var lead Lead
	err := s.inTx(ctx, func(q *queries.Queries) error {
		t, err := q.GetTrashedLead(ctx, id)
		if err != nil {
			return err
		}
		if err := lockStages(ctx, q, t.Status); err != nil {
			return err
		}
		cur, err := q.GetTrashedLeadForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status != t.Status {
			return errStale // its stage was renamed meanwhile: retry the transaction
		}
		key, pos, err := endKey(ctx, q, cur.Status)
		if err != nil {
			return err
		}
		row, err := q.RestoreLead(ctx, queries.RestoreLeadParams{ID: id, CardOrder: key})
		if err != nil {
			return fmt.Errorf("restore lead %s: %w", id, err)
		}
		if err := recordEvent(ctx, q, id, EventRestore, []FieldChange{
			{Field: "status", New: row.Status}, {Field: "position", New: fmt.Sprint(pos + 1)},
		}); err != nil {
			return err
		}
		lead = leadFromRow(row, int(pos))
		return fillOwners(ctx, q, &lead)
	})
	return lead, err
}

// PurgeTrash deletes, for good, the leads deleted before before and their
// history, and returns their ids.
func (s *Store) PurgeTrash(ctx context.Context, before time.Time) ([]uuid.UUID, error) {
	ids, err := s.q.PurgeTrash(ctx, before)
	if err != nil {
		return nil, translate(fmt.Errorf("purge trash: %w", err))
	}
	return ids, nil
}
