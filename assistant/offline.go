package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
- move leads: "move Jane Doe to Meeting booked", "mark Bob and Priya as won", "we lost Tom", "sent the proposal to Emily"
- add a lead: "add Jane Roe from Initech, value 20k, email jane@initech.com, phone +1 555 0100, source LinkedIn"
- change a field: "Jane's new email is jane@new.com", "bump Bob's value to 30k", "add a note to Kenji: call back in March"
- answer: "what's Jane's phone?", "where did Bob come from?", "when was Priya added?", "what changed on Emily lately?"
- the pipeline: "how many leads are in Interest?", "pipeline summary", "biggest deals", "leads by source", "who's in Negotiation?"
- delete a lead (after you confirm): "delete Bob Martin"`

func (offline) respond(ctx context.Context, t *turn, job store.ChatJob) (reply, error) {
	w, err := t.world(ctx, job)
	if err != nil {
		return reply{}, err
	}
	cmds := parseMessage(job.Message, w)
	if p := t.lostQuestion; p != nil {
		if text, ok, err := answerLost(ctx, t, *p, job.Message, cmds); ok || err != nil {
			return reply{text: text}, err
		}
	}
	var lines []string
	for _, cmd := range cmds {
		text, err := run(ctx, t, w, cmd, job.Message)
		if err != nil {
			return reply{}, err
		}
		lines = append(lines, text)
		t.remember(cmd)
		if t.stop {
			break
		}
	}
	return reply{text: strings.Join(lines, "\n")}, nil
}

// run carries out a command through the tools and says what happened.
func run(ctx context.Context, t *turn, w *world, cmd command, message string) (string, error) {
	call := func(name string, args any) (string, error) {
		res, err := t.callJSON(ctx, name, args)
		return res.Message, err
	}
	// each runs fn for every lead the command names, and says what happened to
	// each: "move Jane and Bob to won" moves both.
	each := func(fn func(ref string) (string, error)) (string, error) {
		if len(cmd.refs) == 0 {
			return "Which lead? Please name it.", nil
		}
		var lines []string
		for _, r := range cmd.refs {
			var text string
			var err error
			switch {
			case r.pronoun && len(r.leads) == 0:
				text = fmt.Sprintf("Who do you mean by %q? Please name the lead.", r.text)
			case len(r.leads) == 1:
				text, err = fn(r.leads[0].ID.String())
			default:
				text, err = fn(r.text)
			}
			if err != nil {
				return "", err
			}
			lines = append(lines, text)
			if t.stop {
				break
			}
		}
		return strings.Join(lines, "\n"), nil
	}
	switch cmd.intent {
	case intentHelp:
		return "Hi! " + helpText, nil
	case intentYes:
		return "There is nothing waiting for a yes right now, so I did nothing. I ask before deleting, and a yes counts only right after I ask.", nil
	case intentNo:
		return "OK, nothing to do.", nil
	case intentChoose:
		if t.choice != nil {
			if rep, ok, err := completeChoice(ctx, t, *t.choice, cmd.refs[0].leads[0].ID); err != nil || ok {
				return rep.text, err
			}
		}
		return describeLeads("Here it is", cmd.refs[0].leads), nil
	case intentSummary:
		return call(toolSummary, struct{}{})
	case intentStats:
		if cmd.query != "" {
			return sourceStats(ctx, t, cmd.query)
		}
		return stageStats(ctx, t, cmd.stage)
	case intentAdded:
		return addedIn(ctx, t, cmd.text)
	case intentBiggest:
		return biggest(ctx, t)
	case intentSources:
		return bySource(ctx, t)
	case intentRecent:
		if len(cmd.refs) > 0 {
			return each(func(ref string) (string, error) { return ask(ctx, t, ref, "history") })
		}
		return recent(ctx, t)
	case intentMove:
		status := cmd.stageText
		if cmd.stage != nil {
			status = cmd.stage.Name
		}
		args := statusArgs{Status: status, LostReason: cmd.reason}
		if cmd.value != "" {
			args.Value = &amount{text: cmd.value}
		}
		return each(func(ref string) (string, error) {
			args.Lead = ref
			return call(toolStatus, args)
		})
	case intentOwned:
		return call(toolSearch, searchArgs{Owner: cmd.query})
	case intentNext:
		return each(func(ref string) (string, error) { return moveNext(ctx, t, ref) })
	case intentSet:
		if cmd.field == "" || cmd.value == "" && !cmd.clear {
			return "What should I change, and to what? For example: \"set Jane Doe's phone to +1 555 0100\".", nil
		}
		v, err := json.Marshal(cmd.value)
		if err != nil {
			return "", err
		}
		return each(func(ref string) (string, error) {
			return call(toolData, dataArgs{Lead: ref, Changes: map[string]json.RawMessage{cmd.field: v}})
		})
	case intentNote:
		if cmd.text == "" {
			return "What should the note say? For example: \"add a note to Jane Doe: call back in March\".", nil
		}
		return each(func(ref string) (string, error) { return addNote(ctx, t, ref, cmd.text) })
	case intentAsk:
		return each(func(ref string) (string, error) { return ask(ctx, t, ref, cmd.field) })
	case intentFind:
		if cmd.query == "" && len(cmd.refs) > 0 {
			cmd.query = cmd.refs[0].text
		}
		if cmd.query == "" {
			return "Who should I look for? Give a name, company or email.", nil
		}
		return call(toolSearch, searchArgs{Query: cmd.query})
	case intentList:
		if cmd.stage == nil {
			return "Which stage? The stages are " + stageNameList(t.stages) + ".", nil
		}
		return call(toolSearch, searchArgs{Status: cmd.stage.Name})
	case intentCreate:
		if strings.TrimSpace(cmd.args.Name) == "" {
			return `What is the new lead's name? For example: "add Jane Roe from Initech, value 20k".`, nil
		}
		return call(toolCreate, cmd.args)
	case intentDelete:
		if len(cmd.refs) > 1 {
			return "I delete one lead at a time, and only after you confirm. Which lead should I delete?", nil
		}
		return each(func(ref string) (string, error) { return call(toolDelete, deleteArgs{Lead: ref}) })
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
	raw, err := json.Marshal(map[string]string{"lead": ref, "field": field})
	if err != nil {
		return "", err
	}
	lead, res, ok, err := t.resolveLead(ctx, ref, toolSearch, raw)
	if err != nil || !ok {
		return res.Message, err
	}
	t.focusOut = []uuid.UUID{lead.ID}
	switch field {
	case "added", "touched", "history":
		return askHistory(ctx, t, lead, field)
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
	case "owner":
		if lead.Owner == nil {
			return fmt.Sprintf("Nobody owns %s.", who), nil
		}
		return fmt.Sprintf("%s owns %s.", ownerName(lead.Owner), who), nil
	case "lost_reason":
		return lostReasonText(t, lead), nil
	}
	return describeLeads("Found", []store.Lead{lead}), nil
}

