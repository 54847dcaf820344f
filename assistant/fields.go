package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// The lead fields as the tools see them: the store's field table (one source
// of truth) says which fields there are, what they are called and how their
// text is read; the assistant adds only how an owner is named in a chat (a
// name, a first name, "me") and the forgiving amounts people type ("20k").

// toolFields are the settable fields of the table a tool writes, minus skip.
func toolFields(skip ...string) []store.Field {
	var out []store.Field
	for _, f := range store.LeadFields() {
		if f.Settable() && !slices.Contains(skip, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// outcomeFields are written by update_lead_status, with the move they go with.
var outcomeFields = []string{"lost_reason", "lost_note"}

// fieldProps are the JSON Schema properties of fields.
func fieldProps(fields []store.Field) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		if f.Kind == store.KindMoney {
			props[f.Name] = map[string]any{"type": []string{"number", "string"}, "description": fieldSchema(f)}
		} else {
			props[f.Name] = str(fieldSchema(f))
		}
	}
	return props
}

// fieldSchema describes a field to the model: its label and how to give it.
// (The words people use for it stay out: the model writes the field's name,
// and the request stays small, TestLLMCostDoesNotGrow.)
func fieldSchema(f store.Field) string {
	switch f.Kind {
	case store.KindMoney:
		return f.Label + ": dollars, a number or text (\"20k\")."
	case store.KindUser:
		return f.Label + ": a user's name, email or \"me\"."
	}
	return f.Label + "."
}

// fieldNamed is the field a tool argument or a person's word names: its API
// name, its label or one of its words, in the table or the lexicon.
func fieldNamed(word string) (store.Field, bool) {
	if f, ok := store.LeadFieldByWord(word); ok {
		return f, true
	}
	if name, ok := fieldAliases[strings.ToLower(strings.TrimSpace(word))]; ok {
		return store.LeadFieldByName(name)
	}
	return store.Field{}, false
}

// fieldText reads a tool argument as text: a JSON string, a number (an
// amount), or null (empty).
func fieldText(f store.Field, raw json.RawMessage) (string, error) {
	if f.Kind == store.KindMoney {
		var a amount
		if err := json.Unmarshal(raw, &a); err != nil {
			return "", err
		}
		return a.text, nil
	}
	var s string
	if string(raw) != "null" {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be text")
		}
	}
	return s, nil
}

// fieldInput is what a tool call's fields make of a LeadInput: the input, the
// text of each field as it will be written (for the reply), and the owner
// chosen (nil when none is given).
type fieldInput struct {
	in    store.LeadInput
	given map[string]string
	owner *store.User
	// clearOwner says the owner is set to nobody.
	clearOwner bool
}

// setFields reads the fields of a tool call into fi. A field that is not
// valid is a problem (reported with the others, and nothing changes); an
// owner that is not a user, or could be several, is a toolResult asking who
// is meant.
func (t *turn) setFields(ctx context.Context, fi *fieldInput, fields map[string]json.RawMessage, skip []string, problems map[string]string) (*toolResult, error) {
	if fi.given == nil {
		fi.given = map[string]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		f, ok := fieldNamed(k)
		if !ok || !f.Settable() || slices.Contains(skip, f.Name) {
			problems[k] = "is not a field; the fields are " + joinAnd(fieldNames(toolFields(skip...)))
			continue
		}
		text, err := fieldText(f, fields[k])
		if err != nil {
			problems[f.Name] = err.Error()
			continue
		}
		switch f.Kind {
		case store.KindMoney:
			if strings.TrimSpace(text) == "" {
				continue
			}
			m, err := parseAmount(text)
			if err != nil {
				problems[f.Name] = fmt.Sprintf("%q %s", text, err)
				continue
			}
			fi.in.Value = &m
			fi.given[f.Name] = formatMoney(m)
			continue
		case store.KindUser:
			if strings.TrimSpace(text) == "" {
				fi.clearOwner = true
				_ = f.Set(&fi.in, "")
				fi.given[f.Name] = ""
				continue
			}
			u, res, ok, err := t.resolveUser(ctx, text)
			if err != nil || !ok {
				return &res, err
			}
			fi.owner = &u
			_ = f.Set(&fi.in, u.ID.String())
			fi.given[f.Name] = u.Name
			continue
		}
		if err := f.Set(&fi.in, text); err != nil {
			var ve *store.ValidationError
			if errors.As(err, &ve) {
				maps.Copy(problems, ve.Fields)
				continue
			}
			return nil, err
		}
		fi.given[f.Name] = strings.TrimSpace(text)
		if f.Kind == store.KindLongText {
			fi.given[f.Name] = text
		}
	}
	return nil, nil
}

