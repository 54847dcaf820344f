package store

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/queries"
)

// Stage is a column of the pipeline.
type Stage struct {
	Name     string `json:"name"`
	Position int    `json:"position"`
	// Kind is "open", "won" or "lost".
	Kind string `json:"kind"`
}

// Stages returns the pipeline's stages in board order.
func (s *Store) Stages(ctx context.Context) ([]Stage, error) {
	stages, err := listStages(ctx, s.q)
	return stages, translate(err)
}

// listStages reads the stages in board order through q (a transaction's, or
// the pool's).
func listStages(ctx context.Context, q *queries.Queries) ([]Stage, error) {
	rows, err := q.ListStages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stages: %w", err)
	}
	out := make([]Stage, len(rows))
	for i, r := range rows {
		out[i] = Stage{Name: r.Name, Position: int(r.Position), Kind: r.Kind}
	}
	return out, nil
}

// BoardQuery selects what part of the board to read.
type BoardQuery struct {
	// Search matches name, company, email and notes (case-insensitive substring).
	Search string
	// Status limits the board to one column when set.
	Status string
	// Limit is the number of leads per column to read; 0 reads every lead.
	Limit int
	// After reads each column after the card whose sort key this is (a column's
	// NextAfter); nil from the start.
	After *int64
	// WithTotals counts and sums every matching lead of each column.
	WithTotals bool
}

// Column is one stage of the board with the leads read from it.
type Column struct {
	Stage Stage
	Leads []Lead
	// HasMore says that leads after the last one read match the query.
	HasMore bool
	// Count and Total cover every matching lead of the column, not only those read
	// (set when BoardQuery.WithTotals).
	Count int
	Total Money
	// keys are the sort keys of Leads, index for index (a caller may cut Leads
	// short; NextAfter then follows the last lead left).
	keys []int64
}

// NextAfter is the value to pass as BoardQuery.After for the next page: the sort
// key of the last lead of Leads (see migration 00005), which stays valid while
// cards move, unlike a position.
func (c Column) NextAfter() int64 {
	if len(c.Leads) == 0 || len(c.keys) < len(c.Leads) {
		return math.MinInt64 // from the start
	}
	return c.keys[len(c.Leads)-1]
}

// Board is the pipeline: every stage in order, each with its leads in card order.
type Board struct {
	Columns []Column
}

// MaxPageSize bounds BoardQuery.Limit.
const MaxPageSize = 1000

// ListBoard reads the board (or one column of it) per q. It reads one lead more
// than asked per column to know whether there is a next page.
func (s *Store) ListBoard(ctx context.Context, bq BoardQuery) (Board, error) {
	board, err := listBoard(ctx, s.q, bq)
	return board, translate(err)
}

// BoardVersion returns the board version (migration 00007): a number that
// changes with every committed change of a lead or a stage, made through any
// server. One cheap statement: it is read for every conditional board read.
func (s *Store) BoardVersion(ctx context.Context) (int64, error) {
	v, err := s.q.BoardVersion(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("board version: %w", err))
	}
	return v, nil
}

// ListBoardVersion is ListBoard that also returns the board version the board
// was read at: both are read in one snapshot (a read-only repeatable-read
// transaction), so the board is exactly the one of that version and can be
// cached under it.
func (s *Store) ListBoardVersion(ctx context.Context, bq BoardQuery) (Board, int64, error) {
	var board Board
	var version int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var err error
		if version, err = q.BoardVersion(ctx); err != nil {
			return fmt.Errorf("board version: %w", err)
		}
		board, err = listBoard(ctx, q, bq)
		return err
	})
	if err != nil {
		return Board{}, 0, translate(err)
	}
	return board, version, nil
}

