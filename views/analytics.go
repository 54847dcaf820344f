package views

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/crmteam/crm/store"
)

// AnalyticsPath is the analytics page, and with Accept: application/json (or
// a bearer token) its numbers as JSON.
const AnalyticsPath = "/analytics"

// AnalyticsData is what the analytics page shows.
type AnalyticsData struct {
	A store.Analytics
}

// chartBar is one bar of a horizontal bar chart: a label, a length as a share
// of the chart's longest bar (0 to 1), and the text written next to it, so
// the chart reads without colour.
type chartBar struct {
	Label string
	Share float64
	Text  string
	// Hatched draws the bar with the hatch pattern: a second series (the
	// forecast next to the pipeline, lost next to won).
	Hatched bool
}

// chartRow is one row of a chart: a label and one or two bars.
type chartRow struct {
	Label string
	Bars  []chartBar
}

// chart is a horizontal bar chart drawn as SVG: rows of a label above its
// bars. Bar lengths are percentages of the chart's width, so the text keeps
// its size at any width.
type chart struct {
	ID, Title, Desc string
	Rows            []chartRow
	// Legend names the plain and the hatched series, when there are two.
	Legend [2]string
}

const (
	chartRowLabelH = 18 // label line
	chartBarH      = 18
	chartBarGap    = 4
	chartRowGap    = 14
)

func (c chart) rowHeight(r chartRow) int {
	return chartRowLabelH + len(r.Bars)*(chartBarH+chartBarGap) + chartRowGap
}

// Height is the SVG's height in pixels.
func (c chart) Height() int {
	h := 4
	if c.Legend[0] != "" {
		h += chartRowLabelH + chartRowGap
	}
	for _, r := range c.Rows {
		h += c.rowHeight(r)
	}
	return h
}

// placedBar is a bar with its place in the SVG.
type placedBar struct {
	chartBar
	Y     int
	Width string // a percentage of the chart's width
	TextX string
}

type placedRow struct {
	Label  string
	LabelY int
	Bars   []placedBar
}

// barSpace is the share of the width bars may take; the rest keeps room for
// the value written after the longest bar.
const barSpace = 0.55

