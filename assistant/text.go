package assistant

import (
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/crmteam/crm/store"
)

// leadLabel names a lead the way replies do: "Jane Doe (Example Corp)".
func leadLabel(l store.Lead) string {
	if l.Company == "" {
		return l.Name
	}
	return l.Name + " (" + l.Company + ")"
}

// leadDetail names a lead with its stage and value, for lists of candidates and
// confirmations: "Jane Doe (Example Corp, Interest, $75,000)".
func leadDetail(l store.Lead) string {
	parts := []string{}
	if l.Company != "" {
		parts = append(parts, l.Company)
	}
	parts = append(parts, l.Status)
	if l.Value > 0 {
		parts = append(parts, formatMoney(l.Value))
	}
	return l.Name + " (" + strings.Join(parts, ", ") + ")"
}

// formatMoney writes an amount for people: "$20,000", "$1,999.50".
func formatMoney(m store.Money) string {
	whole := int64(m / 100)
	cents := int64(m % 100)
	s := strconv.FormatInt(whole, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := "$" + b.String()
	if cents != 0 {
		out += "." + strconv.FormatInt(cents/10, 10) + strconv.FormatInt(cents%10, 10)
	}
	return out
}

var amountRE = regexp.MustCompile(`(?i)^(-)?\s*(?:usd|eur|gbp|[$€£])?\s*(-)?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*(k|m|mm|bn|thousand|million|grand)?\s*(?:usd|eur|gbp|dollars|bucks|[$€£])?$`)

// parseAmount reads a deal value the way people write it: "20000", "$20,000",
// "20k", "1.5m", "2 million", "19999.99". A negative amount, or one larger
// than a deal value can be, is refused with a message saying so.
func parseAmount(s string) (store.Money, error) {
	m, err := readAmount(s)
	switch {
	case err != nil:
		return 0, err
	case m < 0:
		return 0, errors.New("must not be negative: a deal value is 0 or more")
	case m > store.MaxMoney:
		return 0, errors.New("is too large: a deal value is at most " + formatMoney(store.MaxMoney))
	}
	return m, nil
}

// readAmount reads an amount as parseAmount does, but any sign and size (up
// to what an int64 of cents holds), so the tokenizer keeps "-5k" one amount
// for the tool to refuse rather than a dash and 5k.
func readAmount(s string) (store.Money, error) {
	s = strings.TrimSpace(s)
	m := amountRE.FindStringSubmatch(s)
	if m == nil || m[1] != "" && m[2] != "" {
		return 0, errors.New("is not an amount like 20000, $20,000 or 20k")
	}
	num := strings.ReplaceAll(m[3], ",", "")
	if m[4] != "" {
		num += "." + m[4]
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errors.New("is not an amount like 20000, $20,000 or 20k")
	}
	switch strings.ToLower(m[5]) {
	case "k", "thousand", "grand":
		r.Mul(r, big.NewRat(1000, 1))
	case "m", "mm", "million":
		r.Mul(r, big.NewRat(1_000_000, 1))
	case "bn":
		r.Mul(r, big.NewRat(1_000_000_000, 1))
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() {
		return 0, errors.New("must have at most two decimals")
	}
	if !r.Num().IsInt64() {
		return 0, errors.New("is too large: a deal value is at most " + formatMoney(store.MaxMoney))
	}
	cents := store.Money(r.Num().Int64())
	if m[1] != "" || m[2] != "" {
		cents = -cents
	}
	return cents, nil
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// joinAnd joins items as "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// joinOr joins items as "a, b or c".
func joinOr(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
