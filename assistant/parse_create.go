package assistant

import (
	"strings"
)

// createKeywords announce a detail of a new lead.
var createKeywords = map[string]string{
	"from": "company", "at": "company", "of": "company", "company": "company", "works": "company", "org": "company", "with": "with",
	"worth": "value", "valued": "value", "value": "value", "deal": "value", "budget": "value", "for": "value", "amount": "value",
	"via": "source", "through": "source", "source": "source", "thru": "source",
	"in": "stage", "into": "stage", "to": "stage", "stage": "stage", "status": "stage", "as": "stage",
	"email": "email", "mail": "email", "phone": "phone", "number": "phone", "cell": "phone", "mobile": "phone", "tel": "phone",
	"notes": "notes", "note": "notes",
}

// createFiller are words between the verb and the name ("add a new lead
// called ...").
var createFiller = words("a an new lead contact deal prospect client customer person named called name for me please : - the")

// createArgs reads the details of a new lead: the name first, then company,
// value, email, phone, source and stage in any order, each after a keyword
// ("from Initech", "worth 20k", "via LinkedIn", "in negotiation") or on its
// own between commas ("Jane Roe, Initech, 20k").
func (c *clause) createArgs(s signals) createArgs {
	var a createArgs
	for _, t := range s.emails {
		a.Email = t.text
	}
	for _, t := range s.phones {
		a.Phone = t.text
	}
	for _, t := range s.amounts {
		a.Value = &amount{text: t.amountText()}
	}
	// The verb: the strongest create word.
	verb, weight := -1, 0.0
	for _, it := range c.items {
		if w := it.intents[intentCreate]; w > weight {
			verb, weight = it.to, w
		}
	}
	i := max(verb, 0)
	for i < len(c.toks) && (c.toks[i].kind == tokWord && createFiller[c.toks[i].norm] || c.toks[i].kind == tokPunct) {
		i++
	}
	// The name: words up to a keyword, a comma or a typed piece.
	start := i
	for i < len(c.toks) {
		t := c.toks[i]
		if t.kind != tokWord && t.kind != tokQuoted {
			break
		}
		if _, kw := createKeywords[t.norm]; kw && i > start {
			break
		}
		if t.norm == "and" || t.norm == "her" || t.norm == "him" || t.norm == "them" {
			break
		}
		i++
	}
	if i > start {
		if c.toks[start].kind == tokQuoted {
			a.Name = c.toks[start].text
		} else {
			a.Name = strings.TrimSpace(c.text[c.toks[start].start:c.toks[i-1].end])
		}
	}
	if a.Name == "" || verb > 0 && verb < len(c.toks) && i == start {
		// "just met Lina Haddad from Cedar Labs, add her": the name is the
		// capitalized words after "met" or at the start.
		a.Name = ""
		for j := 0; j < len(c.toks); j++ {
			if c.toks[j].kind == tokWord && isCapitalized(c.toks[j].text) && !c.inLexicon(j) {
				k := j
				for k < len(c.toks) && c.toks[k].kind == tokWord && isCapitalized(c.toks[k].text) {
					k++
				}
				a.Name = c.text[c.toks[j].start:c.toks[k-1].end]
				i = k
				break
			}
		}
	}
	// The details.
	kind := ""
	var part []token
	flush := func() {
		c.assignCreate(&a, kind, part)
		kind, part = "", nil
	}
	for ; i < len(c.toks); i++ {
		t := c.toks[i]
		if n, field := c.fieldPhrase(i); n > 1 && field != "status" && field != "name" {
			// "found us on LinkedIn", "works at Initech": a field's words.
			flush()
			kind = field
			i += n - 1
			continue
		}
		switch {
		case t.kind == tokPunct && t.text == "(":
			flush()
			kind = "company"
		case t.kind == tokPunct && (t.text == "," || t.text == ";" || t.text == ")"):
			flush()
		case t.kind == tokEmail || t.kind == tokPhone || t.kind == tokMoney:
			flush()
		case t.kind == tokWord && t.norm == "and" && len(part) > 0 && kind != "company":
			flush()
		case t.kind == tokWord && createKeywords[t.norm] != "" && (len(part) == 0 || kind == "" || createKeywords[t.norm] != "company" || c.sourceAhead(i+1)):
			if len(part) > 0 || kind != "" {
				flush()
			}
			kind = createKeywords[t.norm]
		default:
			part = append(part, t)
		}
	}
	flush()
	return a
}

// fieldPhrase is the longest lexicon phrase of several words naming a field
// at token i ("found us on", "phone number"): its length and field, or 0.
func (c *clause) fieldPhrase(i int) (int, string) {
	for n := min(maxPhrase, len(c.toks)-i); n >= 2; n-- {
		if ws, ok := c.words(i, i+n); ok {
			if p := lexicon[ws]; p != nil && p.field != "" {
				return n, p.field
			}
		}
	}
	return 0, ""
}

