package views

import (
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/crmteam/crm/store"
)

// BoardFilter is the board's filter form: the filters as given (query
// parameters, handlers/board_filter.go), a message per parameter that could
// not be read, and the people one may pick as owner.
type BoardFilter struct {
	Values url.Values
	Errors map[string]string
	Owners []FilterOwner
}

// FilterOwner is a person the owner filter offers.
type FilterOwner struct {
	ID, Name string
}

// FilterFormID is the filter form; app.js adds its fields to every board
// request, so re-rendered columns keep the filter.
const FilterFormID ID = "board-filters"

// Active says how many filters are set.
func (f BoardFilter) Active() int { return len(f.Values) }

// Get is the value given for parameter name.
func (f BoardFilter) Get(name string) string { return f.Values.Get(name) }

// params are the search and filters of d as query parameters.
func (d BoardData) params() url.Values {
	v := url.Values{}
	maps.Copy(v, d.Filter.Values)
	if d.Query != "" {
		v.Set("q", d.Query)
	}
	return v
}

// URL is the board as d shows it, search and filters included: the address
// to share.
func (d BoardData) URL() string {
	v := d.params()
	if len(v) == 0 {
		return BoardPath
	}
	return BoardPath + "?" + v.Encode()
}

// NextCardsURL is the next page of col, under d's search and filters.
func (d BoardData) NextCardsURL(col store.Column) string {
	v := d.params()
	v.Set("status", col.Stage.Name)
	v.Set("after", strconv.FormatInt(col.NextAfter(), 10))
	return CardsPath + "?" + v.Encode()
}

// Filtered says whether a search or a filter narrows the board.
func (d BoardData) Filtered() bool { return d.Query != "" || d.Filter.Active() > 0 }

// filterLabels names each filter parameter as the form shows it.
var filterLabels = map[string]string{
	"owner": "Owner", "source": "Source", "min_value": "Value from", "max_value": "Value to",
	"created_from": "Created from", "created_to": "Created to",
	"updated_from": "Last touched from", "updated_to": "Last touched to", "stale": "Going stale only",
}

func filterLabel(name string) string {
	if l, ok := filterLabels[name]; ok {
		return l
	}
	return name
}

// filterNames are the names of errs in a stable order.
func filterNames(errs map[string]string) []string {
	return slices.Sorted(maps.Keys(errs))
}
