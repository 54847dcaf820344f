package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// BoardFilter narrows the board to the leads matching every filter set (the
// zero value: every lead). The board's counts and totals describe the leads
// that match.
type BoardFilter struct {
	// Owner keeps the leads of this user.
	Owner *uuid.UUID
	// OwnerEmail keeps the leads of the user with this email (without regard
	// to case): the store reads it into Owner, and an email no user has is a
	// validation error of the field owner.
	OwnerEmail string
	// Source keeps the leads of this source (without regard to case).
	Source string
	// MinValue and MaxValue bound the value, both inclusive.
	MinValue, MaxValue *Money
	// CreatedFrom and CreatedTo bound created_at, UpdatedFrom and UpdatedTo
	// updated_at (last touched): from inclusive, to exclusive.
	CreatedFrom, CreatedTo, UpdatedFrom, UpdatedTo *time.Time
	// StaleOnly keeps the leads in their stage longer than its rot_days.
	StaleOnly bool
}

// IsZero says whether no filter is set.
func (f BoardFilter) IsZero() bool {
	return f.Owner == nil && f.OwnerEmail == "" && f.Source == "" && f.MinValue == nil && f.MaxValue == nil &&
		f.CreatedFrom == nil && f.CreatedTo == nil && f.UpdatedFrom == nil && f.UpdatedTo == nil && !f.StaleOnly
}

// Validate checks the ranges.
func (f BoardFilter) Validate() *ValidationError {
	errs := map[string]string{}
	for _, v := range []struct {
		field string
		m     *Money
	}{{"min_value", f.MinValue}, {"max_value", f.MaxValue}} {
		if v.m != nil && (*v.m < 0 || *v.m > MaxMoney) {
			errs[v.field] = "must be between 0 and 999999999999.99"
		}
	}
	if f.MinValue != nil && f.MaxValue != nil && *f.MinValue > *f.MaxValue && errs["max_value"] == "" {
		errs["max_value"] = "must not be below min_value"
	}
	// To is exclusive: a range that ends where it starts holds nothing.
	if f.CreatedFrom != nil && f.CreatedTo != nil && !f.CreatedTo.After(*f.CreatedFrom) {
		errs["created_to"] = "must not be before created_from"
	}
	if f.UpdatedFrom != nil && f.UpdatedTo != nil && !f.UpdatedTo.After(*f.UpdatedFrom) {
		errs["updated_to"] = "must not be before updated_from"
	}
	checkText(errs, "source", &f.Source, MaxSourceLen)
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: errs}
}

// BoardQuery selects what part of the board to read.
type BoardQuery struct {
	// Search matches name, company, email and notes (case-insensitive substring).
	Search string
	// Filter narrows the board further.
	Filter BoardFilter
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
	var board Board
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := customPlans(ctx, tx); err != nil {
			return err
		}
		var err error
		board, err = listBoard(ctx, s.q.WithTx(tx), bq, s.typoMatches)
		return err
	})
	return board, translate(err)
}

// customPlans makes the board's queries in transaction tx planned for their
// arguments at every execution. A filtered board's query (FilterColumns,
// SearchColumns) passes each filter as an argument that may be NULL; a plan
// made once for any arguments (PostgreSQL's generic plan, chosen after five
// executions of a prepared statement) keeps every "argument IS NULL OR ..."
// test and reads columns it need not. Measured at 100,000 leads
// (BenchmarkFilteredBoard100k): going stale 168 ms p50 with generic plans,
// 78 ms planned each time; the search 112 ms and 66 ms.
func customPlans(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
		return fmt.Errorf("board plans: %w", err)
	}
	return nil
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
		if err := customPlans(ctx, tx); err != nil {
			return err
		}
		q := s.q.WithTx(tx)
		var err error
		if version, err = q.BoardVersion(ctx); err != nil {
			return fmt.Errorf("board version: %w", err)
		}
		board, err = listBoard(ctx, q, bq, s.typoMatches)
		return err
	})
	if err != nil {
		return Board{}, 0, translate(err)
	}
	return board, version, nil
}

