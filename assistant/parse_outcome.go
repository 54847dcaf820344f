package assistant

import (
	"strings"
)

// Won and lost as outcomes: the reason a lead was lost ("we lost Bob, went
// with a competitor", "mark Bob as lost: no budget") and the final value of a
// won deal ("we won Acme for 25k"), read from the clause that moves it.

// reasonEvents are the loss events that say why as well ("went with a
// competitor"): with no other reason given, the event is the reason.
var reasonEvents = words("competitor elsewhere else interested cold dark ghosted budget price expensive")

// reasonStarts open the reason of a loss: "because", "due to", "reason".
var reasonStarts = []string{"because of", "because", "cause", "bc", "due to", "reason", "reason is", "the reason", "since", "as they", "as we", "they said", "said"}

// lostReason is the reason a clause gives for a loss, as typed; "" when none.
func (c *clause) lostReason() string {
	// The reason follows the lead and the outcome: after ":", a dash, a comma,
	// or a word such as "because".
	after, named := 0, false
	for _, it := range c.items {
		named = named || it.lead != nil
	}
	for _, it := range c.items {
		if it.lead != nil || it.stage != nil || it.event != "" && !isReasonEvent(it.phrase) || !named && it.pronoun && len(it.intents) == 0 {
			after = max(after, it.to)
		}
	}
	if after == 0 {
		return ""
	}
	start := -1
	for i := after - 1; i < len(c.toks) && start < 0; i++ {
		if i < 0 {
			continue
		}
		t := c.toks[i]
		switch {
		case t.kind == tokPunct && strings.Contains(":,;-—–(", t.text) && i >= after:
			start = i + 1
		case t.kind == tokWord && i >= after:
			for _, p := range reasonStarts {
				n := len(strings.Fields(p))
				if ws, ok := c.words(i, min(i+n, len(c.toks))); ok && ws == p {
					start = i + n
					break
				}
			}
		}
	}
	if start >= 0 {
		if r := c.span(start, len(c.toks)); r != "" {
			return r
		}
	}
	// "we lost Bob to a competitor": the event says why.
	for _, it := range c.items {
		if it.event == "lost" && isReasonEvent(it.phrase) {
			return c.span(it.from, len(c.toks))
		}
	}
	return ""
}

func isReasonEvent(phrase string) bool {
	for _, w := range strings.Fields(phrase) {
		if reasonEvents[w] {
			return true
		}
	}
	return false
}

// span is the text of tokens [from, to) as typed, without the punctuation and
// filler words at its ends; "" when nothing is left.
func (c *clause) span(from, to int) string {
	for from < to && (c.toks[from].kind == tokPunct || c.toks[from].kind == tokWord && (c.toks[from].norm == "and" || c.toks[from].norm == "so" || c.toks[from].norm == "just")) {
		from++
	}
	for to > from && (c.toks[to-1].kind == tokPunct && c.toks[to-1].text != ")" || c.toks[to-1].kind == tokWord && trailing[c.toks[to-1].norm]) {
		to--
	}
	if from >= to {
		return ""
	}
	return strings.TrimSpace(c.text[c.toks[from].start:c.toks[to-1].end])
}

// finalValue is the amount a won deal closed at ("won Acme for 25k", "closed
// Jane at 18,000"), as the tools take it; "" when none.
func (c *clause) finalValue(s signals) string {
	if len(s.amounts) > 0 {
		return s.amounts[len(s.amounts)-1].amountText()
	}
	for i, t := range c.toks {
		if t.kind == tokNumber && !c.used[i] && i > 0 && c.toks[i-1].kind == tokWord &&
			slicesContains([]string{"for", "at", "of", "worth", "value", "valued"}, c.toks[i-1].norm) {
			return t.amountText()
		}
	}
	return ""
}

// eventKind is the kind of stage the clause's outcome names: "won", "lost",
// or "" (the stage it names, else none).
func (c *clause) outcomeKind(s signals, st string) string {
	for _, x := range c.w.stages {
		if x.Name == st {
			return x.Kind
		}
	}
	if s.event == "won" || s.event == "lost" {
		return s.event
	}
	return ""
}
