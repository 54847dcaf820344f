package assistant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// pendingFocus is the pending state that only remembers what the last
// exchange was about (offline), for the pronouns of the next message.
const pendingFocus = "focus"

// world gathers what the parser needs for a message: the stages, the leads its
// words may name (a few per word, found by MatchLeads, so the cost does not
// grow with the pipeline), and the last exchange's focus and open choice.
func (t *turn) world(ctx context.Context, job store.ChatJob) (*world, error) {
	stages, err := t.loadStages(ctx)
	if err != nil {
		return nil, err
	}
	users, err := t.activeUsers(ctx)
	if err != nil {
		return nil, err
	}
	w := &world{stages: stages, users: users}
	seen := map[uuid.UUID]bool{}
	addLead := func(l store.Lead) {
		if !seen[l.ID] {
			seen[l.ID] = true
			w.leads = append(w.leads, t.current(l))
		}
	}
	lookups := 0
	for _, tok := range tokenize(job.Message) {
		q := ""
		switch {
		case tok.kind == tokEmail:
			q = tok.text
		case tok.kind == tokQuoted:
			q = tok.text
		case tok.kind == tokWord && len([]rune(tok.norm)) >= 2 && !noise[tok.norm] && !lexiconWord(tok.norm) && !pronounWords[tok.norm]:
			q = tok.norm
		}
		if q == "" || lookups >= maxLookups {
			continue
		}
		lookups++
		ms, err := t.store.MatchLeads(ctx, q, 8)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			addLead(m.Lead)
		}
	}
	byID := func(ids []uuid.UUID) ([]store.Lead, error) {
		var out []store.Lead
		for _, id := range ids {
			if l, ok := t.leads[id]; ok {
				out = append(out, l)
				continue
			}
			l, err := t.store.GetLead(ctx, id)
			if err == nil {
				out = append(out, l)
				continue
			}
			if !isNotFound(err) {
				return nil, err
			}
		}
		return out, nil
	}
	// The focus: the leads the last reply changed, else what it was about.
	var ids []uuid.UUID
	if n := len(job.History); n > 0 && job.History[n-1].Role == store.RoleAssistant {
		for _, op := range job.History[n-1].Operations {
			if op.Status == store.OpDone && op.Action != toolDelete && op.LeadID != uuid.Nil && !containsID(ids, op.LeadID) {
				ids = append(ids, op.LeadID)
			}
		}
	}
	if len(ids) == 0 && t.context != nil {
		ids = t.context.Focus
		w.focusField = t.context.Field
	}
	if w.focus, err = byID(ids); err != nil {
		return nil, err
	}
	if t.choice != nil {
		var cids []uuid.UUID
		for _, c := range t.choice.Candidates {
			cids = append(cids, c.ID)
		}
		if w.choice, err = byID(cids); err != nil {
			return nil, err
		}
	}
	for _, l := range append(w.focus, w.choice...) {
		addLead(l)
	}
	return w, nil
}

// maxLookups bounds the lead lookups of one message.
const maxLookups = 8

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// lexiconWord says whether w is a word of the lexicon (never looked up as a
// lead).
func lexiconWord(w string) bool {
	p := lexicon[w]
	return p != nil && (len(p.intents) > 0 || p.isEvent || p.field != "")
}

// remember notes what a command was about, for the pronouns of the next
// message.
func (t *turn) remember(cmd command) {
	var ids []uuid.UUID
	for _, r := range cmd.refs {
		if len(r.leads) == 1 {
			ids = append(ids, r.leads[0].ID)
		}
	}
	if len(ids) > 0 {
		t.focusOut = ids
	}
	if cmd.intent == intentAsk || cmd.intent == intentSet {
		t.focusField = cmd.field
	}
}

// stageStats answers how many leads a stage (or the pipeline) holds and what
// they are worth.
func stageStats(ctx context.Context, t *turn, st *store.Stage) (string, error) {
	if st == nil {
		res, err := t.callJSON(ctx, toolSummary, struct{}{})
		return res.Message, err
	}
	board, err := t.store.ListBoard(ctx, store.BoardQuery{Status: st.Name, Limit: 1, WithTotals: true})
	if err != nil {
		return "", err
	}
	for _, c := range board.Columns {
		if c.Stage.Name == st.Name {
			return fmt.Sprintf("%s: %s worth %s in total.", st.Name, plural(c.Count, "lead"), formatMoney(c.Total)), nil
		}
	}
	return fmt.Sprintf("%s: no leads.", st.Name), nil
}

// biggest answers the biggest deals.
func biggest(ctx context.Context, t *turn) (string, error) {
	leads, err := t.store.TopLeads(ctx, searchLimit)
	if err != nil {
		return "", err
	}
	if len(leads) == 0 {
		return "There are no leads yet.", nil
	}
	for i := range leads {
		leads[i] = t.current(leads[i])
	}
	return describeLeads(fmt.Sprintf("The %d biggest deals", len(leads)), leads), nil
}

