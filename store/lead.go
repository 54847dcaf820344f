package store

import (
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

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
	}
}

// Field length limits, in characters. The table's check constraints repeat them.
const (
	MaxNameLen    = 200
	MaxCompanyLen = 200
	MaxEmailLen   = 254
	MaxPhoneLen   = 50
	MaxNotesLen   = 10000
	MaxSourceLen  = 100
	// maxStageLen is the longest stage name (the stages table's check).
	maxStageLen = 60
)

// LeadInput is a create or a partial update of a lead: a nil field is left as it is
// (or takes its default on create).
type LeadInput struct {
	Name    *string
	Company *string
	Email   *string
	Phone   *string
	Value   *Money
	Notes   *string
	Status  *string
	Source  *string
}

// Normalize trims surrounding white space from every text field except notes,
// whose layout is the author's.
func (in *LeadInput) Normalize() {
	for _, p := range []*string{in.Name, in.Company, in.Email, in.Phone, in.Status, in.Source} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
}

// Validate checks every given field and, when creating, that name is present.
// Whether status names a stage is checked against the database by the store.
func (in *LeadInput) Validate(creating bool) *ValidationError {
	errs := map[string]string{}
	if in.Name == nil {
		if creating {
			errs["name"] = "is required"
		}
	} else if *in.Name == "" {
		errs["name"] = "must not be empty"
	}
	checkText(errs, "name", in.Name, MaxNameLen)
	checkText(errs, "company", in.Company, MaxCompanyLen)
	checkText(errs, "email", in.Email, MaxEmailLen)
	checkText(errs, "phone", in.Phone, MaxPhoneLen)
	checkText(errs, "notes", in.Notes, MaxNotesLen)
	checkText(errs, "source", in.Source, MaxSourceLen)
	checkText(errs, "status", in.Status, maxStageLen)
	if in.Email != nil && *in.Email != "" && errs["email"] == "" && !looksLikeEmail(*in.Email) {
		errs["email"] = "must be an email address like name@example.com"
	}
	if in.Value != nil && (*in.Value < 0 || *in.Value > MaxMoney) {
		errs["value"] = "must be between 0 and 999999999999.99"
	}
	if in.Status != nil && *in.Status == "" && errs["status"] == "" {
		errs["status"] = "must not be empty"
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
