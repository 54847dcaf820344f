package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmteam/crm/store"
)

// Money formats cents as dollars with thousands separators, without the cents
// when there are none: "$75,000", "$1,999.50".
func Money(m store.Money) string {
	neg := m < 0
	if neg {
		m = -m
	}
	dollars := groupThousands(strconv.FormatInt(int64(m/100), 10))
	if c := int64(m % 100); c != 0 {
		dollars += fmt.Sprintf(".%02d", c)
	}
	if neg {
		return "-$" + dollars
	}
	return "$" + dollars
}

// MoneyShort formats an amount for tight spaces: "$75k", "$1.2M", "$950".
func MoneyShort(m store.Money) string {
	d := float64(m) / 100
	switch {
	case d >= 1e9:
		return "$" + trimZero(fmt.Sprintf("%.1f", d/1e9)) + "B"
	case d >= 1e6:
		return "$" + trimZero(fmt.Sprintf("%.1f", d/1e6)) + "M"
	case d >= 1e4:
		return "$" + strconv.FormatInt(int64(d/1e3+0.5), 10) + "k"
	case d >= 1e3:
		return "$" + trimZero(fmt.Sprintf("%.1f", d/1e3)) + "k"
	default:
		return Money(m - m%100)
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	lead := len(digits) % 3
	if lead > 0 {
		b.WriteString(digits[:lead])
	}
	for i := lead; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// MoneyInput formats an amount for a form field: "75000", "1999.50", "" for 0.
func MoneyInput(m store.Money) string {
	if m == 0 {
		return ""
	}
	if m%100 == 0 {
		return strconv.FormatInt(int64(m/100), 10)
	}
	return m.String()
}

// Ago says how long before now t was, briefly: "just now", "5 min ago",
// "3 h ago", "yesterday", "4 days ago", then the date ("3 Feb", "3 Feb 2024").
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	case t.Year() == now.Year():
		return t.Format("2 Jan")
	default:
		return t.Format("2 Jan 2006")
	}
}

// Timestamp is the full time for a tooltip or a form: "3 Feb 2026, 14:05 UTC".
func Timestamp(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 MST") }

// Plural returns "1 lead", "3 leads".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// pluralWord picks the word for n: "lead" or "leads".
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// boardCount is the number of leads the board's columns hold (all of them, not
// only the cards loaded).
func boardCount(b store.Board) int {
	n := 0
	for _, c := range b.Columns {
		n += c.Count
	}
	return n
}

// openValue is the total value of the columns whose stage is still open.
func openValue(b store.Board) store.Money {
	var m store.Money
	for _, c := range b.Columns {
		if c.Stage.Kind == "open" {
			m += c.Total
		}
	}
	return m
}
