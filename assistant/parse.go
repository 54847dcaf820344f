package assistant

import (
	"slices"
	"strings"

	"github.com/crmteam/crm/store"
)

// The offline parser. It reads a message in three passes:
//  1. tokenize: typed pieces first (emails, phones, amounts, numbers, quoted
//     text), then words;
//  2. recognise: lexicon phrases (verbs, outcome events, field words,
//     pronouns), stage references, and lead references resolved against the
//     leads the message may name (full name, first or last name, company,
//     email; forgiving typos and accents);
//  3. score every intent on what was found and take the best; its slots are
//     filled from the pieces, not from capture groups.
// It needs no database: world carries the stages, the candidate leads and the
// conversation's context, so the corpus tests run on a fixture.

// world is what the parser knows besides the message.
type world struct {
	stages []store.Stage
	// leads are the leads the message may name (offline: the leads matching
	// its words; tests: the fixture).
	leads []store.Lead
	// focus is what the last exchange was about: pronouns stand for it.
	focus      []store.Lead
	focusField string
	// choice are the candidates of an open "which one do you mean?".
	choice []store.Lead
	// users are the app's accounts (the owners a message may name).
	users []store.User
}

// leadRef is a reference to a lead in a message.
type leadRef struct {
	text string
	// leads are the leads it may mean: one when resolved, several when
	// ambiguous, none when no lead matches.
	leads   []store.Lead
	pronoun bool
}

func (r leadRef) resolved() bool { return len(r.leads) == 1 }

// command is what the parser understood of one clause.
type command struct {
	intent string
	refs   []leadRef
	stage  *store.Stage
	// stageText is the stage as typed when it names none (for the error).
	stageText string
	field     string
	value     string
	args      createArgs
	query     string
	text      string
	// reason is why a lead moved to a lost stage was lost, as typed; value
	// (above) is a won deal's final value.
	reason string
	// clear says an empty value empties the field: "unassign Bob" gives Bob
	// to nobody.
	clear bool
}

// item is a recognised piece of a clause: a span of tokens with its roles.
type item struct {
	from, to int // token span [from, to)
	// phrase is the lexicon phrase matched, in normalized words.
	phrase string
	// intents are the verbs' intents and weights.
	intents map[string]float64
	event   string // an outcome event's stage ("won", "lost" or a stage name)
	field   string
	pronoun bool
	ask     string
	stage   *store.Stage
	lead    *leadRef
	// user is an account the clause names (an owner), as typed.
	user string
}

// clause is a message (or part of one) being parsed.
type clause struct {
	w     *world
	text  string
	toks  []token
	items []item
	// used marks the tokens an item covers.
	used []bool
}

// parseMessage understands a message: one command, or several when the
// message strings commands together ("move Jane to won, Bob to lost").
func parseMessage(msg string, w *world) []command {
	toks, text := tokenizeText(msg)
	if len(toks) == 0 {
		return []command{{intent: intentHelp}}
	}
	if c := answerCommand(msg); c != nil {
		return []command{*c}
	}
	whole := parseClause(text, toks, w)
	if parts := splitClauses(text, toks); len(parts) > 1 {
		var cmds []command
		ctx := *w
		// added is the name of the lead a create of this message added, while
		// the commands after it are about that lead.
		added := ""
		for i, p := range parts {
			if i > 0 && p[0].kind == tokWord && possessives[p[0].norm] && len(cmds) > 0 && cmds[len(cmds)-1].intent == intentCreate {
				// "add Bob Stone from Acme, his phone is ...": details, not a command.
				cmds = nil
				break
			}
			c := parseClause(text, p, &ctx)
			switch {
			case added != "" && needsLead(c.intent) && (len(c.refs) == 0 || len(c.refs) == 1 && c.refs[0].pronoun):
				// "add Sue from Acme, value 5k", "add Sue from Acme, value
				// 5k, she is in negotiation": the lead just added, found by
				// its name when the command runs (not the leads its company
				// matched, nor the lead the conversation was about before).
				c.refs = []leadRef{{text: added}}
			case len(c.refs) == 0 && len(cmds) > 0 && needsLead(c.intent):
				// "mark Emily as lost and add a note: ...": the same lead.
				c.refs = cmds[len(cmds)-1].refs
			}
			if c.intent == intentUnknown || !complete(c) {
				cmds = nil
				break
			}
			if len(cmds) > 0 && sameCommand(cmds[len(cmds)-1], c) {
				continue // "Priya signed, mark her as won" says it twice
			}
			cmds = append(cmds, c)
			if len(c.refs) > 0 && c.refs[0].resolved() {
				ctx.focus = c.refs[0].leads
			}
			switch {
			case c.intent == intentCreate:
				added = c.args.Name
			case len(c.refs) != 1 || c.refs[0].text != added:
				added = "" // a command about another lead
			}
		}
		if len(cmds) >= 1 && len(cmds) < len(parts) || len(cmds) > 1 {
			return cmds
		}
	}
	return []command{whole}
}

