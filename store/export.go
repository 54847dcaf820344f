package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/queries"
)

// ExportQuery selects the leads of an export: what the board shows for the
// same search, stage and filters (owner, source, value, dates, going stale).
// The export matches the search as typed: the board's typo-tolerant fallback
// (a handful of close matches) is not an export.
type ExportQuery struct {
	Search string
	Status string
	Filter BoardFilter
}

// exportPageSize is how many leads an export reads per round trip: memory
// stays this many leads, whatever the size of the pipeline.
const exportPageSize = 1000

// ExportLeads calls each for every lead q selects, in board order (stage, then
// card order), reading them a page at a time in one read-only snapshot, so the
// export is the pipeline at one moment however long the client takes to read
// it. A lead's CardOrder is its rank among the exported leads of its column.
// An error of each stops the export and is returned. A q naming no stage is a
// *ValidationError before each is called.
func (s *Store) ExportLeads(ctx context.Context, eq ExportQuery, each func(Lead) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		stages, err := listStages(ctx, q)
		if err != nil {
			return err
		}
		if eq.Status != "" {
			st, ok := findStage(stages, eq.Status)
			if !ok {
				return fieldError("status", "must be one of: "+stageNames(stages))
			}
			stages = []Stage{st}
		}
		if verr := eq.Filter.Validate(); verr != nil {
			return verr
		}
		pattern, digits := likePattern(eq.Search), phoneDigits(eq.Search)
		now := time.Now()
		page := make([]Lead, 0, exportPageSize)
		for _, st := range stages {
			p := queries.ExportColumnPageParams{Status: st.Name, AfterKey: math.MinInt64, Pattern: pattern, Digits: digits, RowLimit: exportPageSize}
			for pos := 0; ; {
				rows, err := q.ExportColumnPage(ctx, p)
				if err != nil {
					return fmt.Errorf("export leads of %s: %w", st.Name, err)
				}
				page = page[:0]
				for _, r := range rows {
					if l := leadFromRow(r.Lead, pos); eq.Filter.matches(l, st, now) {
						page = append(page, l)
						pos++
					}
				}
				if err := fillOwnersOf(ctx, q, page); err != nil {
					return err
				}
				for _, l := range page {
					if err := each(l); err != nil {
						return err
					}
				}
				if len(rows) < exportPageSize {
					break
				}
				p.AfterKey = rows[len(rows)-1].Lead.CardOrder
			}
		}
		return nil
	})
	return translate(err)
}

// ExportColumn is a column of a CSV export: its header and a lead's value in
// it as text.
type ExportColumn struct {
	Header string
	Text   func(Lead) string
}

// ExportColumns are the columns of a CSV export, in order: the lead's id, then
// every field of the lead-field table (store/fields.go) under its API name, as
// the table shows it as text (owner by email, times in RFC 3339), then when it
// was last changed. A field added to the table is a column here.
func ExportColumns() []ExportColumn {
	cols := []ExportColumn{{"id", func(l Lead) string { return l.ID.String() }}}
	for _, f := range LeadFields() {
		cols = append(cols, ExportColumn{f.Name, f.Text})
	}
	return append(cols, ExportColumn{"updated_at", func(l Lead) string { return formatTime(&l.UpdatedAt) }})
}

// matches says whether lead l of stage st passes the filter, as the board's
// query decides it (queries/board.sql FilterColumns) at the moment now.
func (f BoardFilter) matches(l Lead, st Stage, now time.Time) bool {
	switch {
	case f.Owner != nil && (l.Owner == nil || l.Owner.ID != *f.Owner):
		return false
	case strings.TrimSpace(f.Source) != "" && !strings.EqualFold(l.Source, strings.TrimSpace(f.Source)):
		return false
	case f.MinValue != nil && l.Value < *f.MinValue, f.MaxValue != nil && l.Value > *f.MaxValue:
		return false
	case f.CreatedFrom != nil && l.CreatedAt.Before(*f.CreatedFrom), f.CreatedTo != nil && !l.CreatedAt.Before(*f.CreatedTo):
		return false
	case f.UpdatedFrom != nil && l.UpdatedAt.Before(*f.UpdatedFrom), f.UpdatedTo != nil && !l.UpdatedAt.Before(*f.UpdatedTo):
		return false
	case f.StaleOnly && (st.RotDays == nil || !l.StageEnteredAt.Before(now.Add(-time.Duration(*st.RotDays)*24*time.Hour))):
		return false
	}
	return true
}

// NeutralizeCell makes a CSV cell safe to open in a spreadsheet (OWASP's CSV
// injection advice): a cell starting with =, +, -, @, a tab or a carriage
// return would be run as a formula, so it is prefixed with a single quote,
// which spreadsheets show as text and do not display. The value is then not
// byte for byte the stored one ("+1 555 0175" becomes "'+1 555 0175"); the
// import strips that quote again, so an export imports back unchanged.
func NeutralizeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