// completeChoice completes the call that waited for the person to pick a lead,
// with the lead picked. ok is false when nothing waited.
func completeChoice(ctx context.Context, t *turn, p pending, id uuid.UUID) (reply, bool, error) {
	var args map[string]any
	if len(p.Args) > 0 {
		if err := json.Unmarshal(p.Args, &args); err != nil {
			return reply{}, false, nil
		}
	}
	if args == nil {
		args = map[string]any{}
	}
	args["lead"] = id.String()
	if p.Tool == toolSearch {
		// A question ("what is Jane's email?") waited: answer it.
		field, _ := args["field"].(string)
		text, err := ask(ctx, t, id.String(), field)
		return reply{text: text}, true, err
	}
	if p.Tool == toolStatus && args["status"] == "next" {
		text, err := moveNext(ctx, t, id.String())
		return reply{text: text}, true, err
	}
	res, err := t.callJSON(ctx, p.Tool, args)
	if err != nil {
		return reply{}, false, err
	}
	return reply{text: res.Message}, true, nil
}

// lostReasonText answers why a lead was lost.
func lostReasonText(t *turn, lead store.Lead) string {
	who := leadLabel(lead)
	lost := false
	for _, st := range t.stages {
		if st.Name == lead.Status && st.Kind == kindLost {
			lost = true
		}
	}
	switch {
	case lead.LostReason == "" && lost:
		return fmt.Sprintf("%s is in %s, but no reason was recorded.", who, lead.Status)
	case lead.LostReason == "":
		return fmt.Sprintf("%s is not lost: it is in %s.", who, lead.Status)
	}
	text := fmt.Sprintf("We lost %s: %s", who, lead.LostReason)
	if lead.LostNote != "" {
		text += " (" + truncate(lead.LostNote, 500) + ")"
	}
	if !lost {
		text += fmt.Sprintf(". It has since been reopened and is in %s", lead.Status)
	}
	return text + "."
}

