package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Moving from the original backend (crm import --from-postgres): the Django
// backend kept its leads in one PostgreSQL (Supabase) table, leads, with the
// columns id (uuid), name, company, email, phone, value (numeric), notes,
// status (the stage's name), source, card_order (the position in the status
// column), created_at and updated_at. ImportLegacy reads that table in one
// read-only snapshot and plans the import: which leads are created (keeping
// their ids), which stage each status goes to, their order in each column,
// and what was odd about each row. With Apply it writes the plan in one
// transaction; without, it writes nothing.
//
// The original table is read with plain pgx rather than sqlc: it is another
// database's schema (sqlc knows only this one's migrations), and its columns
// are found at run time so that a table missing an optional column still
// imports. The writes into this database are sqlc queries (queries/legacy.sql),
// set-based: a few statements per 5,000 leads, not one per lead.
//
// Concurrency: the apply locks every stage exclusively, in id order as every
// writer does (LockStages), before it reads which ids are taken and where
// each column ends, so no write can add a lead to a column or take an id
// between that read and the inserts; the inserts then fail rather than skip
// if an id is taken anyway (all or nothing).

// Names the import gives what the original left empty.
const (
	// LegacyNoName is the name of an imported lead whose name was empty.
	LegacyNoName = "(no name)"
	// legacyActorName is how the audit trail names the import.
	legacyActorName = "imported from the original backend"
)

// legacyIDSpace is the namespace of the uuids (version 5) given to leads whose
// original id is not a uuid (an integer, say): the same old id always gets the
// same uuid, so a second run finds the leads the first one imported.
var legacyIDSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/crmteam/crm/legacy-leads"))

// LegacyImport is what crm import --from-postgres asks for.
type LegacyImport struct {
	// SourceURL is the original database's PostgreSQL URL.
	SourceURL string
	// StatusMap maps original statuses (compared without regard to case and
	// surrounding or repeated white space) to stage names; it wins over the
	// built-in matching.
	StatusMap map[string]string
	// Owner is the email of the user who owns the imported leads ("":
	// nobody).
	Owner string
	// Apply writes the plan; false is a dry run that writes nothing.
	Apply bool
}

// LegacyPlan is what an import does (or, in a dry run, would do).
type LegacyPlan struct {
	// Source is the source URL without its password.
	Source string
	// Read is the number of rows of the original leads table.
	Read int
	// MissingColumns are the optional original columns the table lacks.
	MissingColumns []string
	// DerivedIDs counts the leads whose original id is not a uuid: each gets
	// the uuid LegacyID derives from it.
	DerivedIDs int
	// Statuses is every status of the original, most leads first.
	Statuses []LegacyStatus
	// Stages is, in board order, how many leads each stage gets and holds
	// already (the imported ones go after them).
	Stages []LegacyStage
	// Create is the number of leads created.
	Create int
	// Skipped are the rows not imported, with why.
	Skipped []LegacyNote
	// Warnings are the rows imported with a change, with what changed.
	Warnings []LegacyNote
	// LostWithoutReason counts the leads going into a lost stage while the
	// pipeline settings require a lost reason: the original kept none, and
	// they are imported without one (they were lost before; the rule is for
	// leads entering a lost stage).
	LostWithoutReason int
	// UnusedMappings are the --map-status names no lead had.
	UnusedMappings []string
	// Owner is the owner's email, "" for nobody; Actor how the audit trail
	// names the import.
	Owner string
	Actor string
	// IDs maps each imported lead's original id to its id here, in the
	// order of the original table's ids.
	IDs []LegacyID
	// Applied says whether the plan was written.
	Applied bool
}

// LegacyStatus is one status of the original, as folded (case and spaces).
type LegacyStatus struct {
	// Name is the status as the original spelled it most often.
	Name string
	// Spellings are the other spellings folded into it.
	Spellings []string
	Leads     int
	// Stage is the stage it goes to, "" when unknown.
	Stage string
	// How says how it was matched: "same name", "case or spaces", "the
	// original's name for Closed won", "--map-status", or "" when unknown.
	How string
}

// LegacyStage is one stage's share of the import.
type LegacyStage struct {
	Stage    string
	New      int
	Existing int
}