// listBoard is ListBoard's work through q; match finds the leads a search
// with typos means (typoMatches).
func listBoard(ctx context.Context, q *queries.Queries, bq BoardQuery, match func(context.Context, string) ([]uuid.UUID, error)) (Board, error) {
	if verr := bq.Filter.Validate(); verr != nil {
		return Board{}, verr
	}
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
	if err := resolveFilterOwner(ctx, q, &bq.Filter); err != nil {
		return Board{}, err
	}
	f := boardFilter{pattern: likePattern(bq.Search), digits: phoneDigits(bq.Search), BoardFilter: bq.Filter, now: time.Now()}
	cols, totals, err := readColumns(ctx, q, bq, f, only)
	if err != nil {
		return Board{}, fmt.Errorf("list leads: %w", err)
	}
	// A search of the whole board that finds nothing as typed tolerates typos,
	// as the assistant does: it shows the leads MatchLeads finds close enough
	// ("jnae doe", "acmee"). Pages after the first and single columns do not
	// fall back, so a column's next page never changes what the search means.
	if f.pattern != "" && len(cols) == 0 && only == nil && bq.After == nil && bq.Filter.IsZero() {
		if f.ids, err = match(ctx, bq.Search); err != nil {
			return Board{}, err
		}
		if len(f.ids) > 0 {
			if cols, totals, err = readColumns(ctx, q, bq, f, only); err != nil {
				return Board{}, fmt.Errorf("list leads: %w", err)
			}
		}
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
	if err := fillBoardOwners(ctx, q, &board); err != nil {
		return Board{}, err
	}
	if bq.WithTotals {
		if totals == nil { // unfiltered: the filtered queries bring their own
			rows, err := q.ColumnTotals(ctx, only)
			if err != nil {
				return Board{}, fmt.Errorf("column totals: %w", err)
			}
			totals = map[string]columnTotal{}
			for _, t := range rows {
				totals[t.Name] = columnTotal{int(t.LeadCount), moneyFromNumeric(t.TotalValue)}
			}
		}
		for i := range board.Columns {
			t := totals[board.Columns[i].Stage.Name]
			board.Columns[i].Count, board.Columns[i].Total = t.count, t.total
		}
	}
	return board, nil
}

// resolveFilterOwner reads f.OwnerEmail into f.Owner.
func resolveFilterOwner(ctx context.Context, q *queries.Queries, f *BoardFilter) error {
	if f.OwnerEmail == "" {
		return nil
	}
	u, err := q.GetUserByEmail(ctx, strings.TrimSpace(f.OwnerEmail))
	if errors.Is(err, pgx.ErrNoRows) {
		return fieldError("owner", fmt.Sprintf("no user has the email %q", f.OwnerEmail))
	}
	if err != nil {
		return fmt.Errorf("filter owner: %w", err)
	}
	f.Owner, f.OwnerEmail = &u.ID, ""
	return nil
}

// columnTotal is a column's count and total value of the leads matching a
// filter.
type columnTotal struct {
	count int
	total Money
}

// readColumns reads the leads bq asks for, grouped by column, each with its
// position: counted here for the whole unpaged board, computed by the query
// otherwise. It reads one lead more than asked per column to know whether there
// is a next page. A filtered read also returns each column's totals of all its
// matches (nil otherwise; a column without a match has none).
func readColumns(ctx context.Context, q *queries.Queries, bq BoardQuery, f boardFilter, only *string) (map[string]*Column, map[string]columnTotal, error) {
	cols := map[string]*Column{}
	var totals map[string]columnTotal
	add := func(r queries.Lead, pos int) {
		c := cols[r.Status]
		if c == nil {
			c = &Column{}
			cols[r.Status] = c
		}
		c.Leads = append(c.Leads, leadFromRow(r, pos))
		c.keys = append(c.keys, r.CardOrder)
	}
	addMatch := func(r queries.Lead, pos, count int32, total pgtype.Numeric) {
		add(r, int(pos))
		totals[r.Status] = columnTotal{int(count), moneyFromNumeric(total)}
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
	case f.pattern != "":
		totals = map[string]columnTotal{}
		rows, err := q.SearchColumns(ctx, f.params(after, rowLimit, only))
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			addMatch(r.Lead, r.Position, r.LeadCount, r.TotalValue)
		}
	case !f.IsZero():
		totals = map[string]columnTotal{}
		p := f.params(after, rowLimit, only)
		rows, err := q.FilterColumns(ctx, queries.FilterColumnsParams{
			AfterKey: p.AfterKey, RowLimit: p.RowLimit, OnlyStatus: p.OnlyStatus,
			OwnerID: p.OwnerID, Source: p.Source, MinValue: p.MinValue, MaxValue: p.MaxValue,
			CreatedFrom: p.CreatedFrom, CreatedTo: p.CreatedTo, UpdatedFrom: p.UpdatedFrom, UpdatedTo: p.UpdatedTo,
			StaleOnly: p.StaleOnly, Now: p.Now,
		})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			addMatch(r.Lead, r.Position, r.LeadCount, r.TotalValue)
		}
	case bq.Limit > 0 || bq.After != nil:
		rows, err := q.ListColumns(ctx, queries.ListColumnsParams{AfterKey: after, RowLimit: rowLimit, OnlyStatus: only})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			add(r.Lead, int(r.Position))
		}
	default:
		rows, err := q.ListLeads(ctx, only)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			pos := 0
			if c := cols[r.Status]; c != nil {
				pos = len(c.Leads)
			}
			add(r, pos)
		}
	}
	return cols, totals, nil
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

