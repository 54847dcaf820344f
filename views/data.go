package views

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
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
	// Choices are what the board's own dialogs offer (the full page only).
	Choices BoardChoices
}

// BoardChoices is what the board page offers besides its cards: the
// lost-reason dialog's reasons (the admin list's active ones) and whether the
// team requires one, and the owners the bulk bar assigns to (active users).
type BoardChoices struct {
	LostReasons    []store.LostReason
	ReasonRequired bool
	Users          []store.User
}

// LeadValues is a lead form's fields as typed, by field name (the lead-field
// table's), so a rejected form shows exactly what the person entered. A field
// missing from it was not posted.
type LeadValues map[string]string

// ValuesOf returns the form values of a stored lead: each form field as the
// table shows it, amounts as the form writes them.
func ValuesOf(l store.Lead) LeadValues {
	v := LeadValues{}
	for _, f := range LeadFormFields() {
		if f.Kind == store.KindMoney {
			v[f.Name] = MoneyInput(l.Value)
		} else {
			v[f.Name] = f.Text(l)
		}
	}
	return v
}

// Field reads a field of v by its form name ("" when not there).
func (v LeadValues) Field(name string) string { return v[name] }

// SetField sets a field of v by its form name.
func (v *LeadValues) SetField(name, value string) {
	if *v == nil {
		*v = LeadValues{}
	}
	(*v)[name] = value
}

// LeadFormFields are the fields of the lead form: the table's fields people
// write, in the table's order.
func LeadFormFields() []store.Field {
	var out []store.Field
	for _, f := range store.LeadFields() {
		if f.Settable() {
			out = append(out, f)
		}
	}
	return out
}

// LeadForm is the create form (Lead nil) or the edit form of Lead.
type LeadForm struct {
	Lead   *store.Lead
	Values LeadValues
	// Errors holds a message per field name ("name", "value", ...).
	Errors map[string]string
	Stages []store.Stage
	// Users are the owner select's choices: the active users, and the
	// lead's owner even when deactivated.
	Users []store.User
	// LostReasons are the lost reasons offered (the admin list's active ones).
	LostReasons []store.LostReason
	Now         time.Time
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

// label is a field's label, as the lead-field table names it.
func label(field string) string {
	f, _ := store.LeadFieldByName(field)
	return f.Label
}

// maxLen is a field's length limit for its input's maxlength.
func maxLen(field string) string {
	f, _ := store.LeadFieldByName(field)
	return strconv.Itoa(f.MaxLen)
}

// inLostStage says whether the form's lead is in (or being put in) a lost
// stage: the lost reason and note are shown then.
func (f LeadForm) inLostStage() bool {
	for _, st := range f.Stages {
		if st.Name == f.Values.Field("status") {
			return st.Kind == "lost"
		}
	}
	return false
}

// hasLostStage says whether the form's stages include a lost one (the lost
// reason and note are rendered then, hidden unless inLostStage).
func (f LeadForm) hasLostStage() bool {
	for _, st := range f.Stages {
		if st.Kind == store.StageLost {
			return true
		}
	}
	return false
}

// ownerChoice is one option of the owner select.
type ownerChoice struct {
	Value, Label string
	Selected     bool
}

// ownerChoices are the owner select's options: nobody, then the users.
func (f LeadForm) ownerChoices() []ownerChoice {
	cur := f.Values.Field("owner")
	out := []ownerChoice{{Value: "", Label: "Nobody", Selected: cur == ""}}
	for _, u := range f.Users {
		l := u.Name + " (" + u.Email + ")"
		if !u.Active {
			l += " (deactivated)"
		}
		out = append(out, ownerChoice{Value: u.Email, Label: l, Selected: strings.EqualFold(u.Email, cur)})
	}
	return out
}

func (f LeadForm) action() string {
	if f.Lead == nil {
		return LeadsPath
	}
	return LeadPath(f.Lead.ID)
}

// autofocus says whether field takes the focus when the form appears: the first
// field with an error, or the name.
func (f LeadForm) autofocus(field string) bool {
	for _, fl := range LeadFormFields() {
		if _, bad := f.Errors[fl.Name]; bad {
			return fl.Name == field
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

// BulkPath is the board's bulk action (the bulk bar's form post).
const BulkPath = "/board/bulk"

// BulkUndo takes a bulk action back.
func BulkUndo(id uuid.UUID) *Undo {
	return &Undo{URL: BulkPath + "/" + id.String() + "/undo", Vals: "{}"}
}

// RestorePathBoard restores a deleted lead from the board (the Undo of a delete).
func RestorePathBoard(id uuid.UUID) string { return LeadPath(id) + "/restore" }

// DeleteUndo takes a delete back: the lead comes back from the trash.
func DeleteUndo(id uuid.UUID) *Undo { return &Undo{URL: RestorePathBoard(id), Vals: "{}"} }
