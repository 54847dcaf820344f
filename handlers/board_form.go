package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// parseForm reads a form post, bounded like every request body.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return badRequest("the form could not be read")
	}
	return nil
}

// parseLeadForm reads a lead form post into the values as typed (to show them
// again) and a store.LeadInput. A field left out of the post is left as it is;
// an empty value is zero. Every problem is reported at once, the value's parse
// error along with the store's own checks.
func parseLeadForm(w http.ResponseWriter, r *http.Request, creating bool) (views.LeadValues, store.LeadInput, error) {
	if err := parseForm(w, r); err != nil {
		return views.LeadValues{}, store.LeadInput{}, err
	}
	f := r.PostForm
	vals := views.LeadValues{
		Name: f.Get("name"), Company: f.Get("company"), Email: f.Get("email"), Phone: f.Get("phone"),
		Value: f.Get("value"), Notes: f.Get("notes"), Status: f.Get("status"), Source: f.Get("source"),
	}
	text := func(key string) *string {
		if _, ok := f[key]; !ok {
			return nil
		}
		v := f.Get(key)
		return &v
	}
	in := store.LeadInput{
		Name: text("name"), Company: text("company"), Email: text("email"), Phone: text("phone"),
		Notes: text("notes"), Status: text("status"), Source: text("source"),
	}
	fields := map[string]string{}
	if _, ok := f["value"]; ok {
		m, msg := parseMoneyInput(vals.Value)
		if msg != "" {
			fields["value"] = msg
		} else {
			in.Value = &m
		}
	}
	check := in
	check.Normalize()
	if ve := check.Validate(creating); ve != nil {
		for k, v := range ve.Fields {
			if _, seen := fields[k]; !seen {
				fields[k] = v
			}
		}
	}
	if len(fields) > 0 {
		return vals, in, &store.ValidationError{Fields: fields}
	}
	return vals, in, nil
}

// parseMoneyInput reads a deal value as people type it: "75000", "$75,000",
// "1 999.50". Empty is zero.
func parseMoneyInput(s string) (store.Money, string) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	s = strings.NewReplacer(",", "", " ", "", "\u00a0", "").Replace(s)
	if s == "" {
		return 0, ""
	}
	m, err := store.ParseMoney(s)
	if err != nil {
		return 0, err.Error()
	}
	return m, ""
}

// formMessages turns the store's field messages into text shown under each
// field: a sentence of its own.
func formMessages(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		switch {
		case k == "name" && (v == "must not be empty" || v == "is required"):
			out[k] = "Enter a name."
		case k == "value" && v == "must be a number":
			out[k] = "Enter an amount such as 12500 or 12,500.50."
		default:
			out[k] = sentence(v)
		}
	}
	return out
}