// LegacyNote is something said about one original row.
type LegacyNote struct {
	// ID is the row's original id.
	ID      string
	Message string
}

// LegacyID is one lead's original id and its id here.
type LegacyID struct {
	Old string
	New uuid.UUID
}

// LegacyUnmappedError is an apply refused because statuses of the original
// are not stages and were not mapped: nothing was written.
type LegacyUnmappedError struct {
	Statuses []LegacyStatus
	// Stages are the stage names a mapping may name.
	Stages []string
}

func (e *LegacyUnmappedError) Error() string {
	parts := make([]string, len(e.Statuses))
	for i, st := range e.Statuses {
		parts[i] = fmt.Sprintf("%q (%d %s)", st.Name, st.Leads, plural(st.Leads, "lead", "leads"))
	}
	return fmt.Sprintf("%d %s of the original %s not a stage here: %s; map each with --map-status \"OLD=STAGE\" (stages: %s); nothing was written",
		len(e.Statuses), plural(len(e.Statuses), "status", "statuses"), plural(len(e.Statuses), "is", "are"),
		strings.Join(parts, ", "), strings.Join(e.Stages, ", "))
}

// LegacyIDFor returns the id a lead of the original with id old has here: old
// itself when it is a uuid, else the uuid (version 5) derived from it.
func LegacyIDFor(old string) uuid.UUID {
	if id, err := uuid.Parse(old); err == nil {
		return id
	}
	return uuid.NewSHA1(legacyIDSpace, []byte(old))
}

// legacyRow is one row of the original table, as read (NULL: nil).
type legacyRow struct {
	id, name, company, email, phone, value, notes, status, source, cardOrder *string
	createdAt, updatedAt                                                     *time.Time
}

// legacyColumns are the original table's columns; id, name and status are
// required, the others optional.
var legacyColumns = []string{"id", "name", "company", "email", "phone", "value", "notes", "status", "source", "card_order", "created_at", "updated_at"}

func legacyRequired(col string) bool { return col == "id" || col == "name" || col == "status" }

// ImportLegacy reads the original backend's leads from in.SourceURL and plans
// their import; with in.Apply it writes the plan in one transaction. An apply
// with statuses that are neither stages nor mapped is a *LegacyUnmappedError
// (the plan is returned with it). The actor of ctx is recorded as importing.
func (s *Store) ImportLegacy(ctx context.Context, in LegacyImport) (LegacyPlan, error) {
	stages, err := s.Stages(ctx)
	if err != nil {
		return LegacyPlan{}, err
	}
	if len(stages) == 0 {
		return LegacyPlan{}, errors.New("no stages are defined here: add one first")
	}
	statusMap, err := legacyStatusMap(in.StatusMap, stages)
	if err != nil {
		return LegacyPlan{}, err
	}
	rows, missing, err := readLegacyLeads(ctx, in.SourceURL)
	if err != nil {
		return LegacyPlan{}, err
	}
	var plan LegacyPlan
	work := func(q *queries.Queries) error {
		// Stages are read again inside the transaction: under the apply's
		// locks they cannot change until it commits.
		stages, err := listStages(ctx, q)
		if err != nil {
			return err
		}
		if len(stages) == 0 {
			return errors.New("no stages are defined here: add one first")
		}
		if in.Apply {
			names := make([]string, len(stages))
			for i, st := range stages {
				names[i] = st.Name
			}
			if err := lockStages(ctx, q, names...); err != nil {
				return err
			}
		}
		var leads []legacyLead
		plan, leads, err = planLegacy(ctx, q, rows, missing, stages, statusMap, in)
		if err != nil {
			return err
		}
		plan.Source = redactURL(in.SourceURL)
		if !in.Apply {
			return nil
		}
		if len(plan.unknown()) > 0 {
			return &LegacyUnmappedError{Statuses: plan.unknown(), Stages: stageList(stages)}
		}
		if err := writeLegacy(ctx, q, leads); err != nil {
			return err
		}
		plan.Applied = true
		return nil
	}
	if in.Apply {
		err = s.inTx(ctx, work)
	} else {
		err = s.readTx(ctx, work)
	}
	var unmapped *LegacyUnmappedError
	if errors.As(err, &unmapped) {
		return plan, err
	}
	if err != nil {
		return LegacyPlan{}, err
	}
	return plan, nil
}

