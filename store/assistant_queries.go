package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Reads for the chat assistant's questions about a set of leads. Each reads at
// most limit leads, plus the count and total of all that match, whatever the
// size of the pipeline.

// LeadSet is some leads of a question (at most the limit asked for) with the
// number and value of all the leads that answer it.
type LeadSet struct {
	Leads []Lead
	Count int
	Total Money
}

// LeadsCreatedBetween returns the leads created in [from, to), newest first.
func (s *Store) LeadsCreatedBetween(ctx context.Context, from, to time.Time, limit int) (LeadSet, error) {
	rows, err := s.q.LeadsCreatedBetween(ctx, queries.LeadsCreatedBetweenParams{FromAt: from, ToAt: to, RowLimit: clampInt32(limit)})
	if err != nil {
		return LeadSet{}, translate(fmt.Errorf("leads created between: %w", err))
	}
	n, err := s.q.CountLeadsCreatedBetween(ctx, queries.CountLeadsCreatedBetweenParams{FromAt: from, ToAt: to})
	if err != nil {
		return LeadSet{}, translate(fmt.Errorf("count leads created between: %w", err))
	}
	return s.leadSet(ctx, rows, int(n.Leads), n.Total)
}

// LeadsOwnedBy returns the leads the user with id owns, the most valuable first.
func (s *Store) LeadsOwnedBy(ctx context.Context, owner uuid.UUID, limit int) (LeadSet, error) {
	id := pgtype.UUID{Bytes: owner, Valid: true}
	rows, err := s.q.OwnerLeads(ctx, queries.OwnerLeadsParams{OwnerID: id, RowLimit: clampInt32(limit)})
	if err != nil {
		return LeadSet{}, translate(fmt.Errorf("leads owned by %s: %w", owner, err))
	}
	n, err := s.q.CountOwnerLeads(ctx, id)
	if err != nil {
		return LeadSet{}, translate(fmt.Errorf("count leads owned by %s: %w", owner, err))
	}
	return s.leadSet(ctx, rows, int(n.Leads), n.Total)
}

func (s *Store) leadSet(ctx context.Context, rows []queries.Lead, count int, total pgtype.Numeric) (LeadSet, error) {
	out := LeadSet{Leads: make([]Lead, len(rows)), Count: count, Total: moneyFromNumeric(total)}
	for i, r := range rows {
		out.Leads[i] = leadFromRow(r, 0)
	}
	if err := fillOwnersOf(ctx, s.q, out.Leads); err != nil {
		return LeadSet{}, translate(err)
	}
	return out, nil
}

// ConversationUser returns the user whose conversation convID is; ok is false
// for a conversation without one (from before accounts). The assistant reads
// it to know who "me" is.
func (s *Store) ConversationUser(ctx context.Context, convID uuid.UUID) (u User, ok bool, err error) {
	conv, err := s.q.GetConversation(ctx, convID)
	if err != nil {
		return User{}, false, translate(fmt.Errorf("get conversation %s: %w", convID, err))
	}
	if !conv.UserID.Valid {
		return User{}, false, nil
	}
	row, err := s.q.GetUser(ctx, uuid.UUID(conv.UserID.Bytes))
	if err != nil {
		return User{}, false, translate(fmt.Errorf("get user of conversation %s: %w", convID, err))
	}
	return userFromRow(row), true, nil
}