// sourceAhead says whether the words from i on name a known source ("at a
// trade show", "via LinkedIn").
func (c *clause) sourceAhead(i int) bool {
	var ws []string
	for j := i; j < len(c.toks) && j < i+4 && c.toks[j].kind == tokWord; j++ {
		ws = append(ws, c.toks[j].norm)
		if knownSources[strings.Join(ws, " ")] {
			return true
		}
	}
	return false
}

func (c *clause) inLexicon(j int) bool {
	p := lexicon[c.toks[j].norm]
	return p != nil && (len(p.intents) > 0 || p.isEvent || p.field != "")
}

// assignCreate gives a part of a create command to the field its keyword
// announces (or, with none, to the field its text looks like).
func (c *clause) assignCreate(a *createArgs, kind string, part []token) {
	for len(part) > 0 && part[0].kind == tokWord && (noise[part[0].norm] && !isCapitalized(part[0].text) || part[0].norm == "is" || part[0].norm == "a" || part[0].norm == "an") {
		part = part[1:]
	}
	for len(part) > 0 && part[len(part)-1].kind == tokWord && (trailing[part[len(part)-1].norm] || part[len(part)-1].norm == "deal" || part[len(part)-1].norm == "lead") {
		part = part[:len(part)-1]
	}
	if len(part) == 0 {
		return
	}
	text := strings.TrimSpace(c.text[part[0].start:part[len(part)-1].end])
	norm := strings.Join(foldWords(text), " ")
	switch kind {
	case "with":
		if knownSources[norm] {
			a.Source = text
		} else if a.Company == "" && isCapitalized(part[0].text) {
			a.Company = text
		}
	case "company":
		switch {
		case knownSources[norm]:
			a.Source = text
		case a.Company == "":
			a.Company = text
		}
	case "source":
		a.Source = text
	case "stage":
		if m := matchStage(c.w.stages, text); m.ok {
			a.Status = m.stage.Name
		}
	case "notes":
		a.Notes = text
	case "email":
		if a.Email == "" {
			a.Email = text // not an email: the tool says so
		}
	case "phone":
		if a.Phone == "" {
			a.Phone = text
		}
	case "value":
		if a.Value == nil && len(part) == 1 && part[0].kind == tokNumber {
			a.Value = &amount{text: part[0].amountText()}
		} else if a.Value == nil && !noise[norm] {
			a.Value = &amount{text: text}
		}
	default:
		switch {
		case matchStage(c.w.stages, text).ok && a.Status == "":
			a.Status = matchStage(c.w.stages, text).stage.Name
		case knownSources[norm] && a.Source == "":
			a.Source = text
		case a.Company == "" && len(part) <= 5:
			a.Company = text
		}
	}
}

// choose reads a pick among the candidates of an open "which one?": "the
// second", "2", "the one at Acme", "Jane Smith".
func (c *clause) choose(s signals) (command, bool) {
	if len(c.w.choice) == 0 || len(c.toks) > 8 {
		return command{}, false
	}
	for _, in := range []string{intentMove, intentDelete, intentCreate, intentSet, intentNote, intentFind} {
		if s.verb[in] >= 3 {
			return command{}, false
		}
	}
	pick := func(n int) (command, bool) {
		if n < 0 {
			n = len(c.w.choice) + n + 1
		}
		if n < 1 || n > len(c.w.choice) {
			return command{}, false
		}
		l := c.w.choice[n-1]
		return command{intent: intentChoose, refs: []leadRef{{text: l.Name, leads: c.w.choice[n-1 : n]}}}, true
	}
	for _, t := range c.toks {
		if n, ok := ordinalWords[t.norm]; ok {
			return pick(n)
		}
		if t.kind == tokNumber {
			if n := int(t.money / 100); n >= 1 && n <= len(c.w.choice) {
				return pick(n)
			}
		}
	}
	// Words that match exactly one candidate: its name or company.
	var hits []int
	for i, l := range c.w.choice {
		for j, t := range c.toks {
			if t.kind != tokWord || noise[t.norm] && t.norm != "at" {
				continue
			}
			if leadScore([]string{t.norm}, l) >= 0.78 && !c.sharedWord(t.norm) {
				hits = append(hits, i)
				_ = j
				break
			}
		}
	}
	if len(hits) == 1 {
		return pick(hits[0] + 1)
	}
	if len(c.w.choice) == 1 && isYes(c.text) {
		return pick(1)
	}
	return command{}, false
}

// sharedWord says whether every candidate has the word (then it picks none).
func (c *clause) sharedWord(w string) bool {
	for _, l := range c.w.choice {
		if leadScore([]string{w}, l) < 0.78 {
			return false
		}
	}
	return true
}

var ordinalWords = map[string]int{
	"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
	"last": -1, "latter": -1, "former": 1, "two": 2, "three": 3,
}
