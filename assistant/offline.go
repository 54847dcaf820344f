package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// offline is the built-in assistant used when no LLM is configured. It
// understands plain phrasing of the same operations the model has tools for, and
// runs them through the same executor. It reads only the person's message: text
// stored in leads is never parsed as a command.
type offline struct{}

// helpText says what the offline assistant understands.
const helpText = `I can:
- move a lead: "move Jane Doe to Meeting booked", "mark Bob as won", "put Acme in negotiation"
- add a lead: "add Jane Roe from Initech, value 20k, email jane@initech.com, phone +1 555 0100, source LinkedIn"
- change a field: "set Jane's email to jane@new.com", "change Bob's value to 30k"
- answer: "what is Jane's phone?", "what stage is Bob in?", "how much is Priya worth?"
- find leads: "find Jane", "show leads in Negotiation"
- delete a lead (after you confirm): "delete Bob Martin"
- summarize: "pipeline summary"`

// command is what the offline parser understood.
type command struct {
	kind  string
	ref   string // the lead, in the person's words
	stage string // a stage, in the person's words
	field string // a lead field (fieldAliases' values)
	value string
	args  createArgs
}

// Kinds of command.
const (
	cmdUnknown = ""
	cmdHelp    = "help"
	cmdYes     = "yes"
	cmdNo      = "no"
	cmdSummary = "summary"
	cmdMove    = "move"
	cmdNext    = "next"
	cmdSet     = "set"
	cmdNote    = "note"
	cmdAsk     = "ask"
	cmdFind    = "find"
	cmdList    = "list"
	cmdCreate  = "create"
	cmdDelete  = "delete"
)

func (offline) respond(ctx context.Context, t *turn, job store.ChatJob) (reply, error) {
	stages, err := t.loadStages(ctx)
	if err != nil {
		return reply{}, err
	}
	cmd := parseCommand(job.Message, stages)
	if isPronoun(cmd.ref) && !quoted(job.Message, cmd.ref) {
		// "move her to won": the lead the person spoke of last.
		ref := lastRef(job.History, stages)
		if ref == "" {
			return reply{text: fmt.Sprintf("Who do you mean by %q? Please name the lead.", cmd.ref)}, nil
		}
		cmd.ref = ref
	}
	if t.choice != nil && (cmd.kind == cmdUnknown || cmd.kind == cmdYes) {
		if rep, ok, err := choose(ctx, t, job.Message, *t.choice); err != nil || ok {
			return rep, err
		}
	}
	text, err := run(ctx, t, cmd, job.Message)
	return reply{text: text}, err
}

// run carries out a command through the tools and says what happened.
func run(ctx context.Context, t *turn, cmd command, message string) (string, error) {
	call := func(name string, args any) (string, error) {
		res, err := t.callJSON(ctx, name, args)
		return res.Message, err
	}
	switch cmd.kind {
	case cmdHelp:
		return "Hi! " + helpText, nil
	case cmdYes:
		return "There is nothing waiting for a yes right now, so I did nothing. I ask before deleting, and a yes counts only right after I ask.", nil
	case cmdNo:
		return "OK, nothing to do.", nil
	case cmdSummary:
		return call(toolSummary, struct{}{})
	case cmdMove:
		return call(toolStatus, statusArgs{Lead: cmd.ref, Status: cmd.stage})
	case cmdNext:
		return moveNext(ctx, t, cmd.ref)
	case cmdSet:
		if cmd.field == "status" {
			return call(toolStatus, statusArgs{Lead: cmd.ref, Status: cmd.value})
		}
		v, err := json.Marshal(cmd.value)
		if err != nil {
			return "", err
		}
		return call(toolData, dataArgs{Lead: cmd.ref, Changes: map[string]json.RawMessage{cmd.field: v}})
	case cmdNote:
		return addNote(ctx, t, cmd.ref, cmd.value)
	case cmdAsk:
		return ask(ctx, t, cmd.ref, cmd.field)
	case cmdFind:
		return call(toolSearch, searchArgs{Query: cmd.ref})
	case cmdList:
		return call(toolSearch, searchArgs{Status: cmd.stage})
	case cmdCreate:
		if strings.TrimSpace(cmd.args.Name) == "" {
			return `What is the new lead's name? For example: "add Jane Roe from Initech, value 20k".`, nil
		}
		return call(toolCreate, cmd.args)
	case cmdDelete:
		return call(toolDelete, deleteArgs{Lead: cmd.ref})
	}
	return fmt.Sprintf("Sorry, I didn't understand %q. %s", truncate(strings.TrimSpace(message), 200), helpText), nil
}

