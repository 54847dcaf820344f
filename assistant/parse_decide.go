package assistant

import (
	"slices"
	"strings"

	"github.com/crmteam/crm/store"
)

// askFields are the questions about a lead that are not one of its fields.
var askFields = map[string]string{
	"added": "added", "created": "added", "come in": "added", "came in": "added", "entered": "added", "first added": "added",
	"touched": "touched", "last touched": "touched", "last updated": "touched", "updated": "touched", "last contact": "touched",
	"last changed": "touched", "last modified": "touched", "modified": "touched", "last activity": "touched",
	"last touch": "touched", "touch": "touched", "touched base": "touched", "last update": "touched", "last updated on": "touched", "last edited": "touched", "last time": "touched",
	"what changed": "history", "what's changed": "history", "what has changed": "history",
	"changed": "history", "history": "history", "changes": "history", "what happened": "history", "happened": "history",
	"work for": "company", "works for": "company", "works at": "company", "work at": "company",
	"come from": "source", "came from": "source", "comes from": "source", "find": "source", "found": "source",
	"where": "status", "notes": "notes", "note": "notes",
	"own": "owner", "owns": "owner", "owned": "owner", "whose": "owner", "who has": "owner",
	"who is in charge": "owner", "who's in charge": "owner", "whos in charge": "owner", "who is responsible": "owner", "who's responsible": "owner",
	"why": "lost_reason", "why did we lose": "lost_reason", "why was": "lost_reason", "why did": "lost_reason", "reason": "lost_reason",
	"how come": "lost_reason", "why'd": "lost_reason", "whyd": "lost_reason", "what made us lose": "lost_reason",
}

// questionStarts are the words that open a question.
var questionStarts = words("what what's whats which where when who who's whos whose how hows how's why why'd whyd why's is are does do did any tell")

// signals are what a clause holds, for scoring.
type signals struct {
	verb     map[string]float64
	leads    []leadRef
	pronouns int
	stage    *store.Stage
	event    string
	fields   []string
	question bool
	emails   []token // emails that are no lead's
	phones   []token
	amounts  []token
	numbers  []token
	quoted   []token
	// rest are the words nothing recognised (not noise).
	rest []int
}

func (c *clause) signals() signals {
	s := signals{verb: map[string]float64{}}
	for _, it := range c.items {
		for in, w := range it.intents {
			s.verb[in] = max(s.verb[in], w)
		}
		switch {
		case it.lead != nil:
			s.leads = append(s.leads, *it.lead)
		case it.stage != nil:
			s.stage = it.stage
		}
		if it.event != "" || it.phrase != "" && lexicon[it.phrase] != nil && lexicon[it.phrase].isEvent {
			if it.event != "" {
				s.event = it.event
			}
		}
		if it.field != "" {
			s.fields = append(s.fields, it.field)
		}
		if it.pronoun && len(it.intents) == 0 && it.field == "" {
			s.pronouns++
		}
	}
	for i, t := range c.toks {
		if c.used[i] {
			continue
		}
		switch t.kind {
		case tokEmail:
			s.emails = append(s.emails, t)
		case tokPhone:
			s.phones = append(s.phones, t)
		case tokMoney:
			s.amounts = append(s.amounts, t)
		case tokNumber:
			s.numbers = append(s.numbers, t)
		case tokQuoted:
			s.quoted = append(s.quoted, t)
		case tokWord:
			if !noise[t.norm] {
				s.rest = append(s.rest, i)
			}
		case tokPunct:
			if t.text == "?" {
				s.question = true
			}
		}
	}
	if len(c.toks) > 0 && c.toks[0].kind == tokWord && questionStarts[c.toks[0].norm] {
		s.question = true
	}
	return s
}

func (s signals) hasField(f string) bool {
	for _, x := range s.fields {
		if x == f {
			return true
		}
	}
	return false
}

