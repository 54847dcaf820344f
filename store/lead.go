package store

import (
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Lead is one card on the board: a person or company the team is selling to.
// Its JSON form is the original backend's lead object.
type Lead struct {
	ID      uuid.UUID `json:"id"`
	Name    string    `json:"name"`
	Company string    `json:"company"`
	Email   string    `json:"email"`
	Phone   string    `json:"phone"`
	Value   Money     `json:"value"`
	Notes   string    `json:"notes"`
	Status  string    `json:"status"`
	Source  string    `json:"source"`
	// CardOrder is the lead's position in its column, 0..n-1. The table's
	// card_order column is a sort key with gaps it is counted from (migration
	// 00005).
	CardOrder int       `json:"card_order"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version changes with every write to the lead, by any path (migration
	// 00007): a conditional write names the version it saw (the API's If-Match,
	// the board's forms and drops). Versions only grow and are never reused.
	// Moves of other cards change the lead's position, not its version.
	Version int64 `json:"version"`
	// Owner is the user who owns the lead; nil: nobody.
	Owner *LeadOwner `json:"owner"`
	// ClosedAt is when the lead entered its won or lost stage; nil while open.
	ClosedAt *time.Time `json:"closed_at"`
	// LostReason and LostNote say why the lead was lost (kept when it is
	// reopened, as history; replaced when it is lost again).
	LostReason string `json:"lost_reason"`
	LostNote   string `json:"lost_note"`
	// StageEnteredAt is when the lead entered its current stage.
	StageEnteredAt time.Time `json:"stage_entered_at"`
}

// LeadOwner is the user who owns a lead, as a lead shows it.
type LeadOwner struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Email string    `json:"email"`
}

// email is the owner's email, "" for nobody.
func (o *LeadOwner) email() string {
	if o == nil {
		return ""
	}
	return o.Email
}

// Initials are the first letters of the owner's first and last names, for
// the card ("Ann Lee": "AL").
func (o *LeadOwner) Initials() string {
	if o == nil {
		return ""
	}
	words := strings.Fields(o.Name)
	if len(words) == 0 {
		words = []string{o.Email}
	}
	first := func(w string) string {
		for _, r := range w {
			return strings.ToUpper(string(r))
		}
		return ""
	}
	out := first(words[0])
	if len(words) > 1 {
		out += first(words[len(words)-1])
	}
	return out
}

// leadFromRow is the lead of row r, at position pos of its column.
func leadFromRow(r queries.Lead, pos int) Lead {
	return Lead{
		ID:        r.ID,
		Name:      r.Name,
		Company:   r.Company,
		Email:     r.Email,
		Phone:     r.Phone,
		Value:     moneyFromNumeric(r.Value),
		Notes:     r.Notes,
		Status:    r.Status,
		Source:    r.Source,
		CardOrder: pos,
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
		Version:   r.Version,
		// The owner's name and email are filled in by withOwners.
		Owner:          ownerRef(r.OwnerID),
		ClosedAt:       timePtr(r.ClosedAt),
		LostReason:     r.LostReason,
		LostNote:       r.LostNote,
		StageEnteredAt: r.StageEnteredAt.UTC(),
	}
}

func ownerRef(id pgtype.UUID) *LeadOwner {
	if !id.Valid {
		return nil
	}
	return &LeadOwner{ID: id.Bytes}
}

func timePtr(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// formatTime is t in RFC 3339, "" for nil.
func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Field length limits, in characters. The table's check constraints repeat them.
const (
	MaxNameLen    = 200
	MaxCompanyLen = 200
	MaxEmailLen   = 254
	MaxPhoneLen   = 50
	MaxNotesLen   = 10000
	MaxSourceLen  = 100
	// MaxLostReasonLen and MaxLostNoteLen bound why a lead was lost.
	MaxLostReasonLen = 200
	MaxLostNoteLen   = 2000
	// maxStageLen is the longest stage name (the stages table's check).
	maxStageLen = 60
)

// LeadInput is a create or a partial update of a lead: a nil field is left as it is
// (or takes its default on create). Its fields are described by the lead-field
// table (fields.go).
type LeadInput struct {
	Name    *string
	Company *string
	Email   *string
	Phone   *string
	Value   *Money
	Notes   *string
	Status  *string
	Source  *string
	// Owner is the owner's email or id; "" for nobody. A new lead without
	// one is owned by the user the context's actor acts for (nobody for the
	// system).
	Owner *string
	// LostReason and LostNote may be given for a lead that is (or is being
	// moved into) a lost stage. A reason matching an entry of the admin list
	// without regard to case takes the list's spelling; other text is kept.
	LostReason *string
	LostNote   *string
}

// Normalize trims surrounding white space from every text field except those
// kept as typed (notes).
func (in *LeadInput) Normalize() {
	for _, f := range leadFields {
		f.normalize(in)
	}
}

// Validate checks every given field and, when creating, that name is present.
// Whether status names a stage and owner a user is checked against the
// database by the store.
func (in *LeadInput) Validate(creating bool) *ValidationError {
	errs := map[string]string{}
	for _, f := range leadFields {
		if creating && f.Required && !f.HasDefault && f.ptr != nil && *f.ptr(in) == nil {
			errs[f.Name] = "is required"
		}
		f.check(errs, in)
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: errs}
}

// CheckText returns what is wrong with s as a text field of at most maxLen
// characters (not valid UTF-8, a NUL character, too long), or "". Every text a
// person or a client sends is checked with it.
func CheckText(s string, maxLen int) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8 text"
	case strings.ContainsRune(s, 0):
		return "must not contain NUL characters"
	case utf8.RuneCountInString(s) > maxLen:
		return "must be at most " + strconv.Itoa(maxLen) + " characters"
	}
	return ""
}

// MsgOneLine is the refusal of a line break in a one-line field (every text
// field but notes and lost_note).
const MsgOneLine = "must be one line"

// lineBreaks are the characters that end a line somewhere: CR, LF, vertical
// tab, form feed, NEL and Unicode's line and paragraph separators.
const lineBreaks = "\r\n\v\f\u0085\u2028\u2029"

// CheckLine is CheckText for a one-line text: it also refuses a line break
// (any of lineBreaks), as the CSV import does.
func CheckLine(s string, maxLen int) string {
	if msg := CheckText(s, maxLen); msg != "" {
		return msg
	}
	if strings.ContainsAny(s, lineBreaks) {
		return MsgOneLine
	}
	return ""
}

// checkText sets errs[field] when the text p points to fails CheckText, and says
// whether it did.
func checkText(errs map[string]string, field string, p *string, maxLen int) bool {
	if p == nil || errs[field] != "" {
		return false
	}
	if msg := CheckText(*p, maxLen); msg != "" {
		errs[field] = msg
		return true
	}
	return false
}

func looksLikeEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " <>")
}