// readTx runs fn in a read-only transaction (a dry run: nothing can be
// written, whatever fn does).
func (s *Store) readTx(ctx context.Context, fn func(q *queries.Queries) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(s.q.WithTx(tx))
	})
	return translate(err)
}

func (p LegacyPlan) unknown() []LegacyStatus {
	var out []LegacyStatus
	for _, st := range p.Statuses {
		if st.Stage == "" {
			out = append(out, st)
		}
	}
	return out
}

func stageList(stages []Stage) []string {
	out := make([]string, len(stages))
	for i, st := range stages {
		out[i] = st.Name
	}
	return out
}

// foldStatus is a status compared without regard to case and surrounding or
// repeated white space: "closed WON " is "closed won".
func foldStatus(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// legacyAliases are other names of the default stages that the original's
// data holds: its board said "Closed win" for Closed won. A name is looked up
// folded, with '-' and '_' as spaces; kinds (won, lost) resolve to the one
// stage of that kind when the default name is not a stage any more.
var legacyAliases = map[string]struct{ stage, kind string }{
	"closed win":        {"Closed won", StageWon},
	"won":               {"Closed won", StageWon},
	"win":               {"Closed won", StageWon},
	"closed":            {"Closed won", StageWon},
	"lost":              {"Closed lost", StageLost},
	"closed lose":       {"Closed lost", StageLost},
	"closed loss":       {"Closed lost", StageLost},
	"interested":        {"Interest", ""},
	"meeting":           {"Meeting booked", ""},
	"meeting scheduled": {"Meeting booked", ""},
	"meeting set":       {"Meeting booked", ""},
	"proposal":          {"Proposal sent", ""},
	"negotiating":       {"Negotiation", ""},
	"in negotiation":    {"Negotiation", ""},
}

// matchLegacyStatus returns the stage an original status goes to and how it
// was matched; ok false when it is unknown.
func matchLegacyStatus(folded string, stages []Stage, mapped map[string]string) (stage, how string, ok bool) {
	if name, ok := mapped[folded]; ok {
		return name, "--map-status", true
	}
	for _, st := range stages {
		if foldStatus(st.Name) == folded {
			return st.Name, "", true
		}
	}
	key := strings.Join(strings.Fields(strings.NewReplacer("-", " ", "_", " ").Replace(folded)), " ")
	for _, st := range stages {
		if foldStatus(st.Name) == key {
			return st.Name, "", true
		}
	}
	alias, found := legacyAliases[key]
	if !found {
		return "", "", false
	}
	if st, ok := findStage(stages, alias.stage); ok {
		return st.Name, "the original's name for " + st.Name, true
	}
	if alias.kind != "" {
		var only []Stage
		for _, st := range stages {
			if st.Kind == alias.kind {
				only = append(only, st)
			}
		}
		if len(only) == 1 {
			return only[0].Name, "the original's name for the " + alias.kind + " stage", true
		}
	}
	return "", "", false
}

// legacyStatusMap checks the --map-status mappings: each names a stage
// (without regard to case), spelled as the stage is.
func legacyStatusMap(in map[string]string, stages []Stage) (map[string]string, error) {
	out := make(map[string]string, len(in))
	var bad []string
	for old, name := range in {
		st, ok := findStage(stages, name)
		if !ok {
			bad = append(bad, fmt.Sprintf("%q (for %q)", strings.TrimSpace(name), old))
			continue
		}
		out[foldStatus(old)] = st.Name
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("--map-status names no stage: %s; the stages are: %s", strings.Join(bad, ", "), stageNames(stages))
	}
	return out, nil
}

// redactURL is u without its password, for showing.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.Scheme != "" {
		return p.Redacted()
	}
	if cfg, err := pgconn.ParseConfig(u); err == nil {
		return fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	}
	return "(the URL given)"
}