// moveNext moves a lead one stage on.
func moveNext(ctx context.Context, t *turn, ref string) (string, error) {
	lead, res, ok, err := t.resolveLead(ctx, ref, toolStatus, []byte(fmt.Sprintf(`{"lead":%q,"status":"next"}`, ref)))
	if err != nil || !ok {
		return res.Message, err
	}
	for i, st := range t.stages {
		if st.Name == lead.Status {
			if i+1 >= len(t.stages) || t.stages[i+1].Kind != "open" && st.Kind != "open" {
				return fmt.Sprintf("%s is in %s, the end of the pipeline.", leadLabel(lead), st.Name), nil
			}
			res, err := t.callJSON(ctx, toolStatus, statusArgs{Lead: lead.ID.String(), Status: t.stages[i+1].Name})
			return res.Message, err
		}
	}
	return fmt.Sprintf("%s is in %s, which is not a stage any more.", leadLabel(lead), lead.Status), nil
}

// addNote appends a line to a lead's notes.
func addNote(ctx context.Context, t *turn, ref, note string) (string, error) {
	lead, res, ok, err := t.resolveLead(ctx, ref, toolData, nil)
	if err != nil || !ok {
		return res.Message, err
	}
	notes := strings.TrimSpace(note)
	if lead.Notes != "" {
		notes = lead.Notes + "\n" + notes
	}
	v, err := json.Marshal(notes)
	if err != nil {
		return "", err
	}
	res, err = t.callJSON(ctx, toolData, dataArgs{Lead: lead.ID.String(), Changes: map[string]json.RawMessage{"notes": v}})
	if err != nil || !res.OK {
		return res.Message, err
	}
	return fmt.Sprintf("Added a note to %s.", leadLabel(lead)), nil
}

// ask answers a question about one field of one lead.
func ask(ctx context.Context, t *turn, ref, field string) (string, error) {
	lead, res, ok, err := t.resolveLead(ctx, ref, toolSearch, nil)
	if err != nil || !ok {
		return res.Message, err
	}
	who := leadLabel(lead)
	none := func(what string) string { return fmt.Sprintf("%s has no %s on file.", who, what) }
	switch field {
	case "email":
		if lead.Email == "" {
			return none("email address"), nil
		}
		return fmt.Sprintf("%s's email is %s.", who, lead.Email), nil
	case "phone":
		if lead.Phone == "" {
			return none("phone number"), nil
		}
		return fmt.Sprintf("%s's phone is %s.", who, lead.Phone), nil
	case "value":
		return fmt.Sprintf("%s is worth %s.", who, formatMoney(lead.Value)), nil
	case "status":
		return fmt.Sprintf("%s is in %s.", who, lead.Status), nil
	case "company":
		if lead.Company == "" {
			return none("company"), nil
		}
		return fmt.Sprintf("%s works at %s.", lead.Name, lead.Company), nil
	case "source":
		if lead.Source == "" {
			return none("source"), nil
		}
		return fmt.Sprintf("%s came from %s.", who, lead.Source), nil
	case "notes":
		if lead.Notes == "" {
			return none("notes"), nil
		}
		return fmt.Sprintf("Notes on %s: %s", who, truncate(lead.Notes, 1000)), nil
	case "name":
		return fmt.Sprintf("That is %s.", leadDetail(lead)), nil
	}
	return describeLeads("Found", []store.Lead{lead}), nil
}

var ordinals = map[string]int{
	"1": 1, "first": 1, "the first": 1, "the first one": 1, "first one": 1, "1st": 1, "one": 1, "number 1": 1,
	"2": 2, "second": 2, "the second": 2, "the second one": 2, "second one": 2, "2nd": 2, "two": 2, "number 2": 2,
	"3": 3, "third": 3, "the third": 3, "the third one": 3, "third one": 3, "3rd": 3, "three": 3, "number 3": 3,
	"4": 4, "fourth": 4, "the fourth": 4, "the fourth one": 4, "4th": 4, "four": 4,
	"5": 5, "fifth": 5, "the fifth": 5, "the fifth one": 5, "5th": 5, "five": 5,
	"last": -1, "the last": -1, "the last one": -1, "last one": -1,
}

var chooseFiller = regexp.MustCompile(`^(?:(?:i mean|i meant|it's|its|it is|that's|thats|the one|one|the lead|lead|the)\s+)*(?:(?:at|from|with|in|of|named|called)\s+)?`)

