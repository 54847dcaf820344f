package store_test

import (
	"errors"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestOneLineFields: every text field of the lead-field table but notes and
// lost_note refuses a line break inside it, through Set (the board's form,
// the assistant's tools) and Validate (the API, every store write).
func TestOneLineFields(t *testing.T) {
	t.Parallel()
	for _, f := range store.LeadFields() {
		if !f.Settable() || f.Kind == store.KindMoney {
			continue
		}
		var in store.LeadInput
		err := f.Set(&in, "first\nsecond")
		var ve *store.ValidationError
		long := f.Kind == store.KindLongText
		switch {
		case long && err != nil:
			t.Errorf("%s: Set with a line break: %v, want it kept", f.Name, err)
		case !long && (!errors.As(err, &ve) || ve.Fields[f.Name] != store.MsgOneLine):
			t.Errorf("%s: Set with a line break: %v, want %q", f.Name, err, store.MsgOneLine)
		}
		// Validate, as a client's JSON arrives: the line break in the middle
		// stays after Normalize's trim; the ones at the ends go.
		for _, text := range []string{"first\r\nsecond", "first\rsecond"} {
			in := store.LeadInput{}
			f.Copy(&in, &store.LeadInput{Name: &text, Company: &text, Email: &text, Phone: &text, Notes: &text,
				Status: &text, Source: &text, Owner: &text, LostReason: &text, LostNote: &text})
			in.Normalize()
			verr := in.Validate(false)
			got := ""
			if verr != nil {
				got = verr.Fields[f.Name]
			}
			if want := map[bool]string{true: "", false: store.MsgOneLine}[long]; got != want {
				t.Errorf("%s: Validate of %q: %q, want %q", f.Name, text, got, want)
			}
		}
		edges := " \nann@example.com\r\n"
		in = store.LeadInput{}
		if err := f.Set(&in, edges); !long && err != nil {
			t.Errorf("%s: Set of %q: %v, want the line breaks at the ends trimmed", f.Name, edges, err)
		}
	}
	// Every character that ends a line somewhere, not only CR and LF (a name
	// with U+2028 showed as "Jane▯Doe" on the board and a vertical tab made
	// an export the import refuses).
	for _, text := range []string{"a\nb", "a\rb", "a\vb", "a\fb", "a\u0085b", "a\u2028b", "a\u2029b"} {
		if got := store.CheckLine(text, 10); got != store.MsgOneLine {
			t.Errorf("CheckLine(%q): %q, want %q", text, got, store.MsgOneLine)
		}
		var in store.LeadInput
		name, _ := store.LeadFieldByName("name")
		if err := name.Set(&in, text); err == nil {
			t.Errorf("name %q: accepted", text)
		}
	}
	if got := store.CheckLine("a\tb", 10); got != "" {
		t.Errorf("CheckLine of a tab: %q, want it accepted", got)
	}
}