// readLegacyLeads reads every row of the original leads table in one
// read-only, repeatable-read transaction (one snapshot, and the original is
// never written), and returns the optional columns it lacks.
func readLegacyLeads(ctx context.Context, sourceURL string) ([]legacyRow, []string, error) {
	cfg, err := pgx.ParseConfig(sourceURL)
	if err != nil {
		return nil, nil, fmt.Errorf("the original database's URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the original database %s: %w", redactURL(sourceURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var rows []legacyRow
	var missing []string
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Times without a zone (timestamp columns) are read as UTC, the zone
		// Supabase and Django keep them in.
		if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
			return err
		}
		cols, err := legacyTableColumns(ctx, tx)
		if err != nil {
			return err
		}
		if _, ok := cols["stage_entered_at"]; ok {
			if _, ok := cols["version"]; ok {
				return errors.New("the leads table there is this CRM's own (it has version and stage_entered_at): point --from-postgres at the original backend's database")
			}
		}
		var exprs, absent []string
		timeText := map[string]bool{}
		for _, c := range legacyColumns {
			typ, ok := cols[c]
			switch {
			case !ok && legacyRequired(c):
				absent = append(absent, c)
			case !ok:
				missing = append(missing, c)
				exprs = append(exprs, "NULL")
			case (c == "created_at" || c == "updated_at") && (strings.HasPrefix(typ, "timestamp") || typ == "date"):
				exprs = append(exprs, pgx.Identifier{c}.Sanitize()+"::timestamptz")
			default:
				// Any other type is read as text: value as the numeric's
				// digits, card_order whatever its type, times kept as text
				// parsed here.
				timeText[c] = c == "created_at" || c == "updated_at"
				exprs = append(exprs, pgx.Identifier{c}.Sanitize()+"::text")
			}
		}
		if len(absent) > 0 {
			return fmt.Errorf("the original leads table has no column %s (its columns: %s)", strings.Join(absent, ", "), strings.Join(slices.Sorted(maps.Keys(cols)), ", "))
		}
		r, err := tx.Query(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM leads")
		if err != nil {
			return fmt.Errorf("read the original leads: %w", err)
		}
		for r.Next() {
			var row legacyRow
			var createdText, updatedText *string
			created, updated := any(&row.createdAt), any(&row.updatedAt)
			if timeText["created_at"] {
				created = &createdText
			}
			if timeText["updated_at"] {
				updated = &updatedText
			}
			if err := r.Scan(&row.id, &row.name, &row.company, &row.email, &row.phone, &row.value, &row.notes,
				&row.status, &row.source, &row.cardOrder, created, updated); err != nil {
				return fmt.Errorf("read the original leads: %w", err)
			}
			if createdText != nil {
				row.createdAt = parseLegacyTime(*createdText)
			}
			if updatedText != nil {
				row.updatedAt = parseLegacyTime(*updatedText)
			}
			rows = append(rows, row)
		}
		if err := r.Err(); err != nil {
			return fmt.Errorf("read the original leads: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rows, missing, nil
}

// legacyTableColumns returns the columns of the table leads that the
// original database's search_path finds, with their types.
func legacyTableColumns(ctx context.Context, tx pgx.Tx) (map[string]string, error) {
	var found bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('leads') IS NOT NULL").Scan(&found); err != nil {
		return nil, fmt.Errorf("find the original leads table: %w", err)
	}
	if !found {
		var path string
		_ = tx.QueryRow(ctx, "SHOW search_path").Scan(&path)
		return nil, fmt.Errorf("the original database has no table named leads (search_path %s)", path)
	}
	rows, err := tx.Query(ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass('leads') AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		return nil, fmt.Errorf("read the original leads table's columns: %w", err)
	}
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols[name] = typ
	}
	return cols, rows.Err()
}

// parseLegacyTime reads a time kept as text (an odd column type); nil when
// it is none of the usual forms.
func parseLegacyTime(s string) *time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	return nil
}

// legacyLead is one lead to create.
type legacyLead struct {
	old     string
	lead    Lead
	order   float64 // the original card_order; NaN: none
	stage   string
	changes string
	key     int64
	pos     int64
}

// planLegacy turns the original rows into the leads to create and the plan,
// reading the stages' columns and the ids taken here through q.
func planLegacy(ctx context.Context, q *queries.Queries, rows []legacyRow, missing []string, stages []Stage, statusMap map[string]string, in LegacyImport) (LegacyPlan, []legacyLead, error) {
	plan := LegacyPlan{Read: len(rows), MissingColumns: missing, Actor: ActorFrom(ctx).Name}
	owner, err := resolveOwner(ctx, q, strings.TrimSpace(in.Owner), pgtype.UUID{})
	if err != nil {
		return plan, nil, err
	}
	plan.Owner = strings.TrimSpace(in.Owner)

	// Statuses, folded.
	type group struct {
		st        LegacyStatus
		spellings map[string]int
	}
	groups := map[string]*group{}
	for _, r := range rows {
		raw := ""
		if r.status != nil {
			raw = *r.status
		}
		key := foldStatus(raw)
		g := groups[key]
		if g == nil {
			g = &group{spellings: map[string]int{}}
			g.st.Stage, g.st.How, _ = matchLegacyStatus(key, stages, statusMap)
			if g.st.Stage == "" && key == "" {
				// No status: the original's default for a new lead, the
				// first stage (unless mapped).
				g.st.Stage, g.st.How = stages[0].Name, "no status: the first stage"
			}
			groups[key] = g
		}
		g.st.Leads++
		g.spellings[raw]++
	}
	for key, g := range groups {
		spellings := slices.SortedFunc(maps.Keys(g.spellings), func(a, b string) int {
			// The most common spelling names it, a clean one before one
			// with stray spaces.
			clean := func(s string) int {
				if s == strings.TrimSpace(s) {
					return 0
				}
				return 1
			}
			return cmp.Or(cmp.Compare(g.spellings[b], g.spellings[a]), cmp.Compare(clean(a), clean(b)), cmp.Compare(a, b))
		})
		g.st.Name, g.st.Spellings = spellings[0], spellings[1:]
		if g.st.How == "" && g.st.Stage != "" && g.st.Name != g.st.Stage {
			g.st.How = "case or spaces"
		} else if g.st.How == "" && g.st.Stage != "" {
			g.st.How = "same name"
		}
		if key == "" && g.st.Name == "" {
			g.st.Name = "(none)"
		}
		plan.Statuses = append(plan.Statuses, g.st)
	}
	slices.SortFunc(plan.Statuses, func(a, b LegacyStatus) int {
		return cmp.Or(cmp.Compare(b.Leads, a.Leads), cmp.Compare(a.Name, b.Name))
	})
	for old := range statusMap {
		if _, ok := groups[old]; !ok {
			plan.UnusedMappings = append(plan.UnusedMappings, old)
		}
	}
	slices.Sort(plan.UnusedMappings)

	// The leads, each checked as the lead-field table checks a new lead.
	leads := make([]legacyLead, 0, len(rows))
	seen := make(map[uuid.UUID]bool, len(rows))
	now := time.Now().UTC()
	for _, r := range rows {
		if r.id == nil || strings.TrimSpace(*r.id) == "" {
			plan.Skipped = append(plan.Skipped, LegacyNote{ID: "(none)", Message: "has no id"})
			continue
		}
		old := strings.TrimSpace(*r.id)
		id := LegacyIDFor(old)
		if _, err := uuid.Parse(old); err != nil {
			plan.DerivedIDs++
		}
		if seen[id] {
			plan.Skipped = append(plan.Skipped, LegacyNote{ID: old, Message: "its id is on another row too; the first was taken"})
			continue
		}
		seen[id] = true
		raw := ""
		if r.status != nil {
			raw = *r.status
		}
		g := groups[foldStatus(raw)]
		warn := func(format string, args ...any) {
			plan.Warnings = append(plan.Warnings, LegacyNote{ID: old, Message: fmt.Sprintf(format, args...)})
		}
		if foldStatus(raw) == "" && g.st.How != "--map-status" {
			warn("has no status: put in %s", g.st.Stage)
		}
		l := Lead{ID: id, Status: g.st.Stage}
		l.Name = legacyText(r.name, "name", MaxNameLen, true, warn)
		if l.Name == "" {
			if r.name == nil {
				warn("name is NULL: imported as %q", LegacyNoName)
			} else {
				warn("name is empty: imported as %q", LegacyNoName)
			}
			l.Name = LegacyNoName
		}
		l.Company = legacyText(r.company, "company", MaxCompanyLen, true, warn)
		l.Email = legacyText(r.email, "email", MaxEmailLen, true, warn)
		if l.Email != "" && !looksLikeEmail(l.Email) {
			warn("email %q is not an email address like name@example.com: kept as it is (the form asks to fix it when the lead is next edited)", l.Email)
		}
		l.Phone = legacyText(r.phone, "phone", MaxPhoneLen, true, warn)
		l.Notes = legacyText(r.notes, "notes", MaxNotesLen, false, warn)
		l.Source = legacyText(r.source, "source", MaxSourceLen, true, warn)
		l.Value = legacyValue(r.value, warn)
		order := math.NaN()
		if r.cardOrder != nil {
			if f, err := strconv.ParseFloat(strings.TrimSpace(*r.cardOrder), 64); err == nil && !math.IsNaN(f) {
				order = f
			} else {
				warn("card_order %q is not a number: placed after the ordered cards of %s", *r.cardOrder, l.Status)
			}
		} else if !slices.Contains(plan.MissingColumns, "card_order") {
			warn("card_order is NULL: placed after the ordered cards of %s", l.Status)
		}
		switch {
		case r.createdAt != nil:
			l.CreatedAt = r.createdAt.UTC()
		case r.updatedAt != nil:
			l.CreatedAt = r.updatedAt.UTC()
			warn("created_at is NULL (or not a time): its updated_at taken")
		default:
			l.CreatedAt = now
			warn("created_at and updated_at are NULL (or not times): created now")
		}
		l.UpdatedAt = l.CreatedAt
		if r.updatedAt != nil {
			l.UpdatedAt = r.updatedAt.UTC()
		}
		leads = append(leads, legacyLead{old: old, lead: l, order: order, stage: l.Status})
	}

	// Ids taken here: skipped (a second run imports nothing twice).
	ids := make([]uuid.UUID, len(leads))
	for i, l := range leads {
		ids[i] = l.lead.ID
	}
	taken, err := q.LegacyTakenIDs(ctx, ids)
	if err != nil {
		return plan, nil, fmt.Errorf("find ids already here: %w", err)
	}
	inTrash := make(map[uuid.UUID]bool, len(taken))
	for _, t := range taken {
		inTrash[t.ID] = inTrash[t.ID] || t.InTrash
	}
	kept := leads[:0]
	for _, l := range leads {
		trash, ok := inTrash[l.lead.ID]
		switch {
		case !ok:
			kept = append(kept, l)
		case trash:
			plan.Skipped = append(plan.Skipped, LegacyNote{ID: l.old, Message: "a lead with its id is in the trash here (restore it, or purge it and run again)"})
		default:
			plan.Skipped = append(plan.Skipped, LegacyNote{ID: l.old, Message: "a lead with its id is here already (imported before?)"})
		}
	}
	leads = kept

	// Each stage's new leads in the original order: card_order, NULL last,
	// ties broken by created_at then id; appended after its existing leads.
	ends, err := q.LegacyColumnEnds(ctx)
	if err != nil {
		return plan, nil, fmt.Errorf("read the columns: %w", err)
	}
	endOf := map[string]queries.LegacyColumnEndsRow{}
	for _, e := range ends {
		endOf[e.Status] = e
	}
	byStage := map[string][]int{}
	for i := range leads {
		if leads[i].stage != "" {
			byStage[leads[i].stage] = append(byStage[leads[i].stage], i)
		}
	}
	for _, st := range stages {
		idx := byStage[st.Name]
		slices.SortFunc(idx, func(a, b int) int { return compareLegacy(&leads[a], &leads[b]) })
		for n, i := range idx {
			if n > 0 {
				prev := &leads[idx[n-1]]
				if !math.IsNaN(prev.order) && prev.order == leads[i].order {
					plan.Warnings = append(plan.Warnings, LegacyNote{ID: leads[i].old, Message: fmt.Sprintf(
						"card_order %s is also lead %s's in %s: placed after it (older first, then by id)",
						strconv.FormatFloat(leads[i].order, 'f', -1, 64), prev.old, st.Name)})
				}
			}
		}
		end := endOf[st.Name]
		gap := int64(keyGap)
		const keyLimit = math.MaxInt64 / 2
		if room := (keyLimit - end.LastKey) / int64(len(idx)+1); room < gap {
			gap = room
		}
		if len(idx) > 0 && gap < 2 {
			return plan, nil, fmt.Errorf("no room for %d more cards in %s: move a card in it (which renumbers it) and run again", len(idx), st.Name)
		}
		start := end.LastKey + gap
		if end.N == 0 {
			start = 0
		}
		for n, i := range idx {
			leads[i].key = start + int64(n)*gap
			leads[i].pos = int64(end.N) + int64(n)
			leads[i].lead.CardOrder = int(leads[i].pos)
		}
		plan.Stages = append(plan.Stages, LegacyStage{Stage: st.Name, New: len(idx), Existing: int(end.N)})
	}

	// What the audit trail records: the fields the lead was created with.
	var ownerRef *LeadOwner
	if owner.Valid {
		ownerRef = &LeadOwner{ID: owner.Bytes, Email: plan.Owner}
		if u, err := q.GetUser(ctx, owner.Bytes); err == nil {
			ownerRef.Email, ownerRef.Name = u.Email, u.Name
			plan.Owner = u.Email
		}
	}
	required, err := q.GetPipelineSettings(ctx)
	if err != nil {
		return plan, nil, fmt.Errorf("get pipeline settings: %w", err)
	}
	kinds := map[string]string{}
	for _, st := range stages {
		kinds[st.Name] = st.Kind
	}
	for i := range leads {
		if leads[i].stage == "" {
			continue
		}
		leads[i].lead.Owner = ownerRef
		changes := createChanges(leads[i].lead)
		b, err := json.Marshal(changes)
		if err != nil {
			return plan, nil, fmt.Errorf("encode changes: %w", err)
		}
		leads[i].changes = string(b)
		plan.Create++
		if required && kinds[leads[i].stage] == StageLost {
			plan.LostWithoutReason++
		}
	}
	slices.SortStableFunc(leads, func(a, b legacyLead) int { return cmp.Compare(a.old, b.old) })
	for _, l := range leads {
		if l.stage != "" {
			plan.IDs = append(plan.IDs, LegacyID{Old: l.old, New: l.lead.ID})
		}
	}
	slices.SortStableFunc(plan.Warnings, func(a, b LegacyNote) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(plan.Skipped, func(a, b LegacyNote) int { return cmp.Compare(a.ID, b.ID) })
	return plan, leads, nil
}

// compareLegacy orders a column's imported leads as the original did: by
// card_order (none last), then created_at, then id.
func compareLegacy(a, b *legacyLead) int {
	an, bn := math.IsNaN(a.order), math.IsNaN(b.order)
	switch {
	case an && !bn:
		return 1
	case !an && bn:
		return -1
	case !an && a.order != b.order:
		return cmp.Compare(a.order, b.order)
	}
	// Byte order of uuids is the order of their text.
	return cmp.Or(a.lead.CreatedAt.Compare(b.lead.CreatedAt), bytes.Compare(a.lead.ID[:], b.lead.ID[:]))
}

// legacyText is an original text column as the lead-field table keeps it:
// trimmed and on one line (line breaks become spaces, with a warning) unless
// kept as typed, valid UTF-8 without NUL, at most max characters (cut, with a
// warning, when longer). NULL is "".
func legacyText(p *string, field string, max int, trim bool, warn func(string, ...any)) string {
	if p == nil {
		return ""
	}
	s := *p
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
		warn("%s had bytes that are not UTF-8 text: replaced", field)
	}
	if trim {
		s = strings.TrimSpace(s)
		if strings.ContainsAny(s, lineBreaks) {
			// A one-line field here (the lead-field table refuses a line
			// break in it): the lines are joined with spaces.
			s = oneLine(s)
			warn("%s had line breaks: replaced with spaces (%q)", field, s)
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		s = string([]rune(s)[:max])
		warn("%s has %d characters, more than the %d a lead keeps: cut to %d", field, n, max, max)
	}
	return s
}

// oneLine joins the lines of s with one space each, dropping the blank
// ones and the spaces around each line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(lineBreaks, r) })
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

// legacyValue is an original value as Money: NULL is 0; a negative value, one
// beyond MaxMoney or not a number is 0 with a warning, since a deal value here
// is never negative (the lead-field table's rule); more than two decimals are
// rounded to cents.
func legacyValue(p *string, warn func(string, ...any)) Money {
	if p == nil {
		return 0
	}
	s := strings.TrimSpace(*p)
	r, ok := new(big.Rat).SetString(s)
	if !ok || s == "" {
		warn("value %q is not a number: imported as 0.00", *p)
		return 0
	}
	if r.Sign() < 0 {
		warn("value %s is negative: imported as 0.00 (a deal value is never negative here)", s)
		return 0
	}
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	if !cents.IsInt() {
		// Round half away from zero, as numeric(14,2) would.
		cents.Add(cents, big.NewRat(1, 2))
		n := new(big.Int).Quo(cents.Num(), cents.Denom())
		cents.SetInt(n)
		warn("value %s has more than two decimals: rounded to %s", s, Money(n.Int64()).String())
	}
	if cents.Num().Cmp(big.NewInt(int64(MaxMoney))) > 0 {
		warn("value %s is more than %s: imported as 0.00", s, MaxMoney.String())
		return 0
	}
	return Money(cents.Num().Int64())
}

// legacyChunk is how many leads one insert statement writes.
const legacyChunk = 5000

// writeLegacy inserts the planned leads and their creation events, a chunk
// at a time, in the caller's transaction.
func writeLegacy(ctx context.Context, q *queries.Queries, leads []legacyLead) error {
	var owner pgtype.UUID
	a := eventActor(ctx)
	todo := make([]legacyLead, 0, len(leads))
	for _, l := range leads {
		if l.stage != "" {
			todo = append(todo, l)
			if l.lead.Owner != nil {
				owner = pgtype.UUID{Bytes: l.lead.Owner.ID, Valid: true}
			}
		}
	}
	for chunk := range slices.Chunk(todo, legacyChunk) {
		p := queries.InsertLegacyLeadsParams{OwnerID: owner}
		e := queries.InsertLegacyCreateEventsParams{ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name}
		for _, l := range chunk {
			p.Ids = append(p.Ids, l.lead.ID)
			p.Names = append(p.Names, l.lead.Name)
			p.Companies = append(p.Companies, l.lead.Company)
			p.Emails = append(p.Emails, l.lead.Email)
			p.Phones = append(p.Phones, l.lead.Phone)
			p.Cents = append(p.Cents, int64(l.lead.Value))
			p.Notes = append(p.Notes, l.lead.Notes)
			p.Statuses = append(p.Statuses, l.stage)
			p.Sources = append(p.Sources, l.lead.Source)
			p.CardOrders = append(p.CardOrders, l.key)
			p.CreatedAts = append(p.CreatedAts, l.lead.CreatedAt)
			p.UpdatedAts = append(p.UpdatedAts, l.lead.UpdatedAt)
			e.Ids = append(e.Ids, l.lead.ID)
			e.Changes = append(e.Changes, l.changes)
			e.Positions = append(e.Positions, l.pos)
		}
		n, err := q.InsertLegacyLeads(ctx, p)
		if err != nil {
			return fmt.Errorf("insert imported leads: %w", err)
		}
		if n != int64(len(chunk)) {
			return fmt.Errorf("insert imported leads: %d of %d written", n, len(chunk))
		}
		if n, err = q.InsertLegacyCreateEvents(ctx, e); err != nil {
			return fmt.Errorf("record imported leads: %w", err)
		}
		if n != int64(len(chunk)) {
			return fmt.Errorf("record imported leads: %d of %d events written", n, len(chunk))
		}
	}
	return nil
}

// LegacyActor is the actor an import records: u importing, or the system
// when u is nil.
func LegacyActor(u *User) Actor {
	if u == nil {
		return Actor{Kind: ActorSystem, Name: legacyActorName}
	}
	return Actor{Kind: ActorUser, UserID: u.ID, Name: legacyActorName + " by " + u.Name}
}