// choose completes the call that waited for the person to pick a lead: by
// number ("the second one"), by a yes to a single "did you mean", or by words
// matching one candidate clearly better than the others ("the one at Acme"). ok
// is false when the message picks none.
func choose(ctx context.Context, t *turn, message string, p pending) (reply, bool, error) {
	msg := normalizeAnswer(message)
	var pick *candidate
	if n, ok := ordinals[msg]; ok {
		if n == -1 {
			n = len(p.Candidates)
		}
		if n <= len(p.Candidates) {
			pick = &p.Candidates[n-1]
		}
	} else if len(p.Candidates) == 1 && isYes(msg) {
		pick = &p.Candidates[0]
	} else if words := chooseFiller.ReplaceAllString(msg, ""); words != "" && len(strings.Fields(words)) <= 6 {
		matches, err := t.store.MatchLeads(ctx, words, 20)
		if err != nil {
			return reply{}, false, err
		}
		var hits []store.LeadMatch
		for _, m := range matches {
			for _, c := range p.Candidates {
				if c.ID == m.Lead.ID {
					hits = append(hits, m)
				}
			}
		}
		if len(hits) == 1 || (len(hits) > 1 && hits[0].Score-hits[1].Score > store.AmbiguityMargin) {
			for i := range p.Candidates {
				if p.Candidates[i].ID == hits[0].Lead.ID {
					pick = &p.Candidates[i]
				}
			}
		}
	}
	if pick == nil {
		return reply{}, false, nil
	}
	var args map[string]any
	if len(p.Args) > 0 {
		if err := json.Unmarshal(p.Args, &args); err != nil {
			return reply{}, false, nil
		}
	}
	if args == nil {
		args = map[string]any{}
	}
	args["lead"] = pick.ID.String()
	if p.Tool == toolSearch {
		// A question ("what is Jane's email?") waited: show the lead.
		lead, res, ok, err := t.resolveLead(ctx, pick.ID.String(), toolSearch, nil)
		if err != nil || !ok {
			return reply{text: res.Message}, true, err
		}
		return reply{text: describeLeads("Here it is", []store.Lead{lead})}, true, nil
	}
	if p.Tool == toolStatus && args["status"] == "next" {
		text, err := moveNext(ctx, t, pick.ID.String())
		return reply{text: text}, true, err
	}
	res, err := t.callJSON(ctx, p.Tool, args)
	if err != nil {
		return reply{}, false, err
	}
	return reply{text: res.Message}, true, nil
}

// --- parsing ---

var (
	politeRE = regexp.MustCompile(`(?i)^(?:(?:hey|hi|hello|ok|okay|so|please|pls|plz|kindly|could you|can you|would you|will you|could u|can u|i want to|i wanna|i'd like to|i would like to|i need to|we need to|let's|lets|go ahead and|just|now|and|then|also|assistant)\b[\s,:]*)+`)
	tailRE   = regexp.MustCompile(`(?i)[\s,]*(?:please|pls|plz|thanks|thank you|thx|now|asap|for me)$`)
)

// pronouns stand for the lead the person spoke of last.
var pronouns = map[string]bool{
	"he": true, "him": true, "his": true, "she": true, "her": true, "hers": true, "they": true, "them": true,
	"their": true, "it": true, "its": true, "it's": true, "this one": true, "that one": true, "this lead": true, "that lead": true,
	"this deal": true, "that deal": true, "the same lead": true, "same lead": true,
}

func isPronoun(ref string) bool { return pronouns[strings.ToLower(strings.TrimSpace(ref))] }

// quoted says whether message holds ref in quotes: move "He" to won means a lead
// named He.
func quoted(message, ref string) bool {
	m := clean(message)
	return strings.Contains(m, `"`+ref+`"`) || strings.Contains(m, `'`+ref+`'`)
}

// lastRef is the lead the last exchange was about, for a pronoun: the one lead
// the last reply changed (by id, so a rename or a choice between namesakes is
// followed), else the lead the person's last message named, in their words; ""
// when the last exchange was about no single lead.
func lastRef(history []store.ChatMessage, stages []store.Stage) string {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Role != store.RoleUser {
			continue
		}
		if i+1 < len(history) {
			ids := map[uuid.UUID]bool{}
			for _, op := range history[i+1].Operations {
				if op.LeadID != uuid.Nil && op.Status == store.OpDone && op.Action != toolDelete {
					ids[op.LeadID] = true
				}
			}
			if len(ids) == 1 {
				for id := range ids {
					return id.String()
				}
			}
		}
		cmd := parseCommand(history[i].Content, stages)
		ref := cmd.ref
		if cmd.kind == cmdCreate {
			ref = cmd.args.Name
		}
		if isPronoun(ref) {
			return ""
		}
		return ref
	}
	return ""
}

// clean normalizes a message: one space between words, plain quotes, no
// trailing punctuation, no "please" or "can you" around the command.
func clean(s string) string {
	s = strings.NewReplacer("’", "'", "‘", "'", "“", `"`, "”", `"`, "\u00a0", " ").Replace(s)
	s = strings.Join(strings.Fields(s), " ")
	for range 3 {
		s = strings.TrimRight(s, ".!?;, ")
		s = tailRE.ReplaceAllString(s, "")
		s = politeRE.ReplaceAllString(s, "")
	}
	return strings.TrimSpace(s)
}

// verbs the parser knows, so a typo in the first word ("mvoe", "delte") is fixed
// before matching.
var verbs = []string{"move", "mark", "put", "set", "change", "update", "add", "create", "delete", "remove",
	"find", "show", "search", "what", "whats", "summary", "summarize", "pipeline", "list", "drag", "shift", "make",
	"new", "insert", "edit", "lookup", "display", "erase", "drop", "advance", "rename", "where", "which", "tell", "give",
	"overview", "help", "switch", "append", "note", "register", "transfer", "place"}

