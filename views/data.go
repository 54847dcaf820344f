package views

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// PageSize is the number of cards a column renders at first and per "load more".
const PageSize = 50

// BoardData is everything the board renders.
type BoardData struct {
	Board store.Board
	// Query is the search the board is filtered by ("" for none).
	Query string
	// Filter is the board filters' form (board_filter.go).
	Filter BoardFilter
	// Now is the time relative times ("3 h ago") are measured from.
	Now time.Time
	// EventsSince is the event stream's position read before the board (0:
	// not read): live.js follows the stream from there, so no change between
	// the page and the stream is missed.
	EventsSince int64
}

// Stages lists the board's stages in order, for the "move to" selects.
func (d BoardData) Stages() []store.Stage {
	out := make([]store.Stage, len(d.Board.Columns))
	for i, c := range d.Board.Columns {
		out[i] = c.Stage
	}
	return out
}

// Page is a full page: the board, and what the lead dialog shows when the page
// opens (nil: the dialog is closed).
type Page struct {
	Title  string
	Board  BoardData
	Dialog templ.Component
}

// LeadValues is a lead form's fields as typed, so a rejected form shows exactly
// what the person entered.
type LeadValues struct {
	Name, Company, Email, Phone, Value, Notes, Status, Source string
}

// ValuesOf returns the form values of a stored lead.
func ValuesOf(l store.Lead) LeadValues {
	return LeadValues{
		Name: l.Name, Company: l.Company, Email: l.Email, Phone: l.Phone,
		Value: MoneyInput(l.Value), Notes: l.Notes, Status: l.Status, Source: l.Source,
	}
}

// LeadForm is the create form (Lead nil) or the edit form of Lead.
type LeadForm struct {
	Lead   *store.Lead
	Values LeadValues
	// Errors holds a message per field name ("name", "value", ...).
	Errors map[string]string
	Stages []store.Stage
	Now    time.Time
	// History is the lead's audit trail, newest first (edit form only).
	History []store.LeadEvent
	// Edit is what an edit form was rendered from (see conflict.go); zero: the
	// stored Lead.
	Edit EditBase
	// Conflicts lists the fields someone else changed while this person edited
	// them too (see ConflictView).
	Conflicts []FieldConflict
}

// Sources are suggested in the source field; any text is accepted.
var Sources = []string{"Website", "Referral", "LinkedIn", "Trade show", "Cold email", "Partner", "Chat", "Event"}

// Paths of the board's pages and fragments. handlers/routes.go mounts the same.
const (
	BoardPath    = "/"
	DemoPath     = "/board/demo"
	CardsPath    = "/board/cards"
	NewLeadPath  = "/board/leads/new"
	LeadsPath    = "/board/leads"
	ChatPanelURL = "/chat/panel"
)

// BoardURL is the board filtered by q: "/" or "/?q=acme".
func BoardURL(q string) string {
	if q == "" {
		return BoardPath
	}
	return BoardPath + "?" + url.Values{"q": {q}}.Encode()
}

// LeadPath is a lead's detail page (and the target of its edit form).
func LeadPath(id uuid.UUID) string { return LeadsPath + "/" + id.String() }

// MovePath is where a lead's moves are posted.
func MovePath(id uuid.UUID) string { return LeadPath(id) + "/move" }

// DeletePath shows the delete confirmation (GET) and deletes (POST).
func DeletePath(id uuid.UUID) string { return LeadPath(id) + "/delete" }

// NewLeadURL is the create form, with the stage preselected.
func NewLeadURL(stage string) string {
	if stage == "" {
		return NewLeadPath
	}
	return NewLeadPath + "?" + url.Values{"status": {stage}}.Encode()
}

// CardsURL is the next page of a column after the card whose sort key is after
// (store.Column.NextAfter).
func CardsURL(stage string, after int64, q string) string {
	v := url.Values{"status": {stage}, "after": {strconv.FormatInt(after, 10)}}
	if q != "" {
		v.Set("q", q)
	}
	return CardsPath + "?" + v.Encode()
}

// htmxConfig configures htmx from a <meta> tag (no inline script): 422
// validation answers swap like successes; other errors do not (app.js swaps
// those that carry an HX-Retarget, the HTML error adapter's messages); nothing is
// evaluated as JavaScript; htmx adds no inline styles, nor copies style
// attributes while settling a swap (setting one from script is an inline style
// the Content-Security-Policy refuses); history restores reload
// the page, so going back always shows the true state.
const htmxConfig = `{"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}],` +
	`"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"selfRequestsOnly":true,` +
	`"attributesToSettle":["class","width","height"],` +
	`"historyCacheSize":0,"refreshOnHistoryMiss":true,"historyRestoreAsHxRequest":false,"defaultFocusScroll":false}`

// fieldOrder is the order of the form's fields, to focus the first bad one.
var fieldOrder = []string{"name", "company", "email", "phone", "value", "status", "source", "notes"}

func (f LeadForm) action() string {
	if f.Lead == nil {
		return LeadsPath
	}
	return LeadPath(f.Lead.ID)
}

// autofocus says whether field takes the focus when the form appears: the first
// field with an error, or the name.
func (f LeadForm) autofocus(field string) bool {
	for _, name := range fieldOrder {
		if _, bad := f.Errors[name]; bad {
			return name == field
		}
	}
	return field == "name"
}

// invalid marks a field with an error for assistive technology and ties it to
// its message.
func (f LeadForm) invalid(field string) templ.Attributes {
	if _, bad := f.Errors[field]; !bad {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": FieldErrorID(field).String()}
}

// Undo is what the Undo button of a message posts: to URL, with the form
// values Vals (JSON, for hx-vals).
type Undo struct {
	URL, Vals string
}

// MoveUndo takes a move back: the lead goes back to stage from, at position order.
func MoveUndo(id uuid.UUID, from string, order int, now string) *Undo {
	b, _ := json.Marshal(map[string]string{"status": from, "order": strconv.Itoa(order), "from": now, "undo": "1"})
	return &Undo{URL: MovePath(id), Vals: string(b)}
}

// RestorePathBoard restores a deleted lead from the board (the Undo of a delete).
func RestorePathBoard(id uuid.UUID) string { return LeadPath(id) + "/restore" }

// DeleteUndo takes a delete back: the lead comes back from the trash.
func DeleteUndo(id uuid.UUID) *Undo { return &Undo{URL: RestorePathBoard(id), Vals: "{}"} }
