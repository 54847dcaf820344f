package views

import (
	"strconv"
	"strings"
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
	return [][2]string{
		{"base_name", v.Name}, {"base_company", v.Company}, {"base_email", v.Email}, {"base_phone", v.Phone},
		{"base_value", v.Value}, {"base_notes", v.Notes}, {"base_status", v.Status}, {"base_source", v.Source},
	}
}

func (f LeadForm) versionValue() string { return strconv.FormatInt(f.editBase().Version, 10) }

// Field reads a field of v by its form name.
func (v LeadValues) Field(name string) string {
	switch name {
	case "name":
		return v.Name
	case "company":
		return v.Company
	case "email":
		return v.Email
	case "phone":
		return v.Phone
	case "value":
		return v.Value
	case "notes":
		return v.Notes
	case "status":
		return v.Status
	case "source":
		return v.Source
	}
	return ""
}

// SetField sets a field of v by its form name.
func (v *LeadValues) SetField(name, value string) {
	switch name {
	case "name":
		v.Name = value
	case "company":
		v.Company = value
	case "email":
		v.Email = value
	case "phone":
		v.Phone = value
	case "value":
		v.Value = value
	case "notes":
		v.Notes = value
	case "status":
		v.Status = value
	case "source":
		v.Source = value
	}
}

// LeadFormFields are the edit form's fields in form order.
var LeadFormFields = []string{"name", "company", "email", "phone", "value", "status", "source", "notes"}

// conflictValue is a field's value as the conflict view shows it.
func conflictValue(field, v string) string {
	if v == "" {
		return "(empty)"
	}
	if field == "value" {
		if m, err := store.ParseMoney(strings.NewReplacer("$", "", ",", "", " ", "").Replace(v)); err == nil {
			return Money(m)
		}
		return "$" + v
	}
	return v
}
