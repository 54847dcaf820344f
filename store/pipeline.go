package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Reads for questions about the whole pipeline (the assistant's "biggest
// deals", "leads by source", "what changed recently"). Each reads at most limit
// rows, whatever the size of the pipeline.

// TopLeads returns the limit most valuable leads, most valuable first.
func (s *Store) TopLeads(ctx context.Context, limit int) ([]Lead, error) {
	rows, err := s.q.TopLeads(ctx, clampInt32(limit))
	if err != nil {
		return nil, translate(fmt.Errorf("top leads: %w", err))
	}
	out := make([]Lead, len(rows))
	for i, r := range rows {
		out[i] = leadFromRow(r, 0)
	}
	if err := fillOwnersOf(ctx, s.q, out); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// SourceTotal is the number and value of the leads of one source.
type SourceTotal struct {
	Source string `json:"source"`
	Leads  int    `json:"leads"`
	Total  Money  `json:"total"`
}

// LeadsBySource counts and sums the leads per source, the most common first.
func (s *Store) LeadsBySource(ctx context.Context, limit int) ([]SourceTotal, error) {
	rows, err := s.q.LeadsBySource(ctx, clampInt32(limit))
	if err != nil {
		return nil, translate(fmt.Errorf("leads by source: %w", err))
	}
	out := make([]SourceTotal, len(rows))
	for i, r := range rows {
		out[i] = SourceTotal{Source: r.Source, Leads: int(r.Leads), Total: moneyFromNumeric(r.Total)}
	}
	return out, nil
}

// RecentEvent is an event of the audit trail with its lead's name.
type RecentEvent struct {
	LeadID   uuid.UUID
	LeadName string
	At       time.Time
	Action   string
	Changes  []FieldChange
	Actor    string
}

// RecentLeadEvents returns the newest limit events of every lead, newest first.
func (s *Store) RecentLeadEvents(ctx context.Context, limit int) ([]RecentEvent, error) {
	rows, err := s.q.RecentLeadEvents(ctx, clampInt32(min(limit, MaxHistory)))
	if err != nil {
		return nil, translate(fmt.Errorf("recent lead events: %w", err))
	}
	out := make([]RecentEvent, len(rows))
	for i, r := range rows {
		ev := RecentEvent{LeadID: r.LeadID, LeadName: r.LeadName, At: r.At.UTC(), Action: r.Action, Actor: r.ActorName}
		if err := json.Unmarshal(r.Changes, &ev.Changes); err != nil {
			return nil, fmt.Errorf("decode changes of lead event %d: %w", r.ID, err)
		}
		out[i] = ev
	}
	return out, nil
}
