package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Pipeline analytics: what the pipeline holds now, and what happened in a
// period, read from the leads and the stage changes of the audit trail
// (migration 00015, lead_stage_changes). README "Analytics" says what each
// number means; the SQL is queries/analytics.sql.

// MaxAnalyticsDays bounds an analytics period, so that one request reads at
// most a year of the audit trail.
const MaxAnalyticsDays = 366

// DefaultAnalyticsDays is the period when none is given: the last 90 days,
// today included.
const DefaultAnalyticsDays = 90

// maxLostReasons is how many lost reasons are listed by name; the others are
// summed as one row.
const maxLostReasons = 20

// AnalyticsQuery asks for the analytics of a period: the whole UTC days From
// to To, both included. Owner, when not empty, keeps only the leads of one
// user, named by id or email.
type AnalyticsQuery struct {
	From, To time.Time
	Owner    string
}

// AnalyticsOwner is a user as the analytics name them; ID is uuid.Nil for
// leads that nobody owns.
type AnalyticsOwner struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Email string    `json:"email"`
}

// StageRef names a stage in the analytics: its id (which renames keep) and
// its name now.
type StageRef struct {
	ID   int    `json:"stage_id"`
	Name string `json:"stage"`
}

// PipelineStage is what an open stage holds now.
type PipelineStage struct {
	StageRef
	// Probability is the stage's win probability in percent.
	Probability int   `json:"probability"`
	Leads       int   `json:"leads"`
	Value       Money `json:"value"`
	// Forecast is Value weighted by Probability, rounded to the cent.
	Forecast Money `json:"forecast"`
}

// WinRate counts the leads closed in the period by outcome.
type WinRate struct {
	Won       int   `json:"won"`
	WonValue  Money `json:"won_value"`
	Lost      int   `json:"lost"`
	LostValue Money `json:"lost_value"`
	// Rate is Won / (Won + Lost), nil when none closed.
	Rate *float64 `json:"rate"`
}

// LostReasonTotal is one reason given for the leads lost in the period.
type LostReasonTotal struct {
	// Reason is the text chosen or typed; "" when none was given.
	Reason string `json:"reason"`
	// Other marks the row that sums the reasons beyond the most common ones.
	Other bool  `json:"other,omitempty"`
	Leads int   `json:"leads"`
	Value Money `json:"value"`
}

// FunnelStep is one step of the funnel: the leads whose furthest step
// entered in the period is this one or a later one.
type FunnelStep struct {
	StageRef
	Reached int `json:"reached"`
	// ToNext is the share of Reached that reached the next step; nil for the
	// last step or when none reached this one.
	ToNext *float64 `json:"to_next"`
}

// StageDays is the time leads spent in an open stage before leaving it in
// the period.
type StageDays struct {
	StageRef
	// Intervals is how many stays ended in the period.
	Intervals int `json:"intervals"`
	// AvgDays is their average length in days, nil when none ended.
	AvgDays *float64 `json:"avg_days"`
}

// MonthTotal is what was won in one calendar month (UTC) of the period.
type MonthTotal struct {
	// Month is "2026-09".
	Month string `json:"month"`
	Leads int    `json:"leads"`
	Value Money  `json:"value"`
}

// OwnerTotals are one owner's numbers.
type OwnerTotals struct {
	Owner     AnalyticsOwner `json:"owner"`
	OpenLeads int            `json:"open_leads"`
	Pipeline  Money          `json:"pipeline"`
	Forecast  Money          `json:"forecast"`
	WinRate
}

