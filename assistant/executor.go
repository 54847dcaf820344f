package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// Kinds of pending state: what the next message of a conversation may answer.
const (
	pendingConfirmDelete = "confirm_delete"
	pendingChooseLead    = "choose_lead"
	pendingConfirmWrites = "confirm_writes"
	// pendingLostReason is "why did we lose Bob?" (offline): the answer
	// completes the move (Required) or records the reason of the move made.
	pendingLostReason = "lost_reason"
)

// Kinds of stage with an outcome (untyped, so they compare with any string
// kind the store gives stages).
const (
	kindWon  = "won"
	kindLost = "lost"
)

// pending is what the next message may answer: a delete waiting for an explicit
// yes, or (offline) a tool call waiting for the person to pick one of several
// leads. It is stored with the conversation and applies to the next message only.
type pending struct {
	Kind string `json:"kind"`
	// LeadID and Label name the lead a confirm_delete would delete.
	LeadID uuid.UUID `json:"lead_id,omitzero"`
	Label  string    `json:"label,omitempty"`
	// Tool and Args are the call a choose_lead completes with the chosen lead.
	Tool       string          `json:"tool,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
	Candidates []candidate     `json:"candidates,omitempty"`
	// Writes are the model's writes a confirm_writes runs after a yes (guard.go).
	Writes []heldWrite `json:"writes,omitempty"`
	// Focus and Field are what the exchange was about (offline): the leads and
	// the field a pronoun in the next message stands for.
	Focus []uuid.UUID `json:"focus,omitempty"`
	Field string      `json:"field,omitempty"`
	// Stage and Required are the lost stage a lost_reason question is about,
	// and whether the move waits for the answer (else it was made).
	Stage    string `json:"stage,omitempty"`
	Required bool   `json:"required,omitempty"`
}

type candidate struct {
	ID    uuid.UUID `json:"id"`
	Label string    `json:"label"`
}

// minWriteScore is the least match score a lead needs for a tool to change it
// without asking "did you mean ...?" first.
const minWriteScore = 0.6

// turn runs the tools of one message: it is the executor both the LLM and the
// offline assistant use. Reads go to the store. Writes are planned, not made:
// each is checked against the data as it is now and recorded as an operation
// with its change; the plan is written with the reply in one transaction when
// the turn ends. leads holds every lead as the plan leaves it, so later calls of
// the same turn see earlier ones (a lead created here can be moved here).
type turn struct {
	store *store.Store
	now   time.Time

	stages  []store.Stage
	ops     []store.ChatOperation
	leads   map[uuid.UUID]store.Lead
	created map[uuid.UUID]bool

	// pendingOut is what the next message may answer, set by delete_lead (and by
	// an ambiguous lead, for the offline assistant's follow-up).
	pendingOut *pending
	// ambiguous is the choice the last ambiguous lead reference left open.
	ambiguous *pending
	// choice is the open choice this message may settle (offline assistant).
	choice *pending
	// stop says a tool ended the turn: a delete waits for the person's yes.
	stop bool
	// guard holds the model's writes that the person did not clearly ask for;
	// nil for the offline assistant, which reads only the person's words.
	guard *guard
	// context is what the last exchange left (its focus), for the offline
	// parser; focusOut and focusField are what this one leaves.
	context    *pending
	focusOut   []uuid.UUID
	focusField string
	// repeatDelete is the lead whose delete waited for a yes when the person
	// answered with something yes-like: a delete_lead of it now confirms it.
	repeatDelete uuid.UUID

	// convID is the conversation; self its user ("me"), read when needed.
	convID uuid.UUID
	self   *selfUser
	// users are the active accounts, read when a message names one.
	users []store.User
	// settings and reasons are the pipeline settings and the admin list of
	// lost reasons, read when a lead is lost.
	settings *store.PipelineSettings
	reasons  []store.LostReason
	// lostAsk is the question a move into a lost stage left (offline: the
	// next message may answer it); lostQuestion is the one this message may
	// answer.
	lostAsk      *pending
	lostQuestion *pending
}

func newTurn(st *store.Store, now time.Time) *turn {
	return &turn{store: st, now: now, leads: map[uuid.UUID]store.Lead{}, created: map[uuid.UUID]bool{}}
}

// call runs one tool with its JSON arguments. A mistake of the caller (unknown
// tool, bad arguments, no such lead) is a toolResult that says so; an error is a
// failure of the system (the database is down) that ends the turn. A turn with
// a guard (the model's) runs writes through it (guard.go).
func (t *turn) call(ctx context.Context, name string, rawArgs []byte) (toolResult, error) {
	if t.guard != nil && (name == toolStatus || name == toolData || name == toolCreate) {
		return t.guarded(ctx, name, rawArgs)
	}
	return t.run(ctx, name, rawArgs)
}

// run runs one tool, unguarded.
func (t *turn) run(ctx context.Context, name string, rawArgs []byte) (toolResult, error) {
	switch name {
	case toolSearch:
		var a searchArgs
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.search(ctx, a)
	case toolStatus:
		var a statusArgs
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.updateStatus(ctx, a, rawArgs)
	case toolData:
		var a dataArgs
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.updateData(ctx, a, rawArgs)
	case toolCreate:
		var a map[string]json.RawMessage
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.create(ctx, a)
	case toolDelete:
		var a deleteArgs
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.requestDelete(ctx, a, rawArgs)
	case toolSummary:
		var a struct{}
		if err := decodeArgs(rawArgs, &a); err != nil {
			return failed("%s", err), nil
		}
		return t.summary(ctx)
	}
	return failed("There is no tool %q. The tools are %s.", name, joinAnd(toolNames())), nil
}

// callJSON runs a tool with arguments given as a Go value (the offline assistant).
func (t *turn) callJSON(ctx context.Context, name string, args any) (toolResult, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return toolResult{}, fmt.Errorf("encode %s arguments: %w", name, err)
	}
	return t.call(ctx, name, raw)
}

func (t *turn) loadStages(ctx context.Context) ([]store.Stage, error) {
	if t.stages == nil {
		st, err := t.store.Stages(ctx)
		if err != nil {
			return nil, err
		}
		t.stages = st
	}
	return t.stages, nil
}

// stage resolves what a person called a stage; when it cannot, the toolResult
// says why (with the list of stages) and ok is false.
func (t *turn) stage(ctx context.Context, text string) (store.Stage, toolResult, bool, error) {
	stages, err := t.loadStages(ctx)
	if err != nil {
		return store.Stage{}, toolResult{}, false, err
	}
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	m := matchStage(stages, text)
	switch {
	case m.ok:
		return m.stage, toolResult{}, true, nil
	case len(m.candidates) > 1:
		cn := make([]string, len(m.candidates))
		for i, c := range m.candidates {
			cn[i] = c.Name
		}
		return store.Stage{}, toolResult{Message: fmt.Sprintf("%q could be %s. Which stage do you mean?", strings.TrimSpace(text), joinOr(cn)), Stages: names}, false, nil
	case strings.TrimSpace(text) == "":
		return store.Stage{}, toolResult{Message: "Which stage? The stages are " + stageNameList(stages) + ".", Stages: names}, false, nil
	}
	return store.Stage{}, toolResult{Message: fmt.Sprintf("There is no stage %q. The stages are %s.", strings.TrimSpace(text), stageNameList(stages)), Stages: names}, false, nil
}

// current returns a lead as the plan leaves it.
func (t *turn) current(l store.Lead) store.Lead {
	if p, ok := t.leads[l.ID]; ok {
		return p
	}
	return l
}

// resolveLead finds the one lead ref means, for a tool that changes it. When it
// cannot (no match, several about equal, or only a weak match) the toolResult
// says so, lists the candidates, and ok is false; t.ambiguous then holds the
// choice, so the call can be completed once the person picks a lead.
func (t *turn) resolveLead(ctx context.Context, ref, tool string, rawArgs []byte) (store.Lead, toolResult, bool, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return store.Lead{}, failed("Which lead? Give a name, company or email."), false, nil
	}
	if id, err := uuid.Parse(ref); err == nil {
		if l, ok := t.leads[id]; ok {
			return l, toolResult{}, true, nil
		}
		l, err := t.store.GetLead(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Lead{}, failed("There is no lead with id %s.", id), false, nil
		}
		if err != nil {
			return store.Lead{}, toolResult{}, false, err
		}
		return l, toolResult{}, true, nil
	}
	norm := strings.ToLower(strings.Join(strings.Fields(ref), " "))
	for id := range t.created {
		l := t.leads[id]
		if strings.ToLower(l.Name) == norm || (l.Email != "" && strings.ToLower(l.Email) == norm) {
			return l, toolResult{}, true, nil
		}
	}
	matches, err := t.store.MatchLeads(ctx, ref, 6)
	if err != nil {
		return store.Lead{}, toolResult{}, false, err
	}
	if len(matches) == 0 {
		return store.Lead{}, failed("I couldn't find a lead matching %q.", ref), false, nil
	}
	top := matches[0]
	var tied []store.Lead
	for _, m := range matches {
		if top.Score-m.Score <= store.AmbiguityMargin {
			tied = append(tied, t.current(m.Lead))
		}
	}
	switch {
	case len(tied) > 1:
		labels := make([]string, len(tied))
		for i, l := range tied {
			labels[i] = leadDetail(l)
		}
		t.setAmbiguous(tool, rawArgs, tied)
		return store.Lead{}, toolResult{
			Message:    fmt.Sprintf("Several leads match %q: %s. Which one do you mean?", ref, joinAnd(labels)),
			Candidates: viewsOf(tied),
		}, false, nil
	case top.Score < minWriteScore:
		l := t.current(top.Lead)
		t.setAmbiguous(tool, rawArgs, []store.Lead{l})
		return store.Lead{}, toolResult{
			Message:    fmt.Sprintf("I'm not sure which lead %q is. Do you mean %s?", ref, leadDetail(l)),
			Candidates: viewsOf([]store.Lead{l}),
		}, false, nil
	}
	return t.current(top.Lead), toolResult{}, true, nil
}

func (t *turn) setAmbiguous(tool string, rawArgs []byte, leads []store.Lead) {
	p := &pending{Kind: pendingChooseLead, Tool: tool, Args: json.RawMessage(rawArgs)}
	for _, l := range leads {
		p.Candidates = append(p.Candidates, candidate{ID: l.ID, Label: leadDetail(l)})
	}
	t.ambiguous = p
}

// search answers search_leads: leads matching a query, or the leads of a stage.
func (t *turn) search(ctx context.Context, a searchArgs) (toolResult, error) {
	q := strings.TrimSpace(a.Query)
	if strings.TrimSpace(a.Owner) != "" {
		return t.listOwned(ctx, a.Owner)
	}
	if q == "" && strings.TrimSpace(a.Status) == "" {
		return failed("Give a name, company or email to look for, a stage, or an owner."), nil
	}
	if strings.TrimSpace(a.Status) != "" {
		st, res, ok, err := t.stage(ctx, a.Status)
		if err != nil || !ok {
			return res, err
		}
		return t.listStage(ctx, st, q)
	}
	matches, err := t.store.MatchLeads(ctx, q, searchLimit)
	if err != nil {
		return toolResult{}, err
	}
	var found []store.Lead
	norm := strings.ToLower(q)
	for id := range t.created {
		l := t.leads[id]
		if strings.Contains(strings.ToLower(l.Name+" "+l.Company+" "+l.Email), norm) {
			found = append(found, l)
		}
	}
	for _, m := range matches {
		// Much weaker matches than the best are noise ("Oliver Smith" for "Jane
		// Smith"); matches about as good are what the person may mean.
		if m.Score < matches[0].Score-searchSpread {
			break
		}
		found = append(found, t.current(m.Lead))
	}
	found = found[:min(len(found), searchLimit)]
	if len(found) == 0 {
		return toolResult{OK: true, Message: fmt.Sprintf("No lead matches %q.", q), Leads: []leadView{}}, nil
	}
	return toolResult{OK: true, Message: describeLeads(fmt.Sprintf("%s matching %q", plural(len(found), "lead"), q), found), Leads: viewsOf(found)}, nil
}

// searchLimit and stageListLimit bound what a search returns, so a tool result
// (and the model's next request) stays small whatever the size of the pipeline.
const (
	searchLimit    = 5
	stageListLimit = 10
	// searchSpread is how far below the best match a search still lists leads.
	searchSpread = 0.3
)

func (t *turn) listStage(ctx context.Context, st store.Stage, q string) (toolResult, error) {
	board, err := t.store.ListBoard(ctx, store.BoardQuery{Status: st.Name, Search: q, Limit: stageListLimit, WithTotals: true})
	if err != nil {
		return toolResult{}, err
	}
	var col store.Column
	for _, c := range board.Columns {
		if c.Stage.Name == st.Name {
			col = c
		}
	}
	if len(col.Leads) == 0 {
		return toolResult{OK: true, Message: fmt.Sprintf("No leads in %s.", st.Name), Leads: []leadView{}}, nil
	}
	return t.listed(fmt.Sprintf("%s in %s", plural(col.Count, "lead"), st.Name), col.Count, col.Leads, "first"), nil
}

// listed is a tool's answer listing some of count leads under head (which
// says which ones are shown when not all are), as the plan leaves them.
func (t *turn) listed(head string, count int, leads []store.Lead, which string) toolResult {
	if count > len(leads) {
		head += fmt.Sprintf(" (the %s %d)", which, len(leads))
	}
	cur := make([]store.Lead, len(leads))
	for i, l := range leads {
		cur[i] = t.current(l)
	}
	return toolResult{OK: true, Message: describeLeads(head, cur), Leads: viewsOf(cur)}
}

func describeLeads(head string, leads []store.Lead) string {
	var b strings.Builder
	b.WriteString(head + ":")
	for _, l := range leads {
		b.WriteString("\n- " + leadDetail(l))
		if l.Email != "" {
			b.WriteString(" · " + l.Email)
		}
		if l.Phone != "" {
			b.WriteString(" · " + l.Phone)
		}
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// updateStatus plans update_lead_status: a move, with the outcome it carries
// (a lost reason and note into a lost stage, a final value into a won one).
func (t *turn) updateStatus(ctx context.Context, a statusArgs, rawArgs []byte) (toolResult, error) {
	lead, res, ok, err := t.resolveLead(ctx, a.Lead, toolStatus, rawArgs)
	if err != nil || !ok {
		return res, err
	}
	st, res, ok, err := t.stage(ctx, a.Status)
	if err != nil || !ok {
		return res, err
	}
	in := store.LeadInput{}
	reason, note := strings.TrimSpace(a.LostReason), strings.TrimSpace(a.LostNote)
	var final *store.Money
	if a.Value != nil && strings.TrimSpace(a.Value.text) != "" {
		m, err := parseAmount(a.Value.text)
		if err != nil {
			return failed("Nothing changed: value %q %s.", a.Value.text, err), nil
		}
		final = &m
	}
	if st.Kind != kindLost && (reason != "" || note != "") {
		return failed("Nothing changed: a lost reason goes with a move to a lost stage, and %s is not one.", st.Name), nil
	}
	label := leadLabel(lead)
	if lead.Status == st.Name && (reason == "" && note == "" && final == nil) {
		return toolResult{OK: true, Message: fmt.Sprintf("%s is already in %s.", label, st.Name)}, nil
	}
	var details []string
	if st.Kind == kindLost {
		if reason == "" {
			required, err := t.reasonRequired(ctx)
			if err != nil {
				return toolResult{}, err
			}
			ask := &pending{Kind: pendingLostReason, LeadID: lead.ID, Label: label, Stage: st.Name, Required: required}
			if required {
				t.lostAsk = ask
				msg := fmt.Sprintf("Why did we lose %s? The team records a reason for every lost lead (lost_reason), so I have not moved it yet.", lead.Name)
				if t.guard != nil {
					msg += " Ask the person, then call update_lead_status again with lost_reason."
				}
				return failed("%s", msg), nil
			}
			t.lostAsk = ask
		} else {
			list, err := t.lostReasons(ctx)
			if err != nil {
				return toolResult{}, err
			}
			r, n := matchLostReason(list, reason)
			if note == "" {
				note = n
			} else if n != "" {
				note = n + "; " + note
			}
			in.LostReason = &r
			details = append(details, "reason: "+r)
		}
		if note != "" {
			note = truncate(note, store.MaxLostNoteLen-1)
			in.LostNote = &note
		}
	}
	if final != nil {
		in.Value = final
		details = append(details, "value "+formatMoney(*final))
	}
	summary := fmt.Sprintf("Moved %s from %s to %s", label, lead.Status, st.Name)
	if lead.Status == st.Name {
		summary = fmt.Sprintf("Updated %s in %s", label, st.Name)
	}
	if len(details) > 0 {
		summary += " (" + strings.Join(details, ", ") + ")"
	}
	name := st.Name
	in.Status = &name
	t.plan(toolStatus, lead, summary, in, func(l *store.Lead) {
		l.Status = name
		if in.LostReason != nil {
			l.LostReason = *in.LostReason
		}
		if in.LostNote != nil {
			l.LostNote = *in.LostNote
		}
		if in.Value != nil {
			l.Value = *in.Value
		}
	})
	msg := summary + "."
	if st.Kind == kindLost && reason == "" {
		msg += fmt.Sprintf(" If you tell me why we lost %s, I'll record it.", lead.Name)
	}
	return toolResult{OK: true, Message: msg}, nil
}

// reasonRequired says whether the team requires a reason for a lost lead.
func (t *turn) reasonRequired(ctx context.Context) (bool, error) {
	if t.settings == nil {
		s, err := t.store.GetPipelineSettings(ctx)
		if err != nil {
			return false, err
		}
		t.settings = &s
	}
	return t.settings.LostReasonRequired, nil
}

// lostReasons is the admin list of lost reasons (active ones).
func (t *turn) lostReasons(ctx context.Context) ([]store.LostReason, error) {
	if t.reasons == nil {
		list, err := t.store.ListLostReasons(ctx, true)
		if err != nil {
			return nil, err
		}
		t.reasons = list
	}
	return t.reasons, nil
}

// plan records a change of lead and what the lead looks like after it. The
// change carries the version the turn read the lead at (0 for a lead this turn
// creates): it is written only if nobody changed the lead since, so a turn never
// writes back a state older than what it read.
func (t *turn) plan(action string, lead store.Lead, summary string, in store.LeadInput, apply func(*store.Lead)) {
	read := lead.Version
	apply(&lead)
	t.leads[lead.ID] = lead
	snapshot := lead
	t.ops = append(t.ops, store.ChatOperation{
		Action: action, Status: store.OpDone, LeadID: lead.ID, Summary: summary, Lead: &snapshot,
		Change: &store.LeadChange{Kind: store.ChangeUpdate, LeadID: lead.ID, Input: in, IfVersion: read},
	})
}

// updateData plans update_lead_data: any settable field of the table; a
// stage or a lost reason given here is a move (update_lead_status's).
func (t *turn) updateData(ctx context.Context, a dataArgs, rawArgs []byte) (toolResult, error) {
	dataFields := fieldNames(toolFields(append([]string{"status"}, outcomeFields...)...))
	if len(a.Changes) == 0 {
		return failed("Say which fields to change: %s.", joinAnd(dataFields)), nil
	}
	changes := maps.Clone(a.Changes)
	var move *statusArgs
	for k, raw := range a.Changes {
		f, ok := fieldNamed(k)
		if !ok || f.Name != "status" && !slices.Contains(outcomeFields, f.Name) {
			continue
		}
		delete(changes, k)
		text, err := fieldText(f, raw)
		if err != nil {
			return failed("Nothing changed: %s %s.", f.Name, err), nil
		}
		if move == nil {
			move = &statusArgs{}
		}
		switch f.Name {
		case "status":
			move.Status = text
		case "lost_reason":
			move.LostReason = text
		case "lost_note":
			move.LostNote = text
		}
	}
	problems := map[string]string{}
	var fi fieldInput
	if res, err := t.setFields(ctx, &fi, changes, []string{"status", "lost_reason", "lost_note"}, problems); err != nil || res != nil {
		return *res, err
	}
	if len(problems) > 0 {
		return failed("Nothing changed: %s.", describeProblems(problems)), nil
	}
	lead, res, ok, err := t.resolveLead(ctx, a.Lead, toolData, rawArgs)
	if err != nil || !ok {
		return res, err
	}
	var messages []string
	if move != nil {
		if move.Status == "" {
			move.Status = lead.Status
		}
		move.Lead = lead.ID.String()
		r, err := t.updateStatus(ctx, *move, nil)
		if err != nil || !r.OK {
			return r, err
		}
		messages = append(messages, r.Message)
		lead = t.leads[lead.ID]
	}
	in := fi.in
	in.Normalize()
	if verr := in.Validate(false); verr != nil {
		return failed("Nothing changed: %s.", describeProblems(verr.Fields)), nil
	}
	var diffs []string
	for _, f := range toolFields() {
		to, given := fi.given[f.Name]
		if !given {
			continue
		}
		from := f.Text(lead)
		switch f.Kind {
		case store.KindMoney:
			from = formatMoney(lead.Value)
		case store.KindUser:
			from = ""
			if lead.Owner != nil {
				from = ownerName(lead.Owner)
			}
			if fi.owner != nil && lead.Owner != nil && lead.Owner.ID == fi.owner.ID {
				to = from
			}
		case store.KindLongText:
			if to != from {
				diffs = append(diffs, f.Name+" updated")
			}
			continue
		}
		switch {
		case from == to:
		case to == "":
			diffs = append(diffs, f.Name+" cleared")
		case from == "":
			diffs = append(diffs, fmt.Sprintf("%s set to %s", f.Name, to))
		default:
			diffs = append(diffs, fmt.Sprintf("%s from %s to %s", f.Name, from, to))
		}
	}
	if len(diffs) == 0 {
		if len(messages) > 0 {
			return toolResult{OK: true, Message: strings.Join(messages, " ")}, nil
		}
		return toolResult{OK: true, Message: fmt.Sprintf("%s already has those values; nothing to change.", leadLabel(lead))}, nil
	}
	summary := fmt.Sprintf("Updated %s: %s", leadLabel(lead), strings.Join(diffs, ", "))
	t.plan(toolData, lead, summary, in, func(l *store.Lead) { applyInput(l, fi) })
	messages = append(messages, summary+".")
	return toolResult{OK: true, Message: strings.Join(messages, " ")}, nil
}

// applyInput makes l what writing fi makes of it, for the rest of the turn.
func applyInput(l *store.Lead, fi fieldInput) {
	in := fi.in
	l.Name = pick(in.Name, l.Name)
	l.Company = pick(in.Company, l.Company)
	l.Email = pick(in.Email, l.Email)
	l.Phone = pick(in.Phone, l.Phone)
	l.Notes = pick(in.Notes, l.Notes)
	l.Source = pick(in.Source, l.Source)
	if in.Value != nil {
		l.Value = *in.Value
	}
	switch {
	case fi.owner != nil:
		l.Owner = &store.LeadOwner{ID: fi.owner.ID, Name: fi.owner.Name, Email: fi.owner.Email}
	case fi.clearOwner:
		l.Owner = nil
	}
}

func pick(p *string, cur string) string {
	if p == nil {
		return cur
	}
	return *p
}

func describeProblems(fields map[string]string) string {
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, k+" "+fields[k])
	}
	return strings.Join(parts, "; ")
}

// create plans create_lead: any settable field of the table but the outcome's.
func (t *turn) create(ctx context.Context, fields map[string]json.RawMessage) (toolResult, error) {
	problems := map[string]string{}
	status := ""
	if raw, ok := fields["status"]; ok {
		var s string
		if string(raw) != "null" && json.Unmarshal(raw, &s) != nil {
			problems["status"] = "must be text"
		}
		status = s
	}
	for k := range fields {
		if f, ok := fieldNamed(k); !ok || !f.Settable() || slices.Contains(outcomeFields, f.Name) {
			return failed("arguments are not valid: unknown field %q; the fields are %s.", k, joinAnd(fieldNames(toolFields(outcomeFields...)))), nil
		}
	}
	rest := maps.Clone(fields)
	delete(rest, "status")
	if raw, ok := rest["owner"]; ok && (string(raw) == `""` || string(raw) == "null") {
		delete(rest, "owner") // no owner named: the person writing owns it
	}
	fi := fieldInput{}
	if res, err := t.setFields(ctx, &fi, rest, append([]string{"status"}, outcomeFields...), problems); err != nil || res != nil {
		if res != nil {
			res.Message = strings.Replace(res.Message, "Nothing changed:", "The lead was not added:", 1)
		}
		return *res, err
	}
	in := fi.in
	stages, err := t.loadStages(ctx)
	if err != nil {
		return toolResult{}, err
	}
	stageName := stages[0].Name
	if strings.TrimSpace(status) != "" {
		st, res, ok, err := t.stage(ctx, status)
		if err != nil || !ok {
			return res, err
		}
		stageName = st.Name
	}
	in.Status = &stageName
	if in.Name == nil {
		empty := ""
		in.Name = &empty
	}
	in.Normalize()
	if verr := in.Validate(true); verr != nil {
		maps.Copy(problems, verr.Fields)
	}
	if len(problems) > 0 {
		return failed("The lead was not added: %s.", describeProblems(problems)), nil
	}
	id := uuid.New()
	lead := store.Lead{ID: id, Status: stageName}
	applyInput(&lead, fi)
	if fi.owner == nil && !fi.clearOwner {
		if u, ok, err := t.me(ctx); err != nil {
			return toolResult{}, err
		} else if ok {
			lead.Owner = &store.LeadOwner{ID: u.ID, Name: u.Name, Email: u.Email}
		}
	}
	t.leads[id] = lead
	t.created[id] = true
	summary := fmt.Sprintf("Added %s to %s", leadLabel(lead), stageName)
	if lead.Value > 0 {
		summary += " with value " + formatMoney(lead.Value)
	}
	if fi.owner != nil {
		summary += ", owned by " + fi.owner.Name
	}
	snapshot := lead
	t.ops = append(t.ops, store.ChatOperation{
		Action: toolCreate, Status: store.OpDone, LeadID: id, Summary: summary, Lead: &snapshot,
		Change: &store.LeadChange{Kind: store.ChangeCreate, LeadID: id, Input: in},
	})
	msg := summary + "."
	if same, err := t.store.MatchLeads(ctx, lead.Name, 3); err == nil {
		for _, m := range same {
			if m.Score >= store.ScoreExact {
				msg += fmt.Sprintf(" Note: there was already a lead named %s (%s).", m.Lead.Name, m.Lead.Status)
				break
			}
		}
	}
	return toolResult{OK: true, Message: msg}, nil
}

// requestDelete answers delete_lead: it deletes nothing, and ends the turn with
// the question the person has to answer with an explicit yes.
func (t *turn) requestDelete(ctx context.Context, a deleteArgs, rawArgs []byte) (toolResult, error) {
	if isEveryone(a.Lead) {
		return failed("I delete one lead at a time, and only after you confirm. Which lead should I delete?"), nil
	}
	lead, res, ok, err := t.resolveLead(ctx, a.Lead, toolDelete, rawArgs)
	if err != nil || !ok {
		return res, err
	}
	if t.created[lead.ID] {
		return failed("%s is being added in this same message; it cannot be deleted before it exists.", leadLabel(lead)), nil
	}
	if lead.ID == t.repeatDelete && !t.deleted(lead.ID) {
		return t.planDelete(ctx, lead.ID)
	}
	if t.pendingOut != nil && t.pendingOut.Kind == pendingConfirmDelete {
		return failed("One delete at a time: %s is already waiting for confirmation.", t.pendingOut.Label), nil
	}
	label := leadDetail(lead)
	t.pendingOut = &pending{Kind: pendingConfirmDelete, LeadID: lead.ID, Label: label}
	snapshot := lead
	t.ops = append(t.ops, store.ChatOperation{
		Action: toolDelete, Status: store.OpAwaitingConfirmation, LeadID: lead.ID, Lead: &snapshot,
		Summary: "Asked to confirm deleting " + leadLabel(lead),
	})
	t.stop = true
	return toolResult{OK: true, Message: confirmQuestion(label)}, nil
}

// planDelete plans the delete the person confirmed: exactly the lead the
// question named, as it is now.
func (t *turn) planDelete(ctx context.Context, id uuid.UUID) (toolResult, error) {
	lead, err := t.store.GetLead(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return toolResult{OK: true, Message: "That lead is already gone; nothing was deleted."}, nil
	}
	if err != nil {
		return toolResult{}, err
	}
	summary := "Deleted " + leadLabel(lead)
	snapshot := lead
	t.ops = append(t.ops, store.ChatOperation{
		Action: toolDelete, Status: store.OpDone, LeadID: lead.ID, Summary: summary, Lead: &snapshot,
		Change: &store.LeadChange{Kind: store.ChangeDelete, LeadID: lead.ID, IfVersion: lead.Version},
	})
	return toolResult{OK: true, Message: summary + "."}, nil
}

// deleted says whether the turn deletes the lead with id.
func (t *turn) deleted(id uuid.UUID) bool {
	for _, op := range t.ops {
		if op.Change != nil && op.Change.Kind == store.ChangeDelete && op.LeadID == id {
			return true
		}
	}
	return false
}

func confirmQuestion(label string) string {
	return fmt.Sprintf("Delete %s? Reply \"yes\" to delete it; anything else cancels.", label)
}

func isEveryone(ref string) bool {
	switch strings.Join(store.SplitWords(ref), " ") {
	case "all", "all leads", "all the leads", "every lead", "everything", "everyone", "all of them", "them all", "leads", "the leads":
		return true
	}
	return false
}

// summary answers pipeline_summary: counts and totals per stage, read with two
// small queries whatever the size of the pipeline.
func (t *turn) summary(ctx context.Context) (toolResult, error) {
	board, err := t.store.ListBoard(ctx, store.BoardQuery{Limit: 1, WithTotals: true})
	if err != nil {
		return toolResult{}, err
	}
	var lines []string
	var totals []stageTotal
	count, open := 0, store.Money(0)
	var all store.Money
	for _, c := range board.Columns {
		totals = append(totals, stageTotal{Stage: c.Stage.Name, Leads: c.Count, Value: c.Total})
		lines = append(lines, fmt.Sprintf("- %s: %s, %s", c.Stage.Name, plural(c.Count, "lead"), formatMoney(c.Total)))
		count += c.Count
		all += c.Total
		if c.Stage.Kind == "open" {
			open += c.Total
		}
	}
	head := fmt.Sprintf("Pipeline: %s worth %s in total, %s still open.", plural(count, "lead"), formatMoney(all), formatMoney(open))
	return toolResult{OK: true, Message: head + "\n" + strings.Join(lines, "\n"), Pipeline: totals}, nil
}