// The board's typo-tolerant fallback: at most this many leads, each matching at
// least this well (store.MatchLeads scores; ScoreWeak is 0.35).
const (
	typoMatchLimit = 20
	typoMatchScore = 0.5
)

// typoMatches returns the leads a search with typos means, as the assistant
// finds them (MatchLeads), closest first.
func (s *Store) typoMatches(ctx context.Context, search string) ([]uuid.UUID, error) {
	matches, err := s.MatchLeads(ctx, search, typoMatchLimit)
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, m := range matches {
		if m.Score >= typoMatchScore {
			ids = append(ids, m.Lead.ID)
		}
	}
	return ids, nil
}

// boardFilter is what a filtered board matches: the ILIKE pattern of the
// search, the digits of a phone number typed, the ids of typo-tolerant
// matches, and the filters; now is when "going stale" is counted from.
type boardFilter struct {
	pattern, digits string
	ids             []uuid.UUID
	BoardFilter
	now time.Time
}

// params is the filter as the filtered board's queries take it (SearchColumns;
// FilterColumns takes the same without the search).
func (f boardFilter) params(after int64, rowLimit int32, only *string) queries.SearchColumnsParams {
	p := queries.SearchColumnsParams{
		OnlyStatus: only, AfterKey: after, RowLimit: rowLimit,
		Pattern: f.pattern, Digits: f.digits, Ids: f.ids, Source: strings.TrimSpace(f.Source),
		CreatedFrom: timestamptz(f.CreatedFrom), CreatedTo: timestamptz(f.CreatedTo),
		UpdatedFrom: timestamptz(f.UpdatedFrom), UpdatedTo: timestamptz(f.UpdatedTo),
		StaleOnly: f.StaleOnly, Now: f.now,
	}
	if p.Ids == nil {
		p.Ids = []uuid.UUID{}
	}
	if f.Owner != nil {
		p.OwnerID = pgtype.UUID{Bytes: *f.Owner, Valid: true}
	}
	if f.MinValue != nil {
		p.MinValue = numericFromMoney(*f.MinValue)
	}
	if f.MaxValue != nil {
		p.MaxValue = numericFromMoney(*f.MaxValue)
	}
	return p
}

func timestamptz(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: *t, Valid: true}
}

// phoneDigits returns the digits of a search that looks like a phone number
// (digits with spaces, +, -, ., parentheses; at least 3 digits), so "555 0175"
// and "(555) 0175" find +1-555-0175; "" for any other search.
func phoneDigits(search string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(search) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" +-.()/", r):
		default:
			return ""
		}
	}
	if b.Len() < 3 {
		return ""
	}
	return b.String()
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
