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
		if err := resolveFilterOwner(ctx, q, &eq.Filter); err != nil {
			return err
		}
		f := boardFilter{pattern: likePattern(eq.Search), digits: phoneDigits(eq.Search), BoardFilter: eq.Filter, now: time.Now()}
		fp := f.params(math.MinInt64, exportPageSize, nil)
		page := make([]Lead, 0, exportPageSize)
		for _, st := range stages {
			var rotDays *int32
			if st.RotDays != nil {
				d := int32(*st.RotDays)
				rotDays = &d
			}
			p := queries.ExportColumnPageParams{
				Status: st.Name, AfterKey: math.MinInt64, RowLimit: exportPageSize,
				Pattern: fp.Pattern, Digits: fp.Digits, RotDays: rotDays,
				OwnerID: fp.OwnerID, Source: fp.Source, MinValue: fp.MinValue, MaxValue: fp.MaxValue,
				CreatedFrom: fp.CreatedFrom, CreatedTo: fp.CreatedTo, UpdatedFrom: fp.UpdatedFrom, UpdatedTo: fp.UpdatedTo,
				StaleOnly: fp.StaleOnly, Now: fp.Now,
			}
			for pos := 0; ; {
				rows, err := q.ExportColumnPage(ctx, p)
				if err != nil {
					return fmt.Errorf("export leads of %s: %w", st.Name, err)
				}
				page = page[:0]
				for _, r := range rows {
					page = append(page, leadFromRow(r.Lead, pos))
					pos++
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

// formulaAfterQuotes says whether s, past any single quotes it starts with,
// starts as a spreadsheet formula would (=, +, -, @, a tab or a carriage
// return): NeutralizeCell quotes such a cell, the import unquotes it.
func formulaAfterQuotes(s string) bool {
	t := strings.TrimLeft(s, "'")
	return t != "" && strings.ContainsRune("=+-@\t\r", rune(t[0]))
}

// NeutralizeCell makes a CSV cell safe to open in a spreadsheet (OWASP's CSV
// injection advice): a cell starting with =, +, -, @, a tab or a carriage
// return would be run as a formula, so it is prefixed with a single quote,
// which spreadsheets show as text and do not display. The value is then not
// byte for byte the stored one ("+1 555 0175" becomes "'+1 555 0175"); the
// import strips that quote again, so an export imports back unchanged.
func NeutralizeCell(s string) string {
	// A value that itself starts with quotes before such a character gets one
	// more, so the import's removal of one gives the value back.
	if formulaAfterQuotes(s) {
		return "'" + s
	}
	return s
}