// Analytics are the numbers of the analytics page and of GET /analytics/.
type Analytics struct {
	// From and To are the period's first and last days (UTC), "2026-09-01".
	From string `json:"from"`
	To   string `json:"to"`
	// Owner is the owner the numbers are limited to, nil for everyone.
	Owner         *AnalyticsOwner   `json:"owner"`
	Pipeline      []PipelineStage   `json:"pipeline"`
	PipelineValue Money             `json:"pipeline_value"`
	Forecast      Money             `json:"forecast"`
	WinRate       WinRate           `json:"win_rate"`
	LostReasons   []LostReasonTotal `json:"lost_reasons"`
	Funnel        []FunnelStep      `json:"funnel"`
	StageDays     []StageDays       `json:"stage_days"`
	WonByMonth    []MonthTotal      `json:"won_by_month"`
	Owners        []OwnerTotals     `json:"owners"`
	// Users are everyone who may be chosen as the owner filter.
	Users []AnalyticsOwner `json:"-"`
	// Version is the board version (BoardVersion) the numbers were read at.
	Version int64 `json:"-"`
}

// Validate checks the period: From not after To, at most MaxAnalyticsDays.
func (q AnalyticsQuery) Validate() error {
	switch {
	case q.From.After(q.To):
		return fieldError("from", "is after to")
	case q.To.Sub(q.From) >= MaxAnalyticsDays*24*time.Hour:
		return fieldError("to", fmt.Sprintf("is more than %d days after from", MaxAnalyticsDays))
	}
	return nil
}

// Analytics computes the numbers of q, all read in one snapshot of the
// database. An owner that names no user is a ValidationError on "owner".
func (s *Store) Analytics(ctx context.Context, q AnalyticsQuery) (Analytics, error) {
	if err := q.Validate(); err != nil {
		return Analytics{}, err
	}
	from := dayStart(q.From)
	to := dayStart(q.To).AddDate(0, 0, 1)
	out := Analytics{
		From: from.Format(time.DateOnly), To: dayStart(q.To).Format(time.DateOnly),
		Pipeline: []PipelineStage{}, LostReasons: []LostReasonTotal{}, Funnel: []FunnelStep{},
		StageDays: []StageDays{}, WonByMonth: []MonthTotal{}, Owners: []OwnerTotals{},
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Plan each query for its parameters: a generic plan of a prepared
		// statement would keep the "every owner or this one" test per row.
		if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
			return fmt.Errorf("analytics plans: %w", err)
		}
		r := analyticsReader{q: s.q.WithTx(tx), from: from, to: to}
		return r.read(ctx, q.Owner, &out)
	})
	if err != nil {
		return Analytics{}, translate(err)
	}
	return out, nil
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// analyticsReader reads the numbers of one period in one transaction.
type analyticsReader struct {
	q        *queries.Queries
	from, to time.Time
	owner    pgtype.UUID
	stages   []queries.AnalyticsStagesRow
	names    map[uuid.UUID]AnalyticsOwner
}

func (r *analyticsReader) read(ctx context.Context, owner string, out *Analytics) error {
	users, err := r.q.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	out.Users = make([]AnalyticsOwner, len(users))
	r.names = make(map[uuid.UUID]AnalyticsOwner, len(users))
	for i, u := range users {
		out.Users[i] = AnalyticsOwner{ID: u.ID, Name: u.Name, Email: u.Email}
		r.names[u.ID] = out.Users[i]
	}
	if owner = strings.TrimSpace(owner); owner != "" {
		u, ok := findOwner(out.Users, owner)
		if !ok {
			return fieldError("owner", "names no user (give a user's id or email)")
		}
		out.Owner = &u
		r.owner = pgtype.UUID{Bytes: u.ID, Valid: true}
	}
	if out.Version, err = r.q.BoardVersion(ctx); err != nil {
		return fmt.Errorf("board version: %w", err)
	}
	if r.stages, err = r.q.AnalyticsStages(ctx); err != nil {
		return fmt.Errorf("analytics stages: %w", err)
	}
	steps := []func(context.Context, *Analytics) error{
		r.leadTotals, r.lostReasons, r.wonByMonth, r.funnel, r.stageDays,
	}
	for _, step := range steps {
		if err := step(ctx, out); err != nil {
			return err
		}
	}
	return nil
}