// listBoard is ListBoard's work through q.
func listBoard(ctx context.Context, q *queries.Queries, bq BoardQuery) (Board, error) {
	stages, err := listStages(ctx, q)
	if err != nil {
		return Board{}, err
	}
	var only *string
	if bq.Status != "" {
		st, ok := findStage(stages, bq.Status)
		if !ok {
			return Board{}, fieldError("status", "must be one of: "+stageNames(stages))
		}
		only = &st.Name
		stages = []Stage{st}
	}
	pattern := likePattern(bq.Search)
	cols, err := readColumns(ctx, q, bq, pattern, only)
	if err != nil {
		return Board{}, fmt.Errorf("list leads: %w", err)
	}
	board := Board{Columns: make([]Column, len(stages))}
	for i, st := range stages {
		col := cols[st.Name]
		if col == nil {
			col = &Column{}
		}
		col.Stage = st
		if bq.Limit > 0 && len(col.Leads) > bq.Limit {
			col.Leads, col.HasMore = col.Leads[:bq.Limit], true
		}
		if col.Leads == nil {
			col.Leads = []Lead{}
		}
		board.Columns[i] = *col
	}
	if bq.WithTotals {
		totals, err := q.ColumnTotals(ctx, pattern)
		if err != nil {
			return Board{}, fmt.Errorf("column totals: %w", err)
		}
		for _, t := range totals {
			for i := range board.Columns {
				if board.Columns[i].Stage.Name == t.Name {
					board.Columns[i].Count = int(t.LeadCount)
					board.Columns[i].Total = moneyFromNumeric(t.TotalValue)
				}
			}
		}
	}
	return board, nil
}

// readColumns reads the leads bq asks for, grouped by column, each with its
// position: counted here for the whole unpaged board, computed by the query
// otherwise. It reads one lead more than asked per column to know whether there
// is a next page.
func readColumns(ctx context.Context, q *queries.Queries, bq BoardQuery, pattern string, only *string) (map[string]*Column, error) {
	cols := map[string]*Column{}
	add := func(r queries.Lead, pos int) {
		c := cols[r.Status]
		if c == nil {
			c = &Column{}
			cols[r.Status] = c
		}
		c.Leads = append(c.Leads, leadFromRow(r, pos))
		c.keys = append(c.keys, r.CardOrder)
	}
	after := int64(math.MinInt64) // below every key: keys stay keyGap clear of the ends
	if bq.After != nil {
		after = *bq.After
	}
	rowLimit := int32(math.MaxInt32)
	if bq.Limit > 0 {
		rowLimit = int32(bq.Limit) + 1 // one more to know whether there is a next page
	}
	switch {
	case pattern != "":
		rows, err := q.SearchColumns(ctx, queries.SearchColumnsParams{AfterKey: after, Pattern: pattern, RowLimit: rowLimit, OnlyStatus: only})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			add(r.Lead, int(r.Position))
		}
	case bq.Limit > 0 || bq.After != nil:
		rows, err := q.ListColumns(ctx, queries.ListColumnsParams{AfterKey: after, RowLimit: rowLimit, OnlyStatus: only})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			add(r.Lead, int(r.Position))
		}
	default:
		rows, err := q.ListLeads(ctx, only)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			pos := 0
			if c := cols[r.Status]; c != nil {
				pos = len(c.Leads)
			}
			add(r, pos)
		}
	}
	return cols, nil
}

func findStage(stages []Stage, name string) (Stage, bool) {
	for _, st := range stages {
		if st.Name == name {
			return st, true
		}
	}
	for _, st := range stages {
		if strings.EqualFold(st.Name, strings.TrimSpace(name)) {
			return st, true
		}
	}
	return Stage{}, false
}

func stageNames(stages []Stage) string {
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	return strings.Join(names, ", ")
}

// likePattern turns a search text into an ILIKE pattern matching it anywhere, with
// the pattern characters in it taken literally; "" stays "" (match everything).
func likePattern(search string) string {
	search = strings.TrimSpace(search)
	if search == "" {
		return ""
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(search) + "%"
}