// bySource answers where the leads come from.
func bySource(ctx context.Context, t *turn) (string, error) {
	totals, err := t.store.LeadsBySource(ctx, 20)
	if err != nil {
		return "", err
	}
	if len(totals) == 0 {
		return "There are no leads yet.", nil
	}
	lines := []string{"Leads by source:"}
	for _, s := range totals {
		name := s.Source
		if name == "" {
			name = "(no source)"
		}
		lines = append(lines, fmt.Sprintf("- %s: %s, %s", name, plural(s.Leads, "lead"), formatMoney(s.Total)))
	}
	return strings.Join(lines, "\n"), nil
}

// sourceStats answers how many leads came from one source and what they are
// worth. The source is matched forgivingly ("the website" is Website,
// "referrals" is Referral) against the sources the leads have.
func sourceStats(ctx context.Context, t *turn, text string) (string, error) {
	totals, err := t.store.LeadsBySource(ctx, 500)
	if err != nil {
		return "", err
	}
	want := strings.Join(slices.DeleteFunc(foldWords(text), func(w string) bool { return w == "the" || w == "our" || w == "a" || w == "an" }), " ")
	var best *store.SourceTotal
	bestScore := 0.0
	for i, s := range totals {
		have := strings.Join(foldWords(s.Source), " ")
		if have == "" {
			continue
		}
		sc := store.WordSimilarity(want, have)
		if strings.TrimSuffix(want, "s") == strings.TrimSuffix(have, "s") {
			sc = 1
		}
		if sc > bestScore {
			best, bestScore = &totals[i], sc
		}
	}
	if best == nil || bestScore < 0.8 {
		return fmt.Sprintf("No lead came from %s.", strings.TrimSpace(text)), nil
	}
	return fmt.Sprintf("%s came from %s, worth %s in total.", plural(best.Leads, "lead"), best.Source, formatMoney(best.Total)), nil
}

// addedIn answers which leads were added in a period ("today", "this week").
func addedIn(ctx context.Context, t *turn, period string) (string, error) {
	from, to := periodRange(period, t.now)
	set, err := t.store.LeadsCreatedBetween(ctx, from, to, stageListLimit)
	if err != nil {
		return "", err
	}
	if set.Count == 0 {
		return fmt.Sprintf("No lead was added %s.", period), nil
	}
	head := fmt.Sprintf("%s added %s, worth %s", plural(set.Count, "lead"), period, formatMoney(set.Total))
	return t.listed(head, set.Count, set.Leads, "newest").Message, nil
}

// recent answers what changed lately, from the audit trail.
func recent(ctx context.Context, t *turn) (string, error) {
	evs, err := t.store.RecentLeadEvents(ctx, 10)
	if err != nil {
		return "", err
	}
	if len(evs) == 0 {
		return "Nothing has changed yet.", nil
	}
	lines := []string{"The latest changes:"}
	for _, e := range evs {
		name := e.LeadName
		if name == "" {
			name = "a purged lead"
		}
		lines = append(lines, fmt.Sprintf("- %s: %s %s by %s%s", e.At.Format("2 Jan 15:04"), name, pastTense(e.Action), e.Actor, describeChanges(e.Changes)))
	}
	return strings.Join(lines, "\n"), nil
}

// askHistory answers when a lead was added or last touched, or what changed on
// it lately.
func askHistory(ctx context.Context, t *turn, lead store.Lead, what string) (string, error) {
	who := leadLabel(lead)
	switch what {
	case "added":
		return fmt.Sprintf("%s was added on %s.", who, lead.CreatedAt.Format("Monday 2 January 2006 at 15:04 UTC")), nil
	case "touched":
		return fmt.Sprintf("%s was last changed on %s.", who, lead.UpdatedAt.Format("Monday 2 January 2006 at 15:04 UTC")), nil
	}
	evs, err := t.store.LeadHistory(ctx, lead.ID, 5)
	if err != nil {
		return "", err
	}
	if len(evs) == 0 {
		return fmt.Sprintf("There is no recorded change of %s.", who), nil
	}
	lines := []string{fmt.Sprintf("The latest changes of %s:", who)}
	for _, e := range evs {
		lines = append(lines, fmt.Sprintf("- %s: %s by %s%s", e.At.Format("2 Jan 2006 15:04"), pastTense(e.Action), e.ActorName, describeChanges(e.Changes)))
	}
	return strings.Join(lines, "\n"), nil
}

func pastTense(action string) string {
	switch action {
	case store.EventCreate:
		return "added"
	case store.EventUpdate:
		return "updated"
	case store.EventMove:
		return "moved"
	case store.EventDelete:
		return "deleted"
	case store.EventRestore:
		return "restored"
	}
	return action
}

func describeChanges(cs []store.FieldChange) string {
	var parts []string
	for _, c := range cs {
		switch {
		case c.Field == "notes":
			parts = append(parts, "notes")
		case c.Old == "":
			parts = append(parts, fmt.Sprintf("%s %s", c.Field, truncate(c.New, 60)))
		default:
			parts = append(parts, fmt.Sprintf("%s %s → %s", c.Field, truncate(c.Old, 60), truncate(c.New, 60)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	if len(parts) > 4 {
		parts = append(parts[:4], "…")
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
