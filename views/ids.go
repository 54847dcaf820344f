package views

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ID is a DOM id. Every id the board's HTML, htmx attributes, app.js and tests
// refer to comes from this file, so an id= and the hx-target pointing at it can
// never drift apart.
type ID string

// String returns the id for an id= attribute.
func (id ID) String() string { return string(id) }

// Sel returns the CSS selector of the element, for hx-target and friends.
func (id ID) Sel() string { return "#" + string(id) }

// Fixed ids of the page's regions.
const (
	// BoardID is the element holding every column; the search and the assistant's
	// leads-changed event replace it.
	BoardID ID = "board"
	// BoardSummaryID is the lead count and pipeline value in the top bar.
	BoardSummaryID ID = "board-summary"
	// SearchID is the search box.
	SearchID ID = "board-search"
	// FlashID is the live region for messages.
	FlashID ID = "flash"
	// NoticesID holds the board's notices that stay until dismissed (a
	// finished import, live.js).
	NoticesID ID = "board-notices"
	// DialogID is the <dialog> the lead forms open in.
	DialogID ID = "lead-dialog"
	// DialogBodyID is the dialog's content, the target of every lead form.
	DialogBodyID ID = "lead-dialog-body"
	// DialogTitleID is the heading of whatever the dialog shows.
	DialogTitleID ID = "lead-dialog-title"
	// ChatPanelID is the assistant's side panel (its content is the assistant's).
	ChatPanelID ID = "chat-panel"
	// LeadFormID is the create or edit form.
	LeadFormID ID = "lead-form"
	// SourcesListID is the <datalist> of suggested lead sources.
	SourcesListID ID = "lead-sources"
	// LostReasonsListID is the <datalist> of the admin's lost reasons.
	LostReasonsListID ID = "lead-lost-reasons"
)

// stageKey turns a stage name into an id-safe token that is unique per name:
// a readable slug plus a short hash of the exact name, since two names may slug
// alike ("Won!" and "Won?").
func stageKey(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return strings.TrimSuffix(b.String(), "-") + "-" + strconv.FormatUint(uint64(h.Sum32()&0xffffff), 16)
}

// ColumnID is the column of a stage: its header and cards.
func ColumnID(stage string) ID { return ID("column-" + stageKey(stage)) }

// ColumnTitleID is the heading of a stage's column.
func ColumnTitleID(stage string) ID { return ID("column-title-" + stageKey(stage)) }

// CardListID is the list of cards of a stage's column.
func CardListID(stage string) ID { return ID("cards-" + stageKey(stage)) }

// LoadMoreID is the element at the end of a column that loads its next page.
func LoadMoreID(stage string) ID { return ID("more-" + stageKey(stage)) }

// CardID is a lead's card.
func CardID(id uuid.UUID) ID { return ID("lead-" + id.String()) }

// CardOpenID is the link on a card that opens the lead.
func CardOpenID(id uuid.UUID) ID { return ID("open-" + id.String()) }

// FieldID is the input of a lead form field ("name", "value", ...).
func FieldID(field string) ID { return ID("lead-" + field) }

// FieldErrorID is the message under a lead form field.
func FieldErrorID(field string) ID { return ID("lead-" + field + "-error") }

// MoveMenuID is the board's one move menu; MoveMenuTitleID its heading, which
// names the card it moves.
const (
	MoveMenuID      ID = "move-menu"
	MoveMenuTitleID ID = "move-menu-title"
)

// The lost-reason dialog (a move into a lost stage asks why) and its parts.
const (
	LostDialogID      ID = "lost-dialog"
	LostDialogTitleID ID = "lost-dialog-title"
	LostDialogWhatID  ID = "lost-dialog-what"
	LostFormID        ID = "lost-form"
	LostReasonTextID  ID = "lost-reason-text"
	LostNoteID        ID = "lost-note"
	LostErrorID       ID = "lost-error"
)

// The bulk bar: what is selected on the board, and what to do with it.
const (
	BulkBarID   ID = "bulk-bar"
	BulkCountID ID = "bulk-count"
	BulkStageID ID = "bulk-stage"
	BulkOwnerID ID = "bulk-owner"
)