// possessives open details of what came before rather than a new command.
var possessives = words("his her their its")

func needsLead(intent string) bool {
	switch intent {
	case intentMove, intentNext, intentSet, intentNote, intentDelete, intentAsk:
		return true
	}
	return false
}

// sameCommand says whether two commands do the same thing to the same leads.
func sameCommand(a, b command) bool {
	if a.intent != b.intent || a.field != b.field || a.value != b.value || len(a.refs) != len(b.refs) {
		return false
	}
	if (a.stage == nil) != (b.stage == nil) || a.stage != nil && a.stage.Name != b.stage.Name {
		return false
	}
	for i := range a.refs {
		if len(a.refs[i].leads) != 1 || len(b.refs[i].leads) != 1 || a.refs[i].leads[0].ID != b.refs[i].leads[0].ID {
			return false
		}
	}
	return true
}

// plainYes is a yes that says yes ("yes", "go ahead"), not only a verb that a
// confirmation may hold ("delete that one").
func plainYes(msg string) bool {
	if !isYes(msg) {
		return false
	}
	norm := " " + strings.Join(answerWords(msg), " ") + " "
	for _, w := range answerWords(msg) {
		if yesWords[w] {
			return true
		}
	}
	for _, p := range []string{"go ahead", "do it", "please do", "proceed", "do that"} {
		if strings.Contains(norm, " "+p+" ") {
			return true
		}
	}
	return false
}

// answerCommand reads a plain yes or no.
func answerCommand(msg string) *command {
	switch {
	case plainYes(msg):
		return &command{intent: intentYes}
	case isNo(msg):
		return &command{intent: intentNo}
	}
	return nil
}

// complete says whether a command has what its intent needs, so a split of a
// message into clauses is kept only when every clause is a whole command.
func complete(c command) bool {
	switch c.intent {
	case intentMove:
		return len(c.refs) > 0 && c.stage != nil
	case intentSet:
		return len(c.refs) > 0 && c.field != "" && c.value != ""
	case intentNote:
		return len(c.refs) > 0 && c.text != ""
	case intentDelete, intentNext:
		return len(c.refs) > 0
	case intentCreate:
		return c.args.Name != ""
	}
	return false
}

// splitClauses cuts a message at ";", ", and", ",", " and ", " then " and at
// line breaks, where a new command may start; parseMessage keeps the cut only
// when each part is a whole command. (Read as one clause, "add Sue from
// Hooli" and "move Sue to Proposal sent" on two lines moved another lead of
// Hooli.)
func splitClauses(text string, toks []token) [][]token {
	var parts [][]token
	start := 0
	for i, t := range toks {
		if i > start && strings.ContainsAny(text[toks[i-1].end:t.start], "\r\n\u2028\u2029") {
			parts = append(parts, toks[start:i]) // a new line: t starts a part
			start = i
		}
		sep := t.kind == tokPunct && (t.text == ";" || t.text == ",") ||
			t.kind == tokWord && (t.norm == "and" || t.norm == "then" || t.norm == "also")
		if !sep || i == start {
			continue
		}
		if i > start {
			parts = append(parts, toks[start:i])
		}
		start = i + 1
	}
	if start < len(toks) {
		parts = append(parts, toks[start:])
	}
	// Separators in a row ("Jane, and then Bob") leave empty parts: drop them.
	return slices.DeleteFunc(parts, func(p []token) bool { return len(p) == 0 })
}

