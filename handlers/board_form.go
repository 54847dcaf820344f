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
// again) and a store.LeadInput, field by field as the lead-field table says.
// A field left out of the post is left as it is; an empty value is zero (or
// nobody, for the owner). Every problem is reported at once, each field's own
// along with the store's checks of the whole input.
func parseLeadForm(w http.ResponseWriter, r *http.Request, creating bool) (views.LeadValues, store.LeadInput, error) {
	if err := parseForm(w, r); err != nil {
		return views.LeadValues{}, store.LeadInput{}, err
	}
	vals := views.LeadValues{}
	var in store.LeadInput
	fields := map[string]string{}
	for _, f := range views.LeadFormFields() {
		if _, ok := r.PostForm[f.Name]; !ok {
			continue
		}
		v := r.PostForm.Get(f.Name)
		vals[f.Name] = v
		var verr *store.ValidationError
		if err := f.Set(&in, v); errors.As(err, &verr) {
			fields[f.Name] = verr.Fields[f.Name]
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

// withChoices fills in what the lead form offers: the stages are the
// caller's; the owner select lists the active users and the lead's owner even
// when deactivated; the lost reasons are the admin list's active ones. A new
// lead's owner is preselected as the person creating it.
func (s *Server) withChoices(r *http.Request, f *views.LeadForm) error {
	users, err := s.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	owner := f.Values.Field("owner")
	if f.Lead != nil && f.Lead.Owner != nil {
		owner = f.Lead.Owner.Email
	}
	f.Users = f.Users[:0]
	for _, u := range users {
		if u.Active || strings.EqualFold(u.Email, owner) {
			f.Users = append(f.Users, u)
		}
	}
	if f.LostReasons, err = s.Store.ListLostReasons(r.Context(), true); err != nil {
		return err
	}
	if _, given := f.Values["owner"]; f.Lead == nil && !given {
		if u, ok := currentUser(r); ok {
			f.Values.SetField("owner", u.Email)
		}
	}
	return nil
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
