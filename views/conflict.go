package views

import (
	"strconv"
	"time"

	"github.com/crmteam/crm/store"
)

// EditBase is the state of the lead an edit form was rendered from: its version
// and the values then. The form posts them back (hidden fields version and
// base_<field>), so that the server can merge an edit with what others changed
// meanwhile: a field this person did not touch takes the other change, a field
// only this person changed is written, and a field both changed is a conflict.
type EditBase struct {
	Version int64
	Values  LeadValues
}

// FieldConflict is a field that someone else changed while this person edited
// it too.
type FieldConflict struct {
	// Field is the form field ("value"); Label how the form calls it.
	Field, Label string
	// Mine is what this person typed, Theirs what is stored now (both as typed
	// in the form).
	Mine, Theirs string
	// By and At are who changed it last, and when ("" when unknown).
	By string
	At time.Time
}

// editBase is what f's hidden fields carry: f.Edit, or the stored lead's state.
func (f LeadForm) editBase() EditBase {
	if f.Edit.Version != 0 || f.Lead == nil {
		return f.Edit
	}
	return EditBase{Version: f.Lead.Version, Values: ValuesOf(*f.Lead)}
}

// baseFields lists the hidden base_<field> inputs of an edit form.
func (f LeadForm) baseFields() [][2]string {
	v := f.editBase().Values
	var out [][2]string
	for _, fl := range LeadFormFields() {
		out = append(out, [2]string{"base_" + fl.Name, v.Field(fl.Name)})
	}
	return out
}

func (f LeadForm) versionValue() string { return strconv.FormatInt(f.editBase().Version, 10) }

// conflictValue is a field's value as the conflict view shows it.
func conflictValue(field, v string) string {
	if v == "" {
		return "(empty)"
	}
	if f, _ := store.LeadFieldByName(field); f.Kind == store.KindMoney {
		if m, err := store.ParseMoneyText(v); err == nil {
			return Money(m)
		}
		return "$" + v
	}
	return v
}