// parseClause understands one command.
func parseClause(text string, toks []token, w *world) command {
	c := &clause{w: w, text: text, toks: toks, used: make([]bool, len(toks))}
	c.recognise()
	return c.decide()
}

// --- recognising ---

// lexPhrase is a phrase of the lexicon with its roles.
type lexPhrase struct {
	intents map[string]float64
	event   string
	isEvent bool
	field   string
	pronoun bool
	// ask is what a question with this phrase asks about a lead.
	ask string
}

// lexicon is every phrase of the lexicon with its roles, keyed by its words.
var lexicon = func() map[string]*lexPhrase {
	m := map[string]*lexPhrase{}
	get := func(p string) *lexPhrase {
		var ws []string
		for _, t := range tokenize(p) {
			ws = append(ws, t.norm)
		}
		p = strings.Join(ws, " ")
		if m[p] == nil {
			m[p] = &lexPhrase{intents: map[string]float64{}}
		}
		return m[p]
	}
	for intent, vs := range verbs {
		for v, weight := range vs {
			if v == "?" {
				continue
			}
			get(v).intents[intent] = weight
		}
	}
	for e, st := range events {
		p := get(e)
		p.event, p.isEvent = st, true
	}
	for _, f := range fieldWords {
		for _, w := range f.words {
			if !strings.Contains(w, "_") {
				get(w).field = f.field
			}
		}
	}
	for _, p := range pronounPhrases {
		get(p).pronoun = true
	}
	for p, f := range askFields {
		get(p).ask = f
	}
	return m
}()

// maxPhrase is the most words a lexicon phrase has.
const maxPhrase = 5

func (c *clause) words(from, to int) (string, bool) {
	var ws []string
	for i := from; i < to; i++ {
		t := c.toks[i]
		if t.kind != tokWord && (t.kind != tokPoss || i == from) {
			return "", false
		}
		ws = append(ws, t.norm)
	}
	return strings.Join(ws, " "), true
}

func (c *clause) free(from, to int) bool {
	for i := from; i < to; i++ {
		if c.used[i] {
			return false
		}
	}
	return true
}

func (c *clause) claim(it item) {
	for i := it.from; i < it.to; i++ {
		c.used[i] = true
	}
	c.items = append(c.items, it)
}