// smallTalk are words that answer nothing: "thanks", "great".
var smallTalk = words("thanks thank great cool nice perfect awesome good fine got sounds")

// skipWords answer "why did we lose Bob?" with no reason.
var skipWords = words("skip no nope nah none dunno pass cancel nevermind")

// denials are word runs in an answer to "why did we lose Bob?" that say it
// was no loss, or that the person was only asking: never a reason.
var denials = [][]string{
	{"just", "asking"}, {"only", "asking"}, {"no", "idea"}, {"not", "lost"}, {"isnt", "lost"},
	{"wasnt", "lost"}, {"still", "active"}, {"still", "open"}, {"still", "in"}, {"not", "sure"},
	{"dont", "know"}, {"never", "mind"}, {"didnt", "lose"}, {"did", "not"}, {"havent", "lost"},
}

// deniesLoss says whether the answer's words contain a denial.
func deniesLoss(ws []string) bool {
	ws = slices.Clone(ws)
	for i, w := range ws {
		ws[i] = strings.ReplaceAll(w, "'", "")
	}
	for i := range ws {
		for _, d := range denials {
			if i+len(d) <= len(ws) && slices.Equal(ws[i:i+len(d)], d) {
				return true
			}
		}
	}
	return false
}

// answerLost reads the answer to "why did we lose Bob?": the reason, which
// completes the move (or records the reason of the move made), a no, or a
// change of subject (then ok is false and the message is a new command).
func answerLost(ctx context.Context, t *turn, p pending, msg string, cmds []command) (string, bool, error) {
	ws := answerWords(msg)
	if len(ws) > 0 && len(ws) <= 3 && skipWords[ws[0]] || isNo(msg) || deniesLoss(ws) {
		if p.Required {
			return fmt.Sprintf("OK, I left %s where it was: a lost lead needs a reason here.", p.Label), true, nil
		}
		return "OK, no reason recorded.", true, nil
	}
	reason := strings.TrimSpace(msg)
	content := false
	for _, w := range ws {
		content = content || !noise[w] && !smallTalk[w] && !yesWords[w]
	}
	if len(cmds) != 1 || !content {
		return "", false, nil // "thanks", "ok": no reason
	}
	c := cmds[0]
	for _, r := range c.refs {
		if !r.pronoun && !(len(r.leads) == 1 && r.leads[0].ID == p.LeadID) {
			return "", false, nil // another lead: a new command
		}
	}
	switch c.intent {
	case intentUnknown, intentFind, intentNote, intentSet:
		// "they had no budget", "the price": no other lead named, so words
		// about this one.
	case intentMove:
		if c.stage != nil && c.stage.Kind != kindLost {
			return "", false, nil
		}
		if c.reason == "" {
			// "move Aisha to closed lost": the same move again, no reason;
			// a new command (which asks again), never a reason.
			return "", false, nil
		}
		reason = c.reason
	case intentAsk:
		if strings.HasSuffix(reason, "?") || len(ws) > 0 && questionStarts[ws[0]] {
			return "", false, nil
		}
	default:
		return "", false, nil
	}
	res, err := t.callJSON(ctx, toolStatus, statusArgs{Lead: p.LeadID.String(), Status: p.Stage, LostReason: strings.TrimRight(reason, ".!")})
	return res.Message, true, err
}
