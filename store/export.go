package store

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/queries"
)

// ExportQuery selects the leads of an export: what the board shows for the
// same search and stage. The export matches the search as typed: the board's
// typo-tolerant fallback (a handful of close matches) is not an export.
type ExportQuery struct {
	Search string
	Status string
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
		pattern, digits := likePattern(eq.Search), phoneDigits(eq.Search)
		for _, st := range stages {
			p := queries.ExportColumnPageParams{Status: st.Name, AfterKey: math.MinInt64, Pattern: pattern, Digits: digits, RowLimit: exportPageSize}
			for pos := 0; ; {
				rows, err := q.ExportColumnPage(ctx, p)
				if err != nil {
					return fmt.Errorf("export leads of %s: %w", st.Name, err)
				}
				for _, r := range rows {
					if err := each(leadFromRow(r.Lead, pos)); err != nil {
						return err
					}
					pos++
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
//
// Interim: until the lead-field table (store/fields.go) lands, the columns are
// listed here; they are then the table's fields, in its order.
type ExportColumn struct {
	Header string
	Text   func(Lead) string
}

// ExportColumns are the columns of a CSV export, in order.
func ExportColumns() []ExportColumn {
	return []ExportColumn{
		{"id", func(l Lead) string { return l.ID.String() }},
		{"name", func(l Lead) string { return l.Name }},
		{"company", func(l Lead) string { return l.Company }},
		{"email", func(l Lead) string { return l.Email }},
		{"phone", func(l Lead) string { return l.Phone }},
		{"value", func(l Lead) string { return l.Value.String() }},
		{"status", func(l Lead) string { return l.Status }},
		{"source", func(l Lead) string { return l.Source }},
		{"notes", func(l Lead) string { return l.Notes }},
		{"created_at", func(l Lead) string { return l.CreatedAt.Format("2006-01-02T15:04:05Z07:00") }},
		{"updated_at", func(l Lead) string { return l.UpdatedAt.Format("2006-01-02T15:04:05Z07:00") }},
	}
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