// findOwner finds the user named by id or email (without regard to case).
func findOwner(users []AnalyticsOwner, owner string) (AnalyticsOwner, bool) {
	id, idErr := uuid.Parse(owner)
	for _, u := range users {
		if (idErr == nil && u.ID == id) || strings.EqualFold(u.Email, owner) {
			return u, true
		}
	}
	return AnalyticsOwner{}, false
}

func (r *analyticsReader) stage(id int16) (queries.AnalyticsStagesRow, bool) {
	for _, s := range r.stages {
		if s.ID == id {
			return s, true
		}
	}
	return queries.AnalyticsStagesRow{}, false
}

func stageRef(s queries.AnalyticsStagesRow) StageRef { return StageRef{ID: int(s.ID), Name: s.Name} }

// weighted is v times percent/100, rounded half up to the cent.
func weighted(v Money, percent int16) Money { return (v*Money(percent) + 50) / 100 }

// leadTotals fills the pipeline, the forecast, the win rate and the table by
// owner from one pass over the leads.
func (r *analyticsReader) leadTotals(ctx context.Context, out *Analytics) error {
	rows, err := r.q.AnalyticsLeadTotals(ctx, queries.AnalyticsLeadTotalsParams{FromAt: r.from, ToAt: r.to, OwnerID: r.owner})
	if err != nil {
		return fmt.Errorf("analytics lead totals: %w", err)
	}
	byStage := map[int16]*PipelineStage{}
	for _, s := range r.stages {
		if s.Kind == "open" {
			out.Pipeline = append(out.Pipeline, PipelineStage{StageRef: stageRef(s), Probability: int(s.Probability)})
		}
	}
	for i := range out.Pipeline {
		byStage[int16(out.Pipeline[i].ID)] = &out.Pipeline[i]
	}
	owners := map[uuid.UUID]*OwnerTotals{}
	var order []uuid.UUID
	for _, row := range rows {
		s, ok := r.stage(row.StageID)
		if !ok {
			continue
		}
		id := uuid.UUID(row.OwnerID.Bytes) // uuid.Nil when nobody owns them
		o := owners[id]
		if o == nil {
			who, ok := r.names[id]
			if !ok {
				who = AnalyticsOwner{ID: id, Name: "Nobody"}
			}
			o = &OwnerTotals{Owner: who}
			owners[id] = o
			order = append(order, id)
		}
		value, closedValue := moneyFromNumeric(row.Value), moneyFromNumeric(row.ClosedValue)
		switch s.Kind {
		case "open":
			p := byStage[s.ID]
			p.Leads += int(row.Leads)
			p.Value += value
			o.OpenLeads += int(row.Leads)
			o.Pipeline += value
			o.Forecast += weighted(value, s.Probability)
		case "won":
			o.Won += int(row.Closed)
			o.WonValue += closedValue
		case "lost":
			o.Lost += int(row.Closed)
			o.LostValue += closedValue
		}
	}
	for i := range out.Pipeline {
		p := &out.Pipeline[i]
		p.Forecast = weighted(p.Value, int16(p.Probability))
		out.PipelineValue += p.Value
		out.Forecast += p.Forecast
	}
	for _, id := range order {
		o := owners[id]
		o.Rate = rate(o.Won, o.Won+o.Lost)
		out.WinRate.Won += o.Won
		out.WinRate.WonValue += o.WonValue
		out.WinRate.Lost += o.Lost
		out.WinRate.LostValue += o.LostValue
		out.Owners = append(out.Owners, *o)
	}
	out.WinRate.Rate = rate(out.WinRate.Won, out.WinRate.Won+out.WinRate.Lost)
	sortOwners(out.Owners)
	return nil
}

