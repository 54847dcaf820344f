package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The board filters, the same for the board (GET /, its fragments) and the API
// (GET /leads/): query parameters, so a filtered board is a link to share.
//
//	owner=me | owner=<user id> | owner=<email>   the leads of that user
//	source=<text>                   the leads of that source (any case)
//	min_value=, max_value=          the value range, both inclusive
//	created_from=, created_to=      created on those days (YYYY-MM-DD, UTC), both inclusive
//	updated_from=, updated_to=      last touched on those days, likewise
//	stale=1                         only the leads going stale in their stage
//
// Empty parameters are off. A value that cannot be read is a 400 naming it
// (the board shows the message beside the filters).

// filterParams are the names of the filter parameters, in the order the board
// writes them into its URLs.
var filterParams = []string{"owner", "source", "min_value", "max_value", "created_from", "created_to", "updated_from", "updated_to", "stale"}

// parseBoardFilter reads the filters of vals for the signed-in user me. It
// returns the filters as given (the empty ones left out) for the board's
// URLs and form.
func parseBoardFilter(vals url.Values, me uuid.UUID) (store.BoardFilter, url.Values, error) {
	var f store.BoardFilter
	given := url.Values{}
	errs := map[string]string{}
	for _, name := range filterParams {
		v := strings.TrimSpace(vals.Get(name))
		if v == "" {
			continue
		}
		given.Set(name, v)
		switch name {
		case "owner":
			if v == "me" {
				f.Owner = &me
			} else if id, err := uuid.Parse(v); err == nil {
				f.Owner = &id
			} else if strings.Contains(v, "@") {
				f.OwnerEmail = v // the store finds the user, or names the field
			} else {
				errs[name] = "must be me, a user id or a user's email"
			}
		case "source":
			f.Source = v
		case "min_value", "max_value":
			m, err := store.ParseMoney(v)
			if err != nil {
				errs[name] = "must be an amount like 1500 or 1500.50"
				continue
			}
			if name == "min_value" {
				f.MinValue = &m
			} else {
				f.MaxValue = &m
			}
		case "created_from", "created_to", "updated_from", "updated_to":
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				errs[name] = "must be a date like 2026-12-31"
				continue
			}
			if strings.HasSuffix(name, "_to") {
				d = d.AddDate(0, 0, 1) // the whole day: the store's "to" is exclusive
			}
			switch name {
			case "created_from":
				f.CreatedFrom = &d
			case "created_to":
				f.CreatedTo = &d
			case "updated_from":
				f.UpdatedFrom = &d
			default:
				f.UpdatedTo = &d
			}
		case "stale":
			switch v {
			case "1", "true", "on", "yes":
				f.StaleOnly = true
			case "0", "false", "off", "no":
				given.Del(name)
			default:
				errs[name] = "must be 1 (only the leads going stale) or 0"
			}
		}
	}
	if len(errs) == 0 {
		if verr := f.Validate(); verr != nil {
			errs = verr.Fields
		}
	}
	if len(errs) > 0 {
		return store.BoardFilter{}, given, &store.ValidationError{Fields: errs}
	}
	return f, given, nil
}

// requestFilter reads the board filters of r for the signed-in user, from the
// URL only: a lead form posted has fields of the same names (source), and
// app.js puts the filters of a board's POST into its URL.
func requestFilter(r *http.Request) (store.BoardFilter, url.Values, error) {
	var me uuid.UUID
	if u, ok := currentUser(r); ok {
		me = u.ID
	}
	return parseBoardFilter(r.URL.Query(), me)
}

// filterValues writes f back as the query parameters parseBoardFilter reads
// (the owner as an id), for the links of the next pages.
func filterValues(f store.BoardFilter) url.Values {
	v := url.Values{}
	if f.Owner != nil {
		v.Set("owner", f.Owner.String())
	} else if f.OwnerEmail != "" {
		v.Set("owner", f.OwnerEmail)
	}
	if f.Source != "" {
		v.Set("source", f.Source)
	}
	if f.MinValue != nil {
		v.Set("min_value", f.MinValue.String())
	}
	if f.MaxValue != nil {
		v.Set("max_value", f.MaxValue.String())
	}
	day := func(name string, t *time.Time, to bool) {
		if t != nil {
			d := *t
			if to {
				d = d.AddDate(0, 0, -1) // back to the last day included
			}
			v.Set(name, d.Format(time.DateOnly))
		}
	}
	day("created_from", f.CreatedFrom, false)
	day("created_to", f.CreatedTo, true)
	day("updated_from", f.UpdatedFrom, false)
	day("updated_to", f.UpdatedTo, true)
	if f.StaleOnly {
		v.Set("stale", "1")
	}
	return v
}

// filterCacheKey is the part of a cache key the filters make.
func filterCacheKey(given url.Values) string { return given.Encode() }

// boardFilterView is what the board's filter form shows: the values given,
// the messages about them, and the people one may pick as owner.
func (s *Server) boardFilterView(r *http.Request, given url.Values, err error) (views.BoardFilter, error) {
	fv := views.BoardFilter{Values: given}
	if ve, ok := err.(*store.ValidationError); ok {
		fv.Errors = ve.Fields
	}
	users, uerr := s.Store.ListUsers(r.Context())
	if uerr != nil {
		return fv, uerr
	}
	for _, u := range users {
		fv.Owners = append(fv.Owners, views.FilterOwner{ID: u.ID.String(), Name: u.Name})
	}
	return fv, nil
}