func fixVerb(s string) string {
	first, rest, _ := strings.Cut(s, " ")
	lw := strings.ToLower(first)
	if len(lw) < 4 {
		return s
	}
	for _, v := range verbs {
		if lw == v {
			return s
		}
	}
	for _, v := range verbs {
		if len(v) >= 4 && store.WordSimilarity(lw, v) >= 0.8 && !strings.HasPrefix(v, lw) {
			if rest == "" {
				return v
			}
			return v + " " + rest
		}
	}
	return s
}

const fieldPattern = `(email address|email|e-mail|mail|phone number|phone|telephone|mobile|cell|tel|number|deal value|deal size|value|amount|worth|price|status|stage|column|company name|company|lead source|source|notes|note|name)`

// fieldOf maps the field words of fieldPattern to lead fields.
func fieldOf(w string) string {
	w = strings.ToLower(w)
	switch w {
	case "email address", "e-mail", "mail":
		return "email"
	case "phone number", "telephone", "mobile", "cell", "tel", "number":
		return "phone"
	case "deal value", "deal size", "amount", "worth", "price":
		return "value"
	case "stage", "column":
		return "status"
	case "company name":
		return "company"
	case "lead source":
		return "source"
	case "note":
		return "notes"
	}
	return w
}

func re(p string) *regexp.Regexp { return regexp.MustCompile(`(?i)^` + p + `$`) }