// recognise finds the pieces of the clause: quoted names and leads first
// (a lead's name beats a lexicon word inside it), then lexicon phrases and
// stages, longest first.
func (c *clause) recognise() {
	n := len(c.toks)
	// Quoted names of leads.
	for i, t := range c.toks {
		if t.kind != tokQuoted {
			continue
		}
		for _, l := range c.w.leads {
			if fold(l.Name) == t.norm {
				c.claim(item{from: i, to: i + 1, lead: &leadRef{text: t.text, leads: []store.Lead{l}}})
				break
			}
		}
	}
	// Lead references of two words or more, and emails of leads.
	for size := 4; size >= 2; size-- {
		for i := 0; i+size <= n; i++ {
			if !c.free(i, i+size) {
				continue
			}
			if ref, ok := c.leadSpan(i, i+size, true); ok {
				c.claim(item{from: i, to: i + size, lead: ref})
			}
		}
	}
	// Stage names of two words or more ("closed won", "meeting booked").
	for size := 3; size >= 2; size-- {
		for i := 0; i+size <= n; i++ {
			if !c.free(i, i+size) {
				continue
			}
			if st, ok := c.stageSpan(i, i+size); ok {
				c.claim(item{from: i, to: i + size, stage: st})
			}
		}
	}
	// Lexicon phrases, longest first.
	for size := maxPhrase; size >= 1; size-- {
		for i := 0; i+size <= n; i++ {
			if !c.free(i, i+size) {
				continue
			}
			ws, ok := c.words(i, i+size)
			if !ok {
				continue
			}
			p := lexicon[ws]
			if p == nil {
				continue
			}
			if size == 1 && c.isName(i) {
				continue
			}
			it := item{from: i, to: i + size, phrase: ws, intents: p.intents, field: p.field, pronoun: p.pronoun, ask: p.ask}
			if p.isEvent {
				it.event = p.event
			}
			c.claim(it)
		}
	}
	// One-word stages and leads.
	for i := 0; i < n; i++ {
		if c.used[i] || c.toks[i].kind != tokWord {
			continue
		}
		if st, ok := c.stageSpan(i, i+1); ok {
			c.claim(item{from: i, to: i + 1, stage: st})
			continue
		}
		if noise[c.toks[i].norm] {
			continue
		}
		if ref, ok := c.leadSpan(i, i+1, false); ok {
			c.claim(item{from: i, to: i + 1, lead: ref})
		}
	}
	// Emails that are a lead's.
	for i, t := range c.toks {
		if t.kind != tokEmail || c.used[i] {
			continue
		}
		for _, l := range c.w.leads {
			if strings.EqualFold(l.Email, t.text) {
				c.claim(item{from: i, to: i + 1, lead: &leadRef{text: t.text, leads: []store.Lead{l}}})
				break
			}
		}
	}
	c.recogniseUsers()
	slices.SortFunc(c.items, func(a, b item) int { return a.from - b.from })
}

// isName says whether the word at i is rather part of a name: a capitalized
// word (not the first) next to a capitalized word that no lexicon knows
// ("Will Grace"), or a word a lead's name holds and the lexicon reads loosely.
func (c *clause) isName(i int) bool {
	t := c.toks[i]
	if t.kind != tokWord || i == 0 || !isCapitalized(t.text) || isUpper(c.text) {
		return false
	}
	p := lexicon[t.norm]
	if p == nil || p.isEvent || p.field != "" || p.pronoun {
		return false
	}
	for _, weight := range p.intents {
		if weight >= 3 {
			return false
		}
	}
	next := i+1 < len(c.toks) && c.toks[i+1].kind == tokWord && isCapitalized(c.toks[i+1].text)
	prev := c.toks[i-1].kind == tokWord && isCapitalized(c.toks[i-1].text) && i-1 > 0
	return next || prev
}

func isCapitalized(s string) bool {
	for _, r := range s {
		return r >= 'A' && r <= 'Z' || r >= 0xC0 && r <= 0xDE
	}
	return false
}

// isUpper says whether the message is written in capitals (then capitals say
// nothing about names).
func isUpper(s string) bool {
	letters, upper := 0, 0
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			letters++
			if r >= 'A' && r <= 'Z' {
				upper++
			}
		}
	}
	return letters > 3 && upper*10 >= letters*8
}

// stageWords are the words that can name a stage on their own.
func (c *clause) stageWord(w string) bool {
	if _, ok := stageSynonyms[w]; ok {
		return true
	}
	for _, st := range c.w.stages {
		for _, sw := range store.SplitWords(st.Name) {
			sim := store.WordSimilarity(w, sw)
			// A typo counts in words of five letters or more: "went" is no "sent".
			if sim == 1 || sim == 0.85 || sim >= 0.7 && len([]rune(w)) >= 5 || len(w) >= 6 && strings.HasPrefix(w, sw) {
				return true
			}
		}
	}
	return false
}

