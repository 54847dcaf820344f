package assistant

import (
	"strconv"
	"strings"
	"time"
)

// Questions about a part of the pipeline: the leads of one source ("how many
// leads came from the website?") and the leads added in a period ("who was
// added today?").

// period is the span of days a clause names, canonical: "today", "yesterday",
// "this week", "last week", "this month", "last 30 days"; "" when none.
func (c *clause) period() string {
	ws := make([]string, len(c.toks))
	for i, t := range c.toks {
		ws[i] = t.norm
	}
	at := func(i int) string {
		if i >= 0 && i < len(ws) {
			return ws[i]
		}
		return ""
	}
	for i, w := range ws {
		switch {
		case w == "today" || w == "tonight":
			return "today"
		case w == "yesterday":
			return "yesterday"
		case (w == "this" || w == "current") && (at(i+1) == "week" || at(i+1) == "month"):
			return "this " + at(i+1)
		case (w == "last" || w == "past" || w == "previous") && at(i+1) == "week":
			if w == "past" {
				return "last 7 days"
			}
			return "last week"
		case (w == "last" || w == "past") && at(i+1) == "month":
			return "last 30 days"
		case (w == "last" || w == "past") && c.toks[min(i+1, len(c.toks)-1)].kind == tokNumber && at(i+2) == "days":
			if n, err := strconv.Atoi(at(i + 1)); err == nil && n >= 1 && n <= 366 {
				return "last " + strconv.Itoa(n) + " days"
			}
		}
	}
	return ""
}

// periodRange is the time span [from, to) of a period, in UTC, at now.
func periodRange(p string, now time.Time) (from, to time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	tomorrow := day.AddDate(0, 0, 1)
	monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	switch p {
	case "today":
		return day, tomorrow
	case "yesterday":
		return day.AddDate(0, 0, -1), day
	case "this week":
		return monday, tomorrow
	case "last week":
		return monday.AddDate(0, 0, -7), monday
	case "this month":
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), tomorrow
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "last "), " days")); err == nil {
		return now.AddDate(0, 0, -n), now.Add(time.Second)
	}
	return day, tomorrow
}

// sourceNamed is the source a clause names, as typed: a known source ("the
// website", "referrals"), or the words after a source phrase ("came in through
// the spring fair"); "" when none.
func (c *clause) sourceNamed() string {
	for size := 3; size >= 1; size-- {
		for i := 0; i+size <= len(c.toks); i++ {
			ws, ok := c.words(i, i+size)
			if !ok || noise[c.toks[i].norm] || c.toks[i].norm == "our" {
				continue
			}
			if knownSources[ws] || knownSources[strings.TrimSuffix(ws, "s")] {
				return c.text[c.toks[i].start:c.toks[i+size-1].end]
			}
		}
	}
	start := -1
	for _, it := range c.items {
		if it.field == "source" {
			start = it.to
		}
	}
	for i, t := range c.toks {
		if t.kind == tokWord && (t.norm == "via" || t.norm == "through" || t.norm == "thru") {
			start = i + 1
		}
	}
	if start < 0 {
		return ""
	}
	for start < len(c.toks) && c.toks[start].kind == tokWord && (noise[c.toks[start].norm] || c.toks[start].norm == "our") {
		start++
	}
	end := len(c.toks)
	for end > start && (c.toks[end-1].kind == tokPunct || c.toks[end-1].kind == tokWord && (trailing[c.toks[end-1].norm] || noise[c.toks[end-1].norm])) {
		end--
	}
	if start >= end {
		return ""
	}
	return strings.TrimSpace(c.text[c.toks[start].start:c.toks[end-1].end])
}