// sortOwners puts the owners in the order of their name, nobody last.
func sortOwners(owners []OwnerTotals) {
	slices.SortFunc(owners, func(a, b OwnerTotals) int {
		if (a.Owner.ID == uuid.Nil) != (b.Owner.ID == uuid.Nil) {
			if a.Owner.ID == uuid.Nil {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(strings.ToLower(a.Owner.Name), strings.ToLower(b.Owner.Name)),
			cmp.Compare(a.Owner.Email, b.Owner.Email))
	})
}

// rate is n/of, nil when of is 0.
func rate(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	v := float64(n) / float64(of)
	return &v
}

func (r *analyticsReader) lostReasons(ctx context.Context, out *Analytics) error {
	rows, err := r.q.AnalyticsLostReasons(ctx, queries.AnalyticsLostReasonsParams{FromAt: r.from, ToAt: r.to, OwnerID: r.owner, RowLimit: maxLostReasons})
	if err != nil {
		return fmt.Errorf("analytics lost reasons: %w", err)
	}
	out.LostReasons = make([]LostReasonTotal, 0, len(rows)+1)
	rest := LostReasonTotal{Other: true, Leads: out.WinRate.Lost, Value: out.WinRate.LostValue}
	for _, row := range rows {
		lr := LostReasonTotal{Reason: row.LostReason, Leads: int(row.Leads), Value: moneyFromNumeric(row.Value)}
		rest.Leads -= lr.Leads
		rest.Value -= lr.Value
		out.LostReasons = append(out.LostReasons, lr)
	}
	if rest.Leads > 0 {
		out.LostReasons = append(out.LostReasons, rest)
	}
	return nil
}

func (r *analyticsReader) wonByMonth(ctx context.Context, out *Analytics) error {
	rows, err := r.q.AnalyticsWonByMonth(ctx, queries.AnalyticsWonByMonthParams{FromAt: r.from, ToAt: r.to, OwnerID: r.owner})
	if err != nil {
		return fmt.Errorf("analytics won by month: %w", err)
	}
	got := make(map[string]MonthTotal, len(rows))
	for _, row := range rows {
		m := row.Month.UTC().Format("2006-01")
		got[m] = MonthTotal{Month: m, Leads: int(row.Leads), Value: moneyFromNumeric(row.Value)}
	}
	// Every month of the period is listed, the empty ones too.
	for m := time.Date(r.from.Year(), r.from.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(r.to); m = m.AddDate(0, 1, 0) {
		key := m.Format("2006-01")
		t, ok := got[key]
		if !ok {
			t = MonthTotal{Month: key}
		}
		out.WonByMonth = append(out.WonByMonth, t)
	}
	return nil
}

func (r *analyticsReader) funnel(ctx context.Context, out *Analytics) error {
	rows, err := r.q.AnalyticsFunnel(ctx, queries.AnalyticsFunnelParams{FromAt: r.from, ToAt: r.to, OwnerID: r.owner})
	if err != nil {
		return fmt.Errorf("analytics funnel: %w", err)
	}
	out.Funnel = make([]FunnelStep, 0, len(rows))
	for _, row := range rows {
		s, ok := r.stage(row.StageID)
		if !ok {
			continue
		}
		out.Funnel = append(out.Funnel, FunnelStep{StageRef: stageRef(s), Reached: int(row.Leads)})
	}
	for i := 0; i+1 < len(out.Funnel); i++ {
		out.Funnel[i].ToNext = rate(out.Funnel[i+1].Reached, out.Funnel[i].Reached)
	}
	return nil
}

func (r *analyticsReader) stageDays(ctx context.Context, out *Analytics) error {
	rows, err := r.q.AnalyticsStageDays(ctx, queries.AnalyticsStageDaysParams{FromAt: r.from, ToAt: r.to, OwnerID: r.owner})
	if err != nil {
		return fmt.Errorf("analytics stage days: %w", err)
	}
	got := make(map[int16]queries.AnalyticsStageDaysRow, len(rows))
	for _, row := range rows {
		got[row.StageID] = row
	}
	out.StageDays = []StageDays{}
	for _, s := range r.stages {
		if s.Kind != "open" {
			continue
		}
		d := StageDays{StageRef: stageRef(s)}
		if row, ok := got[s.ID]; ok && row.Intervals > 0 {
			d.Intervals = int(row.Intervals)
			days := row.AvgSeconds / 86400
			d.AvgDays = &days
		}
		out.StageDays = append(out.StageDays, d)
	}
	return nil
}