// Placed lays the rows out top to bottom.
func (c chart) Placed() []placedRow {
	y := 4
	if c.Legend[0] != "" {
		y += chartRowLabelH + chartRowGap
	}
	out := make([]placedRow, len(c.Rows))
	for i, r := range c.Rows {
		pr := placedRow{Label: r.Label, LabelY: y + 13}
		by := y + chartRowLabelH
		for _, b := range r.Bars {
			w := math.Max(0, math.Min(1, b.Share)) * barSpace * 100
			if b.Share > 0 && w < 0.5 {
				w = 0.5 // a sliver, so a small value is not drawn as none
			}
			pr.Bars = append(pr.Bars, placedBar{chartBar: b, Y: by, Width: pct(w), TextX: pct(w + 1.2)})
			by += chartBarH + chartBarGap
		}
		out[i] = pr
		y += c.rowHeight(r)
	}
	return out
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

// share is v/top, 0 when top is 0.
func share(v, top float64) float64 {
	if top <= 0 {
		return 0
	}
	return v / top
}

// Percent formats a share 0..1 as "33.3%", "—" for nil.
func Percent(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(math.Round(*r*1000)/10, 'f', -1, 64) + "%"
}

// Days formats a number of days as "22.5 days", "—" for nil.
func Days(d *float64) string {
	if d == nil {
		return "—"
	}
	v := math.Round(*d*10) / 10
	if v == 1 {
		return "1 day"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " days"
}

// MonthName is "Sep 2026" for "2026-09".
func MonthName(m string) string {
	t, err := time.Parse("2006-01", m)
	if err != nil {
		return m
	}
	return t.Format("Jan 2006")
}

func pipelineChart(a store.Analytics) chart {
	var top store.Money
	for _, p := range a.Pipeline {
		top = max(top, p.Value)
	}
	c := chart{ID: "chart-pipeline", Title: "Open pipeline by stage",
		Desc:   "Value of the open leads in each stage, and that value weighted by the stage's win probability (the forecast).",
		Legend: [2]string{"Value", "Forecast (hatched)"}}
	for _, p := range a.Pipeline {
		c.Rows = append(c.Rows, chartRow{Label: fmt.Sprintf("%s · %s · %d%%", p.Name, Plural(p.Leads, "lead", "leads"), p.Probability), Bars: []chartBar{
			{Label: "Value", Share: share(float64(p.Value), float64(top)), Text: Money(p.Value)},
			{Label: "Forecast", Share: share(float64(p.Forecast), float64(top)), Text: "forecast " + Money(p.Forecast), Hatched: true},
		}})
	}
	return c
}

func winChart(a store.Analytics) chart {
	w := a.WinRate
	total := float64(w.Won + w.Lost)
	return chart{ID: "chart-win", Title: "Won and lost in the period",
		Desc: "Leads closed in the period, won and lost, with the win rate.",
		Rows: []chartRow{
			{Label: "Won", Bars: []chartBar{{Label: "Won", Share: share(float64(w.Won), total), Text: fmt.Sprintf("%d · %s", w.Won, Money(w.WonValue))}}},
			{Label: "Lost", Bars: []chartBar{{Label: "Lost", Share: share(float64(w.Lost), total), Text: fmt.Sprintf("%d · %s", w.Lost, Money(w.LostValue)), Hatched: true}}},
		}}
}

// ReasonLabel is how a lost reason is shown.
func ReasonLabel(r store.LostReasonTotal) string {
	switch {
	case r.Other:
		return "Other reasons"
	case r.Reason == "":
		return "No reason given"
	}
	return r.Reason
}

func lostChart(a store.Analytics) chart {
	top := 0
	for _, r := range a.LostReasons {
		top = max(top, r.Leads)
	}
	c := chart{ID: "chart-lost", Title: "Lost reasons", Desc: "Leads lost in the period by the reason given."}
	for _, r := range a.LostReasons {
		c.Rows = append(c.Rows, chartRow{Label: ReasonLabel(r), Bars: []chartBar{
			{Label: ReasonLabel(r), Share: share(float64(r.Leads), float64(top)), Text: fmt.Sprintf("%s · %s", Plural(r.Leads, "lead", "leads"), Money(r.Value)), Hatched: true},
		}})
	}
	return c
}

func funnelChart(a store.Analytics) chart {
	top := 0
	for _, s := range a.Funnel {
		top = max(top, s.Reached)
	}
	c := chart{ID: "chart-funnel", Title: "Funnel", Desc: "Leads that reached each stage in the period (or a later one), and the share of them that went on to the next."}
	for _, s := range a.Funnel {
		text := Plural(s.Reached, "lead", "leads")
		if s.ToNext != nil {
			text += " · " + Percent(s.ToNext) + " on"
		}
		c.Rows = append(c.Rows, chartRow{Label: s.Name, Bars: []chartBar{{Label: s.Name, Share: share(float64(s.Reached), float64(top)), Text: text}}})
	}
	return c
}

func daysChart(a store.Analytics) chart {
	top := 0.0
	for _, d := range a.StageDays {
		if d.AvgDays != nil {
			top = max(top, *d.AvgDays)
		}
	}
	c := chart{ID: "chart-days", Title: "Average days in each stage", Desc: "Average time leads spent in each open stage, over the stays that ended in the period."}
	for _, d := range a.StageDays {
		v := 0.0
		if d.AvgDays != nil {
			v = *d.AvgDays
		}
		text := Days(d.AvgDays)
		if d.Intervals > 0 {
			text += " · " + Plural(d.Intervals, "stay", "stays")
		}
		c.Rows = append(c.Rows, chartRow{Label: d.Name, Bars: []chartBar{{Label: d.Name, Share: share(v, top), Text: text}}})
	}
	return c
}

func monthsChart(a store.Analytics) chart {
	var top store.Money
	for _, m := range a.WonByMonth {
		top = max(top, m.Value)
	}
	c := chart{ID: "chart-months", Title: "Won value per month", Desc: "Value of the leads won in each month of the period (UTC)."}
	for _, m := range a.WonByMonth {
		c.Rows = append(c.Rows, chartRow{Label: MonthName(m.Month), Bars: []chartBar{
			{Label: MonthName(m.Month), Share: share(float64(m.Value), float64(top)), Text: fmt.Sprintf("%s · %s", Money(m.Value), Plural(m.Leads, "lead", "leads"))},
		}})
	}
	return c
}

// OwnerLabel is an owner as the page names them.
func OwnerLabel(o store.AnalyticsOwner) string {
	if o.Email == "" {
		return o.Name
	}
	return o.Name + " (" + o.Email + ")"
}

// periodText says which period and owner the numbers are of.
func periodText(a store.Analytics) string {
	day := func(s string) string {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return s
		}
		return t.Format("2 Jan 2006")
	}
	who := "every owner"
	if a.Owner != nil {
		who = "the leads of " + OwnerLabel(*a.Owner)
	}
	return "From " + day(a.From) + " to " + day(a.To) + " (both included), " + who + "."
}