var (
	helpRE    = re(`(?:help|\?|what can you do|what do you do|what can i (?:say|ask|do)|commands|hi|hello|hey|how does this work|how do i use this|menu|options)`)
	summaryRE = []*regexp.Regexp{
		re(`(?:(?:give|show|get|display|what(?:'s| is)|whats)\s+(?:me\s+)?(?:a\s+|an\s+|the\s+|my\s+|our\s+)?)?(?:pipeline|summary|overview|stats|statistics|totals|report|dashboard|status report|pipeline (?:summary|overview|stats|report|totals|status)|summary of (?:the |my |our )?(?:pipeline|board|leads))`),
		re(`(?:summari[sz]e|sum up)(?:\s+(?:the|my|our))?(?:\s+(?:pipeline|board|leads|deals))?`),
		re(`how(?:'s| is| are| does)\s+(?:the|my|our)\s+(?:pipeline|board|sales|deals|leads)(?:\s+(?:look|looking|doing|going))?(?:\s+like)?`),
		re(`how are (?:we|things) (?:doing|looking)`),
		re(`how many (?:leads|deals)(?: (?:do we have|are there|in total|have we got))?`),
		re(`(?:what(?:'s| is)|whats)\s+(?:the\s+)?total(?:\s+(?:pipeline\s+)?value)?`),
	}
	noteRE = []*regexp.Regexp{
		re(`(?:add|append|attach|put|write|leave|make)\s+(?:a\s+|the\s+)?(?:new\s+)?notes?\s+(?:to|for|on|about)\s+(.+?)\s*(?::|-|,|saying|that says|that reads|which says)\s*(.+)`),
		re(`(?:notes?)\s+(?:for|on|to|about)\s+(.+?)\s*:\s*(.+)`),
	}
	deleteRE  = re(`(?:delete|remove|erase|drop|trash|get rid of|kill|destroy|remove lead|delete lead)\s+(.+)`)
	refPrefix = regexp.MustCompile(`(?i)^(?:the\s+)?(?:lead|contact|deal|card)?\s*(?:for\s+|of\s+|named\s+|called\s+|with\s+)?`)
	refSuffix = regexp.MustCompile(`(?i)\s+(?:lead|card|deal|contact|from (?:the )?(?:board|pipeline|crm|list|system))$`)
	listRE    = re(`(?:show|list|display|get|find|give)?\s*(?:me\s+)?(?:all\s+)?(?:the\s+)?(?:leads|deals|people|contacts|cards|everyone|everybody|who(?:'s| is| are)?|what(?:'s| is| are)?|which leads are)\s*(?:are\s+|is\s+)?(?:in|at|under)\s+(?:the\s+)?(.+?)(?:\s+(?:stage|column))?`)
	listRE2   = re(`(?:show|list|display)\s+(?:me\s+)?(?:the\s+)?(.+?)\s+(?:leads|deals|stage|column)`)
	askREs    = []*regexp.Regexp{
		re(`(?:what(?:'s| is| are)|whats|what|tell me|give me|show me|get me|get|show|find|do you have|do we have|i need|need)\s+(?:the\s+)?` + fieldPattern + `\s+(?:of|for)\s+(.+)`),
		re(`(?:what(?:'s| is| are)|whats|what|tell me|give me|show me|get me|get|show|find|do you have|do we have|i need|need)\s+(.+?)(?:'s|s'|')\s+` + fieldPattern),
		re(`` + fieldPattern + `\s+(?:of|for)\s+(.+)`),
		re(`(.+?)(?:'s|s'|')\s+` + fieldPattern),
	}
	// possessiveFieldRE is "her email", "his phone" in a new lead's details.
	possessiveFieldRE = regexp.MustCompile(`(?i)\b(?:his|her|their|its)\s+` + fieldPattern + `\b`)
	// pronounAskRE is "what's her email?": a field of the lead spoken of last.
	pronounAskRE = re(`(?:what(?:'s| is| are)|whats|what|tell me|give me|show me|get me|get|show|find)\s+(his|her|their|its)\s+` + fieldPattern)
	stageAskRE   = []*regexp.Regexp{
		re(`(?:what|which)\s+(?:stage|status|column)\s+(?:is|'s)\s+(.+?)(?:\s+(?:in|at|on|now|currently))*`),
		re(`(?:where(?:'s| is)|wheres)\s+(.+?)(?:\s+(?:at|in|now|currently))*`),
		re(`(?:what(?:'s| is)|whats)\s+(?:the\s+)?(?:status|stage)\s+(?:of|for)\s+(.+)`),
	}
	worthRE = []*regexp.Regexp{
		re(`how much is\s+(.+?)\s+worth`),
		re(`(?:what(?:'s| is)|whats)\s+(.+?)\s+worth`),
		re(`how (?:big|large) is (?:the\s+)?(?:deal\s+)?(?:with|for|of)?\s*(.+?)(?:'s deal)?`),
	}
	setREs = []*regexp.Regexp{
		re(`(?:set|change|update|edit|make|put|switch|correct|fix)\s+(.+?)(?:'s|s'|')\s+` + fieldPattern + `\s+(?:to|=|:|as|into|is|at)\s*(.+)`),
		re(`(?:set|change|update|edit|make|put|switch|correct|fix)\s+(?:the\s+)?` + fieldPattern + `\s+(?:of|for|on)\s+(.+?)\s+(?:to|=|:|as|into|at)\s*(.+)`),
		re(`(?:set|change|update|edit|correct|fix)\s+(.+?)\s+` + fieldPattern + `\s+(?:to|=|:|as|into|at)\s*(.+)`),
		re(`(.+?)(?:'s|s'|')\s+` + fieldPattern + `\s+(?:is now|should be|is|=|:|changed to|changes to)\s*(?:now\s+)?(.+)`),
	}
	renameRE     = re(`rename\s+(.+?)\s+(?:to|as)\s+(.+)`)
	nextRE       = re(`(?:move|advance|push|bump|progress|promote)\s+(.+?)\s+(?:forward|ahead|along|on|up|to the next stage|to next stage|a stage|one stage(?: forward| on)?)`)
	advanceRE    = re(`(?:advance|progress|promote)\s+(.+)`)
	moveVerbs    = `(?:move|put|drag|shift|push|bump|advance|send|set|change|update|switch|place|transfer|bring|drop|mark|make|get)`
	moveRE       = re(moveVerbs + `\s+(.+)`)
	createRE     = re(`(?:add|create|new|insert|register|enter|make|save|record)\s+(?:me\s+)?(?:a\s+|an\s+)?(?:new\s+)?(?:lead|contact|deal|prospect|client|customer|opportunity|person|company)?\s*(?:for|named|called|:|-|with name|with the name)?\s*(.+)`)
	createBareRE = re(`(?:add|create|new|insert)(?:\s+(?:a|an))?(?:\s+new)?(?:\s+(?:lead|contact|deal|prospect))?`)
	findRE       = re(`(?:find|show|search|look ?up|lookup|who is|who's|display|get|open|view|details(?: of| for| on| about)?|info(?: on| about| for)?|tell me about|search for|look for|pull up|check|search up|bring up)\s+(?:me\s+)?(?:for\s+)?(?:the\s+)?(?:leads?\s+|contacts?\s+|deals?\s+|people\s+)?(?:for\s+|named\s+|called\s+|from\s+|at\s+|matching\s+|with\s+)?(.+)`)
)