// stageSpan says whether tokens [from, to) name a stage: every word a stage's
// word (forgiving typos) and together naming exactly one stage.
func (c *clause) stageSpan(from, to int) (*store.Stage, bool) {
	ws, ok := c.words(from, to)
	if !ok {
		return nil, false
	}
	for _, w := range strings.Fields(ws) {
		if !c.stageWord(w) {
			return nil, false
		}
	}
	m := matchStage(c.w.stages, ws)
	if !m.ok {
		return nil, false
	}
	st := m.stage
	return &st, true
}

// generic are company words that name no one company ("Inc", "Group").
var generic = words("inc corp corporation co company ltd llc gmbh ag sa group holdings the and & sons partners labs")

// leadSpan resolves tokens [from, to) against the leads: a full name, a first or
// last name, a company, an email's name part. multi asks for spans of several
// words only.
func (c *clause) leadSpan(from, to int, multi bool) (*leadRef, bool) {
	ws, ok := c.words(from, to)
	if !ok {
		return nil, false
	}
	typed := strings.Fields(ws)
	if multi && len(typed) < 2 {
		return nil, false
	}
	// A span may not start or end with noise ("to Jane", "Jane to").
	if noise[typed[0]] || noise[typed[len(typed)-1]] {
		return nil, false
	}
	best := 0.0
	var found []store.Lead
	for _, l := range c.w.leads {
		sc := leadScore(typed, l)
		switch {
		case sc > best+store.AmbiguityMargin:
			best, found = sc, []store.Lead{l}
		case sc >= best-store.AmbiguityMargin && sc > 0:
			found = append(found, l)
			best = max(best, sc)
		}
	}
	if best < 0.78 {
		return nil, false
	}
	found = slices.DeleteFunc(found, func(l store.Lead) bool { return leadScore(typed, l) < best-store.AmbiguityMargin })
	return &leadRef{text: c.text[c.toks[from].start:c.toks[to-1].end], leads: found}, true
}

// leadScore is how well typed words name lead l: 1 for its full name, about
// 0.9 for its company or its first or last name, less with typos; 0 when a word
// matches nothing of it.
func leadScore(typed []string, l store.Lead) float64 {
	name := foldWords(l.Name)
	company := slices.DeleteFunc(foldWords(l.Company), func(w string) bool { return generic[w] })
	local, _, _ := strings.Cut(strings.ToLower(l.Email), "@")
	sim := func(ws []string, of []string) float64 {
		ws = slices.Clone(ws)
		if n := len(ws); n > 0 && len(of) > 0 {
			// "kenjis email": a possessive without its apostrophe.
			if w := ws[n-1]; len(w) > 4 && strings.HasSuffix(w, "s") && !slices.Contains(of, w) && slices.Contains(of, w[:len(w)-1]) {
				ws[n-1] = w[:len(w)-1]
			}
		}
		// every typed word matches a word of of, in order.
		if len(ws) > len(of) {
			return 0
		}
		sum, j := 0.0, 0
		for _, w := range ws {
			bw := 0.0
			for ; j < len(of); j++ {
				if s := wordSim(w, of[j]); s > 0 {
					bw = s
					j++
					break
				}
			}
			if bw == 0 {
				return 0
			}
			sum += bw
		}
		return sum / float64(len(ws))
	}
	sc := 0.0
	if len(typed) == len(name) {
		sc = sim(typed, name)
	} else if len(typed) < len(name) {
		sc = sim(typed, name) * 0.9
	}
	if len(company) > 0 {
		cs := sim(typed, company)
		if len(typed) < len(company) {
			cs *= 0.85
		}
		sc = max(sc, cs*0.92)
	}
	if local != "" && len(typed) == 1 && typed[0] == local {
		sc = max(sc, 0.95)
	}
	return sc
}

// wordSim compares a typed word with a word of a lead's name: store's
// WordSimilarity, but a prefix must be a real start of the word (four letters,
// or three of a word up to five long).
func wordSim(typed, word string) float64 {
	s := store.WordSimilarity(typed, word)
	if s == 0.85 && len([]rune(typed)) < 4 && len([]rune(word)) > 5 {
		return 0
	}
	return s
}
