package handlers

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Merging an edit with what others changed meanwhile. The edit form carries the
// version of the lead it was rendered from and the values then (base_<field>;
// views.EditBase). On save each field is one of:
//   - untouched by this person (typed = base): whatever is stored now stays,
//     someone else's change included;
//   - changed by this person only (stored = base), or by both to the same
//     value: written;
//   - changed by both, differently: a conflict. Nothing is written; the form
//     comes back (409) with theirs and mine for each such field, who changed it
//     and when, and a choice per field, rendered from the stored version so
//     that the next save merges against it.
// The write is conditional on the version the merge was computed against
// (store.UpdateLeadIf): a change that lands between the read and the write
// makes the merge run again, so nothing anyone saved is lost.

// mergeAttempts bounds how often a merge is recomputed when the lead keeps
// changing under it.
const mergeAttempts = 4

// editBaseOf reads the version and base values an edit form posts; ok is false
// for a form without them (an older page, a script), which is written as is.
func editBaseOf(r *http.Request) (views.EditBase, bool) {
	v, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	if err != nil || v <= 0 {
		return views.EditBase{}, false
	}
	b := views.EditBase{Version: v}
	for _, f := range views.LeadFormFields() {
		if _, ok := r.PostForm["base_"+f.Name]; !ok {
			return views.EditBase{}, false
		}
		b.Values.SetField(f.Name, r.PostFormValue("base_"+f.Name))
	}
	return b, true
}

// resolveTheirs applies the conflict view's choices: a field whose choice is
// "theirs" takes the base value, which the conflict form set to the stored one,
// so the merge leaves the stored value alone.
func resolveTheirs(r *http.Request, base views.EditBase) {
	for _, f := range views.LeadFormFields() {
		if r.PostFormValue("resolve_"+f.Name) == "theirs" {
			r.PostForm.Set(f.Name, base.Values.Field(f.Name))
			r.Form.Set(f.Name, base.Values.Field(f.Name))
		}
	}
}

// sameField says whether two form values of field f mean the same: text as
// the store normalizes it (trimmed, except text kept as typed), amounts as
// amounts, users without regard to case.
func sameField(f store.Field, a, b string) bool {
	switch f.Kind {
	case store.KindLongText:
		// Browsers post line breaks as CRLF whatever the page held.
		return strings.ReplaceAll(a, "\r\n", "\n") == strings.ReplaceAll(b, "\r\n", "\n")
	case store.KindMoney:
		ma, ea := store.ParseMoneyText(a)
		mb, eb := store.ParseMoneyText(b)
		if ea != nil || eb != nil {
			return strings.TrimSpace(a) == strings.TrimSpace(b)
		}
		return ma == mb
	case store.KindUser:
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	default:
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
}

// mergeEdit merges the posted edit (vals as typed, in parsed) made from base
// into the stored lead and writes it. It returns the lead written, or, when
// fields conflict, the stored lead and the conflicts (nothing written).
func (s *Server) mergeEdit(r *http.Request, id uuid.UUID, base views.EditBase, vals views.LeadValues, in store.LeadInput) (store.Lead, store.Lead, []views.FieldConflict, error) {
	ctx := r.Context()
	for range mergeAttempts {
		cur, err := s.Store.GetLead(ctx, id)
		if err != nil {
			return store.Lead{}, store.Lead{}, nil, err
		}
		stored := views.ValuesOf(cur)
		merged := store.LeadInput{}
		var conflicts []views.FieldConflict
		for _, f := range views.LeadFormFields() {
			if _, posted := r.PostForm[f.Name]; !posted {
				continue
			}
			mine, was, now := vals.Field(f.Name), base.Values.Field(f.Name), stored.Field(f.Name)
			if sameField(f, mine, was) {
				continue // not changed here: whatever is stored stays
			}
			if cur.Version != base.Version && !sameField(f, now, was) && !sameField(f, mine, now) {
				conflicts = append(conflicts, views.FieldConflict{Field: f.Name, Label: f.Label, Mine: mine, Theirs: now})
				continue
			}
			f.Copy(&merged, &in)
		}
		if len(conflicts) > 0 {
			if authors, err := s.Store.LastFieldChanges(ctx, id); err == nil {
				for i := range conflicts {
					if a, ok := authors[conflicts[i].Field]; ok {
						conflicts[i].By, conflicts[i].At = a.Actor, a.At
					}
				}
			}
			return store.Lead{}, cur, conflicts, nil
		}
		if merged == (store.LeadInput{}) {
			return cur, cur, nil, nil // nothing of this person's to write
		}
		lead, err := s.Store.UpdateLeadIf(ctx, id, merged, []int64{cur.Version})
		var stale *store.StaleLeadError
		if errors.As(err, &stale) {
			continue // changed between the read and the write: merge again
		}
		return lead, cur, nil, err
	}
	return store.Lead{}, store.Lead{}, nil, store.ErrConflict
}

// conflictForm answers a save with conflicting fields: 409 with the edit form
// rendered from the stored lead (its version and values are the new base), the
// fields this person changed holding what they typed, and the conflict view.
// htmx swaps it into the dialog (HX-Retarget, which app.js honours on errors).
func (s *Server) conflictForm(w http.ResponseWriter, r *http.Request, cur store.Lead, vals views.LeadValues, conflicts []views.FieldConflict) error {
	stored := views.ValuesOf(cur)
	base, _ := editBaseOf(r)
	shown := maps.Clone(stored)
	for _, f := range views.LeadFormFields() {
		if !sameField(f, vals.Field(f.Name), base.Values.Field(f.Name)) {
			shown.SetField(f.Name, vals.Field(f.Name)) // this person's change, merged or in conflict
		}
	}
	f := views.LeadForm{Lead: &cur, Values: shown, Now: time.Now(), Conflicts: conflicts,
		Edit: views.EditBase{Version: cur.Version, Values: stored}}
	history, err := s.Store.LeadHistory(r.Context(), cur.ID, leadHistoryShown)
	if err != nil {
		return err
	}
	f.History = history
	return s.leadFormAgain(w, r, http.StatusConflict, "Changed meanwhile", f, true)
}