// parseCommand understands one message. It tries the specific forms before the
// general ones ("set Jane's email to x" before "set Jane to won").
func parseCommand(message string, stages []store.Stage) command {
	s := fixVerb(clean(message))
	if s == "" {
		return command{kind: cmdHelp}
	}
	switch {
	case isYes(s):
		return command{kind: cmdYes}
	case isNo(s):
		return command{kind: cmdNo}
	case helpRE.MatchString(s):
		return command{kind: cmdHelp}
	}
	for _, r := range summaryRE {
		if r.MatchString(s) {
			return command{kind: cmdSummary}
		}
	}
	for _, r := range noteRE {
		if m := r.FindStringSubmatch(s); m != nil {
			return command{kind: cmdNote, ref: cleanRef(m[1]), value: m[2]}
		}
	}
	if m := deleteRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdDelete, ref: cleanRef(m[1])}
	}
	if m := listRE.FindStringSubmatch(s); m != nil && matchStage(stages, m[1]).ok {
		return command{kind: cmdList, stage: m[1]}
	}
	if m := listRE2.FindStringSubmatch(s); m != nil && matchStage(stages, m[1]).ok {
		return command{kind: cmdList, stage: m[1]}
	}
	for _, r := range stageAskRE {
		if m := r.FindStringSubmatch(s); m != nil {
			return command{kind: cmdAsk, ref: cleanRef(m[1]), field: "status"}
		}
	}
	for _, r := range worthRE {
		if m := r.FindStringSubmatch(s); m != nil {
			return command{kind: cmdAsk, ref: cleanRef(m[1]), field: "value"}
		}
	}
	for i, r := range setREs {
		m := r.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		ref, field, value := m[1], m[2], m[3]
		if i == 1 {
			ref, field = m[2], m[1]
		}
		f := fieldOf(field)
		if f == "status" {
			return command{kind: cmdMove, ref: cleanRef(ref), stage: value}
		}
		return command{kind: cmdSet, ref: cleanRef(ref), field: f, value: strings.TrimSpace(trimQuotes(value))}
	}
	if m := renameRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdSet, ref: cleanRef(m[1]), field: "name", value: trimQuotes(m[2])}
	}
	if m := pronounAskRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdAsk, ref: m[1], field: fieldOf(m[2])}
	}
	for i, r := range askREs {
		m := r.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		ref, field := m[2], m[1]
		if i == 1 || i == 3 {
			ref, field = m[1], m[2]
		}
		return command{kind: cmdAsk, ref: cleanRef(ref), field: fieldOf(field)}
	}
	if m := nextRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdNext, ref: cleanRef(m[1])}
	}
	if m := moveRE.FindStringSubmatch(s); m != nil {
		if cmd, ok := splitMove(m[1], stages); ok {
			return cmd
		}
	}
	if m := advanceRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdNext, ref: cleanRef(m[1])}
	}
	if cmd, ok := splitBareMove(s, stages); ok {
		return cmd
	}
	if createBareRE.MatchString(s) {
		return command{kind: cmdCreate}
	}
	if m := createRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdCreate, args: parseCreate(m[1], stages)}
	}
	if m := findRE.FindStringSubmatch(s); m != nil {
		return command{kind: cmdFind, ref: cleanRef(m[1])}
	}
	return command{kind: cmdUnknown}
}