// dataField is the last field named that update_lead_data changes.
func (s signals) dataField() string {
	for i := len(s.fields) - 1; i >= 0; i-- {
		if s.fields[i] != "status" && s.fields[i] != "owner" {
			return s.fields[i]
		}
	}
	return ""
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// decide scores every intent on the clause's signals and fills the winner's
// slots.
func (c *clause) decide() command {
	s := c.signals()
	if cmd, ok := c.choose(s); ok {
		return cmd
	}
	// A pronoun with nothing to stand for is no lead: "how many leads in
	// Interest and what are they worth" asks about the stage.
	hasLead := len(s.leads) > 0 || s.pronouns > 0 && len(c.w.focus) > 0
	lead := b2f(hasLead)
	typedValue := len(s.emails)+len(s.phones)+len(s.amounts) > 0 || len(s.numbers) > 0 && len(s.fields) > 0
	stageOrEvent := s.stage != nil || s.event != ""
	field := s.dataField()
	ask := c.askField(s)
	period := c.period()
	target, _, _ := c.ownerTarget()
	clears := c.clearsOwner()
	owned := c.ownedQuery(s, ask)
	ownerWords := s.verb[intentOwner] > 0 || s.hasField("owner")

	scores := map[string]float64{
		intentMove: s.verb[intentMove] + 3*b2f(stageOrEvent) + 2*lead - 3*b2f(field != "" && s.stage == nil && s.event == "") -
			2*b2f(s.question && s.event == "" && s.verb[intentMove] < 2.5) - 4*b2f(!stageOrEvent) - 2*b2f(!hasLead),
		intentNext:   s.verb[intentNext] + lead - 2*b2f(s.stage != nil),
		intentSet:    s.verb[intentSet] + 3*b2f(field != "") + 2.5*b2f(typedValue) + 1.5*lead - 2*b2f(s.question && !typedValue) - 3*b2f(!hasLead),
		intentAsk:    s.verb[intentAsk] + 2*b2f(ask != "") + 1.5*lead + 2*b2f(s.question) - 3*b2f(typedValue) - 4*b2f(!hasLead),
		intentCreate: s.verb[intentCreate] + 0.5*b2f(len(s.rest) > 0) - 1.5*b2f(len(s.leads) > 0 && len(s.rest) == 0),
		intentDelete: s.verb[intentDelete] + lead,
		intentNote:   s.verb[intentNote] + lead,
		intentFind:   s.verb[intentFind] + 0.5*b2f(hasLead || len(s.rest) > 0) - 1*b2f(field != "") - 2*b2f(s.stage != nil && !hasLead),
		intentList:   s.verb[intentList] + 3*b2f(s.stage != nil) - 3*lead - 2*b2f(s.stage == nil),
		intentStats: s.verb[intentStats] + 2*b2f(s.stage != nil) - 3*lead +
			2*b2f(s.verb[intentStats] > 0 && s.stage != nil && (s.hasField("value") || s.verb[intentList] > 0)),
		intentSummary: s.verb[intentSummary] + 0.5*s.verb[intentStats] - 3*b2f(s.stage != nil) - 3*lead,
		intentBiggest: s.verb[intentBiggest] - 2*lead,
		intentSources: s.verb[intentSources] - 3*lead,
		intentRecent:  s.verb[intentRecent] - 1.5*lead,
		intentHelp:    s.verb[intentHelp],
		intentOwner: b2f(ownerWords) * (s.verb[intentOwner] + 3*b2f(s.hasField("owner") && !s.question) + 2*b2f(target != "" || clears) + 1.5*lead -
			4*b2f(!hasLead && len(s.rest) == 0) - 3*b2f(target == "" && !clears) - 3*b2f(stageOrEvent && s.verb[intentOwner] < 4)),
		intentOwned: 5*b2f(owned != "") - 3*lead,
		intentAdded: 3*b2f(period != "" && !hasLead) + 2*b2f(ask == "added") + 1.5*b2f(s.question) +
			b2f(s.verb[intentCreate] > 0 && s.verb[intentCreate] <= 2) - 4*b2f(period == ""),
	}
	if c.createStart() {
		scores[intentCreate] += 4
	}
	if s.verb[intentMove] >= 2.5 && s.verb[intentNext] == 0 && hasLead && !stageOrEvent && field == "" && c.after("to", "into") != "" {
		// "move Jane to the moon": a move to a stage that does not exist.
		scores[intentMove] += 5
	}
	if s.verb[intentSet] >= 4 {
		// rename
		scores[intentSet] += 3
	}
	best, bestScore := intentUnknown, 2.4
	for _, in := range intentOrder {
		if sc := scores[in]; sc > bestScore {
			best, bestScore = in, sc
		}
	}
	if best == intentStats && s.stage == nil {
		if st := c.eventStage(s); st != nil {
			s.stage = st // "how many deals have we won"
		} else {
			best = intentSummary
		}
	}
	source := ""
	if (best == intentStats || best == intentSummary || best == intentSources) && s.stage == nil && !hasLead {
		// "how many leads came from the website?": one source's leads.
		if source = c.sourceNamed(); source != "" {
			best = intentStats
		}
	}
	// A question never writes: "is Bob lost?", "should we move Tom to
	// proposal?", "is Tom worth 5000?", "I wonder whether we won Aisha" ask
	// where the lead is or what its field says. A request phrased as a
	// question keeps its verb ("can you mark Bob lost?", "could you please
	// give Jane to Ann?").
	if hasLead && c.asksOnly(s) {
		switch best {
		case intentMove:
			best, ask = intentAsk, "status"
		case intentSet:
			best = intentAsk
			if ask == "" {
				ask = field
			}
		case intentOwner:
			best, ask = intentAsk, "owner"
		}
	}
	// A bare lead reference is a lookup: "Jane Doe?".
	if best == intentUnknown && hasLead && len(s.rest) == 0 && !stageOrEvent {
		best = intentFind
	}
	// A lead and a stage with no verb: "Kenji to negotiation", "Priya signed".
	if best == intentUnknown && hasLead && stageOrEvent {
		best = intentMove
	}
	cmd := c.fill(best, s, ask)
	switch best {
	case intentOwned:
		cmd.query = owned
	case intentStats:
		cmd.query = source
	case intentAdded:
		cmd.text = period
	}
	return cmd
}

// politeOpeners open a request phrased as a question: "can you ...",
// "could you ...", "would you ...", "will you ...".
var politeOpeners = words("can could would will")

// doubtWords make a clause a question without a question mark: "I wonder
// whether we won Aisha", "tell me if Aisha is won".
var doubtWords = words("whether wonder if")

// asksOnly says whether the clause asks rather than tells: a question (a
// question mark, a question word first, "should we ...", "whether") that is
// not a request phrased as one ("can you ...", "please").
func (c *clause) asksOnly(s signals) bool {
	asks := s.question
	for i, t := range c.toks {
		if t.kind != tokWord {
			continue
		}
		if t.norm == "please" || t.norm == "pls" {
			return false
		}
		if i == 0 && t.norm == "should" || doubtWords[t.norm] {
			asks = true
		}
	}
	if len(c.toks) > 1 && c.toks[0].kind == tokWord && politeOpeners[c.toks[0].norm] &&
		(c.toks[1].norm == "you" || c.toks[1].norm == "u") {
		return false
	}
	return asks
}

// createStart says whether the clause opens with a verb that adds a lead ("add
// ...", "new lead: ...") that does not add a note.
func (c *clause) createStart() bool {
	for _, it := range c.items {
		if it.from > 2 {
			return false
		}
		if it.intents[intentNote] > 0 {
			return false
		}
		if it.intents[intentCreate] >= 3 {
			return it.to < len(c.toks)
		}
		if len(it.intents) > 0 && it.intents[intentHelp] == 0 {
			return false
		}
	}
	return false
}

// eventStage is the stage an outcome event names ("won": Closed won).
func (c *clause) eventStage(s signals) *store.Stage {
	if s.event == "" {
		return nil
	}
	if m := matchStage(c.w.stages, s.event); m.ok {
		return &m.stage
	}
	return nil
}

// intentOrder breaks ties between equal scores: the safer reading first.
var intentOrder = []string{intentHelp, intentNote, intentDelete, intentCreate, intentMove, intentNext, intentSet,
	intentAsk, intentOwner, intentOwned, intentAdded, intentStats, intentSummary, intentBiggest, intentSources, intentRecent, intentList, intentFind}

// askField is what a question asks about a lead: a field, or when it was added
// or touched, or its history.
func (c *clause) askField(s signals) string {
	for _, it := range c.items {
		if it.ask != "" && it.ask != "status" {
			return it.ask
		}
	}
	if f := s.dataField(); f != "" {
		return f
	}
	if s.hasField("owner") {
		return "owner"
	}
	if s.hasField("status") {
		return "status"
	}
	for _, it := range c.items {
		if it.ask != "" {
			return it.ask
		}
	}
	if s.verb[intentOwner] > 0 {
		return "owner" // "who is in charge of Jane?"
	}
	return ""
}

// refs are the leads the clause acts on: those named, and the last exchange's
// for a pronoun.
func (c *clause) refs(s signals) []leadRef {
	out := c.namedRefs(s)
	// "the Acme Inc deal for Bob Martin": a reference that could be several
	// leads, one of them named on its own, is that one.
	var kept []leadRef
	for i, r := range out {
		dup := false
		for j, o := range out {
			if i == j || len(o.leads) != 1 {
				continue
			}
			if slices.ContainsFunc(r.leads, func(l store.Lead) bool { return l.ID == o.leads[0].ID }) && (len(r.leads) > 1 || j < i) {
				dup = true
			}
		}
		if !dup {
			kept = append(kept, r)
		}
	}
	return kept
}

func (c *clause) namedRefs(s signals) []leadRef {
	var out []leadRef
	for _, it := range c.items {
		switch {
		case it.lead != nil:
			out = append(out, *it.lead)
		case it.pronoun && len(it.intents) == 0 && it.field == "" && len(s.leads) == 0 && len(out) == 0:
			out = append(out, leadRef{text: c.text[c.toks[it.from].start:c.toks[it.to-1].end], leads: c.w.focus, pronoun: true})
		}
	}
	return out
}

func (c *clause) fill(intent string, s signals, ask string) command {
	cmd := command{intent: intent, refs: c.refs(s)}
	if len(cmd.refs) == 0 && needsLead(intent) {
		cmd.refs = c.unknownRef(s)
	}
	switch intent {
	case intentMove:
		cmd.stage = s.stage
		if cmd.stage == nil {
			cmd.stage = c.eventStage(s)
			if c.bareClosed() {
				// "move Grace to closed": won or lost? The tool asks.
				cmd.stage, cmd.stageText = nil, "closed"
			}
		}
		if cmd.stage == nil {
			cmd.stageText = c.after("to", "into", "as", "in")
			if (s.event == "won" || s.event == "lost") && cmd.stageText == "" {
				// Several won (or lost) stages: the tool asks which.
				cmd.stageText = s.event
			}
		}
		name := ""
		if cmd.stage != nil {
			name = cmd.stage.Name
		}
		switch c.outcomeKind(s, name) {
		case "lost":
			cmd.reason = c.lostReason()
		case "won":
			cmd.value = c.finalValue(s)
		}
	case intentList, intentStats:
		cmd.stage = s.stage
	case intentSet:
		c.fillSet(&cmd, s)
	case intentOwner:
		target, from, to := c.ownerTarget()
		if c.clearsOwner() {
			target, from, to, cmd.clear = "", 0, 0, true
		}
		cmd.intent, cmd.field, cmd.value = intentSet, "owner", target
		cmd.refs = slices.DeleteFunc(cmd.refs, func(r leadRef) bool {
			for _, it := range c.items {
				if it.lead != nil && it.lead.text == r.text && it.from >= from && it.to <= to {
					return true
				}
			}
			return false
		})
		if len(cmd.refs) == 0 {
			cmd.refs = c.unknownRefBefore(s, from)
		}
	case intentAsk:
		cmd.field = ask
		if cmd.field == "" && (s.stage != nil || s.event != "") {
			cmd.field = "status" // "is Aisha still in negotiation?"
		}
		if cmd.field == "" {
			cmd.field = "all"
		}
	case intentNote:
		cmd.text = c.noteText()
	case intentFind:
		cmd.query = c.findQuery()
	case intentCreate:
		cmd.args = c.createArgs(s)
	}
	return cmd
}

// unknownRef is the reference to a lead no lead matched ("move zebulon to
// won"): the words nothing recognised, for the tool to say it found none. "all"
// stands for every lead (the delete tool refuses it).
func (c *clause) unknownRef(s signals) []leadRef {
	for _, t := range c.toks {
		if t.kind == tokWord && (t.norm == "all" || t.norm == "every" || t.norm == "everyone" || t.norm == "everything") {
			return []leadRef{{text: "all"}}
		}
	}
	if len(s.rest) == 0 {
		return nil
	}
	var ws []string
	for _, i := range s.rest {
		ws = append(ws, c.toks[i].text)
	}
	return []leadRef{{text: strings.Join(ws, " ")}}
}

// unknownRefBefore is unknownRef of the words before token end: the lead of
// "give zebulon to Ann".
func (c *clause) unknownRefBefore(s signals, end int) []leadRef {
	var ws []string
	for _, i := range s.rest {
		if i < end && !c.inItem(i) {
			ws = append(ws, c.toks[i].text)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	return []leadRef{{text: strings.Join(ws, " ")}}
}

// bareClosed says whether the clause names "closed" as a stage on its own
// ("to closed"), which could be won or lost.
func (c *clause) bareClosed() bool {
	for i, t := range c.toks {
		if t.kind == tokWord && t.norm == "closed" && i > 0 && slicesContains([]string{"to", "as", "into", "in"}, c.toks[i-1].norm) &&
			(i+1 == len(c.toks) || c.toks[i+1].kind != tokWord) {
			return true
		}
	}
	return false
}

// after returns the text after the last of the words given (outside leads), as
// typed; "" when none of them occurs.
func (c *clause) after(ws ...string) string {
	for i := len(c.toks) - 1; i >= 0; i-- {
		t := c.toks[i]
		if t.kind == tokWord && !c.inLead(i) && slicesContains(ws, t.norm) && i+1 < len(c.toks) {
			return strings.TrimSpace(c.text[c.toks[i+1].start:c.toks[len(c.toks)-1].end])
		}
	}
	return ""
}

func (c *clause) inLead(i int) bool {
	for _, it := range c.items {
		if it.lead != nil && i >= it.from && i < it.to {
			return true
		}
	}
	return false
}

func slicesContains(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// fillSet finds the field and the value of a change.
func (c *clause) fillSet(cmd *command, s signals) {
	field := s.dataField()
	if s.verb[intentSet] >= 4 {
		field = "name" // rename
	}
	if field == "" && s.hasField("status") && s.stage != nil {
		cmd.intent, cmd.stage = intentMove, s.stage
		return
	}
	if v, ok := c.typedFor(field, s); ok {
		cmd.field, cmd.value = v[0], v[1]
		return
	}
	if field == "" {
		field = c.w.focusField
	}
	if field == "" && s.stage == nil && len(s.amounts)+len(s.numbers) == 1 {
		// "bump lukas to 35,500": an amount with no field named is the value.
		amt := append(s.amounts, s.numbers...)[0]
		if _, err := readAmount(amt.text); err == nil || amt.bad {
			cmd.field, cmd.value = "value", amt.amountText()
			return
		}
	}
	if field == "" || field == "status" {
		if s.stage != nil {
			cmd.intent, cmd.stage = intentMove, s.stage
		}
		return
	}
	cmd.field = field
	start := c.valueStart()
	end := len(c.toks)
	for end > start && (c.toks[end-1].kind == tokWord && trailing[c.toks[end-1].norm] || c.toks[end-1].kind == tokPunct) {
		end--
	}
	if start < end {
		if c.toks[start].kind == tokQuoted && end == start+1 {
			cmd.value = c.toks[start].text
		} else {
			cmd.value = strings.TrimSpace(c.text[c.toks[start].start:c.toks[end-1].end])
		}
	}
	// Leads named inside the value ("company to Brightside Clinics") are text.
	var refs []leadRef
	for _, it := range c.items {
		if it.lead != nil && it.from < start {
			refs = append(refs, *it.lead)
		}
	}
	if len(refs) > 0 {
		cmd.refs = refs
	}
}

// valueStart is where a text value begins: after "to", "is", ":" or "=" that
// follows the first lead (or pronoun) and field named, else right after them.
func (c *clause) valueStart() int {
	anchor, haveLead, haveField := 0, false, false
	for _, it := range c.items {
		switch {
		case (it.lead != nil || it.pronoun && len(it.intents) == 0 && it.field == "") && !haveLead:
			haveLead, anchor = true, max(anchor, it.to)
		case it.field != "" && !haveField:
			haveField, anchor = true, max(anchor, it.to)
		case it.intents[intentSet] >= 4: // rename
			anchor = max(anchor, it.to)
		}
	}
	for i := anchor; i < len(c.toks); i++ {
		t := c.toks[i]
		if t.kind == tokWord && (t.norm == "to" || t.norm == "is" || t.norm == "as" || t.norm == "be") || t.kind == tokPunct && (t.text == ":" || t.text == "=" || t.text == ">") {
			j := i + 1
			for j < len(c.toks) && (c.toks[j].kind == tokPunct && c.toks[j].text == ">" || c.toks[j].kind == tokWord && (c.toks[j].norm == "now" || c.toks[j].norm == "a" || c.toks[j].norm == "an" || c.toks[j].norm == "the")) {
				j++
			}
			return j
		}
		if t.kind == tokWord && t.norm == "now" {
			continue
		}
		if t.kind != tokPoss && !(t.kind == tokWord && (t.norm == "new" || t.norm == "s")) {
			break
		}
	}
	for anchor < len(c.toks) && (c.toks[anchor].kind == tokPoss || c.toks[anchor].kind == tokWord && slicesContains([]string{"now", "new", "a", "an", "the"}, c.toks[anchor].norm)) {
		anchor++
	}
	return anchor
}

// trailing are words after a value that are not part of it.
var trailing = words("now please pls actually thanks thx instead asap too then")

// typedFor finds a typed value for field (or, when field is "", a value whose
// type says its field: an email, a phone, an amount).
func (c *clause) typedFor(field string, s signals) ([2]string, bool) {
	switch {
	case (field == "email" || field == "") && len(s.emails) > 0:
		return [2]string{"email", s.emails[len(s.emails)-1].text}, true
	case (field == "phone" || field == "") && len(s.phones) > 0:
		return [2]string{"phone", s.phones[len(s.phones)-1].text}, true
	case field == "phone" && len(s.numbers) > 0:
		return [2]string{"phone", s.numbers[len(s.numbers)-1].text}, true
	case (field == "value" || field == "" && (c.w.focusField == "value" || c.w.focusField == "")) && len(s.amounts) > 0:
		return [2]string{"value", s.amounts[len(s.amounts)-1].amountText()}, true
	case field == "value" && len(s.numbers) > 0:
		return [2]string{"value", s.numbers[len(s.numbers)-1].amountText()}, true
	case field == "" && c.w.focusField == "value" && len(s.numbers) > 0:
		return [2]string{"value", s.numbers[len(s.numbers)-1].amountText()}, true
	case field == "" && c.w.focusField == "phone" && len(s.numbers) > 0:
		return [2]string{"phone", s.numbers[len(s.numbers)-1].text}, true
	}
	return [2]string{}, false
}

// noteText is the text of a note: after ":" or "-", else after the lead.
func (c *clause) noteText() string {
	for i, t := range c.toks {
		if t.kind == tokPunct && (t.text == ":" || t.text == "-" || t.text == "—" || t.text == "–") && i+1 < len(c.toks) {
			return strings.TrimSpace(c.text[c.toks[i+1].start:c.toks[len(c.toks)-1].end])
		}
	}
	last := -1
	for _, it := range c.items {
		if it.lead != nil || len(it.intents) > 0 && it.intents[intentNote] > 0 {
			last = max(last, it.to)
		}
	}
	if last >= 0 && last < len(c.toks) {
		i := last
		for i < len(c.toks) && c.toks[i].kind == tokWord && (c.toks[i].norm == "that" || c.toks[i].norm == "saying" || c.toks[i].norm == "to" || c.toks[i].norm == "on" || c.toks[i].norm == "for") {
			i++
		}
		if i < len(c.toks) {
			return strings.TrimSpace(c.text[c.toks[i].start:c.toks[len(c.toks)-1].end])
		}
	}
	return ""
}

// findQuery is what a lookup looks for: the lead named, else the words after
// the verb.
func (c *clause) findQuery() string {
	for _, it := range c.items {
		if it.lead != nil {
			return it.lead.text
		}
	}
	start := 0
	for _, it := range c.items {
		if it.intents[intentFind] > 0 || it.intents[intentList] > 0 {
			start = max(start, it.to)
		}
	}
	for start < len(c.toks) && c.toks[start].kind == tokWord && (noise[c.toks[start].norm] || c.toks[start].norm == "named" || c.toks[start].norm == "called") {
		start++
	}
	end := len(c.toks)
	for end > start && (c.toks[end-1].kind == tokPunct || c.toks[end-1].kind == tokWord && trailing[c.toks[end-1].norm]) {
		end--
	}
	if start >= end {
		return ""
	}
	return strings.TrimSpace(c.text[c.toks[start].start:c.toks[end-1].end])
}