func fieldNames(fs []store.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// ownerName is who owns a lead, in words.
func ownerName(o *store.LeadOwner) string {
	switch {
	case o == nil:
		return "nobody"
	case o.Name != "":
		return o.Name
	}
	return o.Email
}

// me is the user the conversation is with; ok is false when it has none.
func (t *turn) me(ctx context.Context) (store.User, bool, error) {
	if t.self == nil {
		u, ok, err := t.store.ConversationUser(ctx, t.convID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.User{}, false, err
		}
		t.self = &selfUser{user: u, ok: ok}
	}
	return t.self.user, t.self.ok, nil
}

type selfUser struct {
	user store.User
	ok   bool
}

// resolveUser finds the active account text names ("Ann", "Ann Lee",
// ann@example.com, "me"). When it cannot (nobody, or several) the toolResult
// asks who is meant and ok is false.
func (t *turn) resolveUser(ctx context.Context, text string) (store.User, toolResult, bool, error) {
	text = strings.TrimSpace(text)
	if ws := foldWords(text); len(ws) == 1 && meWords[ws[0]] {
		u, ok, err := t.me(ctx)
		if err != nil {
			return store.User{}, toolResult{}, false, err
		}
		if !ok || !u.Active {
			return store.User{}, failed("I don't know which account is yours in this chat. Who should it be? Give a name or an email."), false, nil
		}
		return u, toolResult{}, true, nil
	}
	users, err := t.activeUsers(ctx)
	if err != nil {
		return store.User{}, toolResult{}, false, err
	}
	if id, err := uuid.Parse(text); err == nil {
		for _, u := range users {
			if u.ID == id {
				return u, toolResult{}, true, nil
			}
		}
	}
	found := matchUsers(users, text)
	switch len(found) {
	case 1:
		return found[0], toolResult{}, true, nil
	case 0:
		names := make([]string, 0, len(users))
		for _, u := range users[:min(len(users), 10)] {
			names = append(names, u.Name)
		}
		return store.User{}, failed("Nothing changed: there is no user %q. Who do you mean? The users are %s.", text, joinAnd(names)), false, nil
	}
	labels := make([]string, len(found))
	for i, u := range found {
		labels[i] = u.Name + " (" + u.Email + ")"
	}
	return store.User{}, failed("Nothing changed: %q could be %s. Which one do you mean?", text, joinOr(labels)), false, nil
}

// activeUsers are the accounts that may own leads, read once a turn.
func (t *turn) activeUsers(ctx context.Context) ([]store.User, error) {
	if t.users == nil {
		all, err := t.store.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		t.users = slices.DeleteFunc(all, func(u store.User) bool { return !u.Active })
	}
	return t.users, nil
}

// listOwned answers search_leads with an owner: the leads a user owns.
func (t *turn) listOwned(ctx context.Context, who string) (toolResult, error) {
	u, res, ok, err := t.resolveUser(ctx, who)
	if err != nil || !ok {
		res.Message = strings.TrimPrefix(res.Message, "Nothing changed: ")
		return res, err
	}
	set, err := t.store.LeadsOwnedBy(ctx, u.ID, stageListLimit)
	if err != nil {
		return toolResult{}, err
	}
	if set.Count == 0 {
		return toolResult{OK: true, Message: fmt.Sprintf("%s owns no leads.", u.Name), Leads: []leadView{}}, nil
	}
	head := fmt.Sprintf("%s owns %s worth %s", u.Name, plural(set.Count, "lead"), formatMoney(set.Total))
	return t.listed(head, set.Count, set.Leads, "biggest"), nil
}

// lostReasonWords are words of the same meaning, for matching what a person
// said to the admin list of lost reasons ("too expensive" is Price): each
// word stands for the word of a reason it means.
var lostReasonWords = map[string]string{
	"expensive": "price", "pricey": "price", "cost": "price", "costs": "price", "costly": "price", "pricing": "price",
	"cheaper": "price", "cheap": "price", "prices": "price",
	"competition": "competitor", "competitors": "competitor", "rival": "competitor", "vendor": "competitor",
	"elsewhere": "competitor", "else": "competitor",
	"money": "budget", "funds": "budget", "funding": "budget", "afford": "budget", "budgets": "budget",
	"time": "timing", "later": "timing", "year": "timing", "quarter": "timing", "now": "timing",
	"features": "feature", "functionality": "feature", "integration": "feature", "lacks": "feature", "lacking": "feature",
	"decide": "decision", "decided": "decision", "undecided": "decision", "stalled": "decision",
	"ghosted": "decision", "dark": "decision", "cold": "decision", "silent": "decision", "unresponsive": "decision",
}

// reasonFiller are words of a reason that say nothing of it.
var reasonFiller = words("the a an to of with for went go going too no not they we them it was were is are had has have just our their any very bad")

// matchLostReason matches what a person said to the admin list: the same
// words (any case) are that reason; similar wording ("too expensive" for
// Price, "they picked a competitor" for Went with a competitor) is that
// reason with the person's words as the note; anything else is free text.
func matchLostReason(list []store.LostReason, said string) (reason, note string) {
	said = strings.TrimSpace(said)
	norm := strings.Join(foldWords(said), " ")
	for _, r := range list {
		if strings.Join(foldWords(r.Name), " ") == norm {
			return r.Name, ""
		}
	}
	meaning := map[string]bool{}
	for _, w := range foldWords(said) {
		meaning[w] = true
		if m, ok := lostReasonWords[w]; ok {
			meaning[m] = true
		}
	}
	best, bestScore := "", 0.0
	for _, r := range list {
		var keys []string
		for _, w := range foldWords(r.Name) {
			if !reasonFiller[w] {
				keys = append(keys, w)
			}
		}
		hit := 0
		for _, k := range keys {
			if meaning[k] {
				hit++
			}
		}
		if len(keys) > 0 && hit > 0 {
			if sc := float64(hit) / float64(len(keys)); sc > bestScore {
				best, bestScore = r.Name, sc
			}
		}
	}
	if best != "" {
		return best, said
	}
	return truncate(said, store.MaxLostReasonLen-1), ""
}