func trimQuotes(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// cleanRef strips the words around a lead reference ("the lead for Jane").
func cleanRef(s string) string {
	s = trimQuotes(strings.TrimSpace(s))
	s = refPrefix.ReplaceAllString(s, "")
	s = refSuffix.ReplaceAllString(s, "")
	return strings.TrimSpace(trimQuotes(s))
}

var (
	moveSep  = regexp.MustCompile(`(?i)\s+(?:to|into|in|in to|onto|over to|under|back to|as|to be|->|=>|→)\s+`)
	fromPart = regexp.MustCompile(`(?i)\s+from\s+(?:the\s+)?[^,]+$`)
)

// splitMove reads "<lead> to <stage>" (with "into", "in", "as"... or nothing:
// "mark Jane Doe won") after a move verb. The lead's words and the stage's words
// are told apart by trying each split and keeping the longest stage text that
// names a stage; a text that names no stage still makes a move when a separator
// marks it, so the person hears the list of stages.
func splitMove(rest string, stages []store.Stage) (command, bool) {
	locs := moveSep.FindAllStringIndex(rest, -1)
	for _, loc := range locs {
		ref, stage := rest[:loc[0]], strings.TrimSpace(rest[loc[1]:])
		if matchStage(stages, stage).ok || len(matchStage(stages, stage).candidates) > 0 {
			return command{kind: cmdMove, ref: cleanRef(fromPart.ReplaceAllString(ref, "")), stage: stage}, true
		}
	}
	words := strings.Fields(rest)
	for i := 1; i < len(words); i++ {
		stage := strings.Join(words[i:], " ")
		if matchStage(stages, stage).ok {
			return command{kind: cmdMove, ref: cleanRef(strings.Join(words[:i], " ")), stage: stage}, true
		}
	}
	if len(locs) > 0 {
		loc := locs[len(locs)-1]
		ref, stage := rest[:loc[0]], strings.TrimSpace(rest[loc[1]:])
		if _, err := parseAmount(stage); err == nil {
			return command{kind: cmdSet, ref: cleanRef(ref), field: "value", value: stage}, true
		}
		return command{kind: cmdMove, ref: cleanRef(fromPart.ReplaceAllString(ref, "")), stage: stage}, true
	}
	return command{}, false
}

var bareMoveRE = regexp.MustCompile(`(?i)^(.+?)\s+(?:to|->|=>|→|is now in|is now|is in|is|moved to|goes to|should be in|should be|has|got|was|signed|closed|won|lost)\s+(.+)$`)
var bareWonRE = regexp.MustCompile(`(?i)^(.+?)\s+(?:has\s+|have\s+|is\s+|was\s+|just\s+)?(signed|won|lost|closed won|closed lost|dropped out|said no|went dark)$`)

// splitBareMove reads a move without a verb: "Jane to won", "Bob is now in
// negotiation", "Priya signed". Only a text that names a stage makes it a move.
func splitBareMove(s string, stages []store.Stage) (command, bool) {
	if m := bareWonRE.FindStringSubmatch(s); m != nil {
		stage := m[2]
		switch strings.ToLower(stage) {
		case "dropped out", "said no", "went dark":
			stage = "lost"
		}
		if matchStage(stages, stage).ok {
			return command{kind: cmdMove, ref: cleanRef(m[1]), stage: stage}, true
		}
	}
	if m := bareMoveRE.FindStringSubmatch(s); m != nil && matchStage(stages, m[2]).ok {
		return command{kind: cmdMove, ref: cleanRef(m[1]), stage: m[2]}, true
	}
	return command{}, false
}

// --- create ---

var (
	emailRE  = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+`)
	phoneRE  = regexp.MustCompile(`^\+?[\d(][\d\s().\-]{5,}\d$`)
	kwRE     = regexp.MustCompile(`(?i)(?:^|\s+)(?:and\s+|with\s+|,\s*)?(?:(company|from|at|of|works at|working at|who works at|employed at|with company)|(value|worth|valued at|value of|deal size|deal value|deal of|amount|budget|for)|(phone number|phone|tel|telephone|mobile|cell|number)|(source|via|lead source|came from|through|found via|found through|referred by|origin)|(status|stage|in stage|in|into|to|as)|(email|e-mail|mail)|(notes|note|saying|comment))(?:\s*[:=]|\s+is)?\s+`)
	parenRE  = regexp.MustCompile(`\(([^)]+)\)`)
	namedRE  = regexp.MustCompile(`(?i)^(?:named|called|name|name is|for)\s*[:=]?\s+`)
	amountIn = regexp.MustCompile(`(?i)(?:^|\s)((?:usd|eur|gbp|[$€£])\s?\d[\d,]*(?:\.\d+)?\s*(?:k|m|mm|thousand|million|grand)?|\d[\d,]*(?:\.\d+)?\s*(?:k|m|mm|thousand|million|grand)\b|\d[\d,]*(?:\.\d+)?\s*(?:usd|eur|gbp|dollars|bucks|[$€£]))(?:\s|$)`)
)

// knownSources are where leads come from; "from LinkedIn" names a source, while
// "from Initech" names a company.
var knownSources = map[string]bool{
	"website": true, "web": true, "the website": true, "our website": true, "referral": true, "a referral": true,
	"linkedin": true, "trade show": true, "tradeshow": true, "a trade show": true, "cold email": true,
	"cold call": true, "cold calling": true, "google": true, "google ads": true, "ads": true, "facebook": true,
	"twitter": true, "x": true, "partner": true, "a partner": true, "event": true, "an event": true,
	"conference": true, "a conference": true, "webinar": true, "a webinar": true, "chat": true, "inbound": true,
	"outbound": true, "newsletter": true, "instagram": true, "youtube": true, "word of mouth": true,
	"email campaign": true, "ad": true, "an ad": true, "seo": true, "podcast": true,
}

// parseCreate reads the details of a new lead: the name first, then company,
// value, email, phone, source and stage in any order, each after a keyword
// ("from Initech", "worth 20k", "email jane@x.com", "via LinkedIn", "in
// negotiation") or on its own between commas ("Jane Roe, Initech, 20k").
func parseCreate(text string, stages []store.Stage) createArgs {
	var a createArgs
	if m := emailRE.FindString(text); m != "" {
		a.Email = m
		text = strings.Replace(text, m, " ", 1)
		text = regexp.MustCompile(`(?i)(?:,\s*|\s+)(?:and\s+|with\s+)?(?:an?\s+|his\s+|her\s+|their\s+|its\s+)?(?:email|e-mail|mail)(?:\s+address)?(?:\s+(?:is|of))?\s*[:=]?\s*(?:,|$|\s+(?:and|,))`).ReplaceAllString(text, " , ")
	}
	if m := regexp.MustCompile(`(?i)(?:^|[\s,]+)(?:notes?|saying|comment)\s*[:=]\s*(.+)$`).FindStringSubmatchIndex(text); m != nil {
		a.Notes = strings.TrimSpace(text[m[2]:m[3]])
		text = text[:m[0]]
	}
	// "her phone is …" gives the phone: the pronoun is not a word of any field.
	text = possessiveFieldRE.ReplaceAllString(text, "$1")
	if m := parenRE.FindStringSubmatch(text); m != nil {
		a.Company = strings.TrimSpace(m[1])
		text = strings.Replace(text, m[0], " ", 1)
	}
	parts := splitParts(text)
	first := true
	for _, part := range parts {
		part = strings.TrimSpace(part)
		part = regexp.MustCompile(`(?i)^(?:and|with|plus)\s+`).ReplaceAllString(part, "")
		if part == "" {
			continue
		}
		chunks := splitKeywords(part)
		for i, c := range chunks {
			val := strings.TrimSpace(trimQuotes(c.text))
			if val == "" {
				continue
			}
			if first && i == 0 && c.kind == "" {
				a.Name = strings.TrimSpace(namedRE.ReplaceAllString(val, ""))
				// "Jane Roe 20k": an amount at the end of the name part.
				if m := amountIn.FindStringSubmatchIndex(a.Name); m != nil && m[0] > 0 {
					if v, err := parseAmount(a.Name[m[2]:m[3]]); err == nil {
						a.Value = &amount{text: v.String()}
						a.Name = strings.TrimSpace(a.Name[:m[0]] + " " + a.Name[m[1]:])
					}
				}
				continue
			}
			assignCreate(&a, c.kind, c.keyword, val, stages)
		}
		first = false
	}
	return a
}

// splitParts cuts text at commas and semicolons, except the thousands
// separators of numbers ("$15,000").
func splitParts(text string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != ',' && c != ';' {
			continue
		}
		if c == ',' && i > 0 && isDigit(text[i-1]) && i+3 < len(text) &&
			isDigit(text[i+1]) && isDigit(text[i+2]) && isDigit(text[i+3]) && (i+4 == len(text) || !isDigit(text[i+4])) {
			continue // a thousands separator
		}
		parts = append(parts, text[start:i])
		start = i + 1
	}
	return append(parts, text[start:])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

type chunk struct{ kind, keyword, text string }

// splitKeywords cuts a part of a create command at its keywords.
func splitKeywords(part string) []chunk {
	kinds := []string{"", "company", "value", "phone", "source", "status", "email", "notes"}
	locs := kwRE.FindAllStringSubmatchIndex(part, -1)
	var out []chunk
	prev, kind, kw := 0, "", ""
	for _, loc := range locs {
		if loc[0] < prev {
			continue
		}
		out = append(out, chunk{kind: kind, keyword: kw, text: part[prev:loc[0]]})
		for g := 1; g < len(kinds); g++ {
			if loc[2*g] >= 0 {
				kind, kw = kinds[g], strings.ToLower(part[loc[2*g]:loc[2*g+1]])
			}
		}
		prev = loc[1]
	}
	out = append(out, chunk{kind: kind, keyword: kw, text: part[prev:]})
	// A keyword that does not fit its text joins the text before it: "Made in
	// Italy" is a company, not a stage "Italy".
	merged := []chunk{out[0]}
	for _, c := range out[1:] {
		if !fits(c) && len(merged) > 0 {
			last := &merged[len(merged)-1]
			last.text = strings.TrimSpace(last.text) + " " + c.keyword + " " + strings.TrimSpace(c.text)
			continue
		}
		merged = append(merged, c)
	}
	return merged
}

// fits says whether a chunk's text looks like what its keyword announces, for the
// keywords that are also common words ("for", "in", "to", "of", "at").
func fits(c chunk) bool {
	t := strings.TrimSpace(c.text)
	switch c.keyword {
	case "for":
		_, err := parseAmount(t)
		return err == nil
	case "in", "into", "to", "as":
		return true // checked against the stages in assignCreate
	case "of":
		_, err := parseAmount(t)
		return err == nil
	}
	return t != ""
}

func assignCreate(a *createArgs, kind, keyword, val string, stages []store.Stage) {
	switch kind {
	case "company":
		if knownSources[strings.ToLower(val)] && keyword == "from" {
			a.Source = val
			return
		}
		if a.Company == "" {
			a.Company = val
		} else {
			a.Name = strings.TrimSpace(a.Name + " " + keyword + " " + val)
		}
	case "value":
		if v, err := parseAmount(val); err == nil {
			a.Value = &amount{text: v.String()}
		} else {
			a.Value = &amount{text: val}
		}
	case "phone":
		a.Phone = val
	case "source":
		a.Source = val
	case "status":
		if matchStage(stages, val).ok || keyword == "status" || keyword == "stage" || keyword == "in stage" {
			a.Status = val
			return
		}
		if a.Company == "" && (keyword == "in" || keyword == "at") {
			a.Company = val
			return
		}
		a.Name = strings.TrimSpace(a.Name + " " + keyword + " " + val)
	case "email":
		if a.Email == "" {
			a.Email = val
		}
	case "notes":
		a.Notes = val
	default:
		// A bare part: an amount, a phone number, a stage, a source, else the company.
		switch {
		case amountLike(val):
			v, _ := parseAmount(val)
			a.Value = &amount{text: v.String()}
		case phoneRE.MatchString(val):
			a.Phone = val
		case matchStage(stages, val).ok && a.Status == "":
			a.Status = val
		case knownSources[strings.ToLower(val)] && a.Source == "":
			a.Source = val
		case a.Company == "":
			a.Company = val
		case a.Notes == "":
			a.Notes = val
		}
	}
}

// amountLike says whether a bare text is a deal value: "20k", "$20,000", "20000";
// a long run of digits is rather a phone number.
func amountLike(s string) bool {
	if _, err := parseAmount(s); err != nil {
		return false
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	return len(digits) < 7 || strings.ContainsAny(s, "$€£,kKmM")
}
