package views

import (
	"context"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// Paths of the account pages. handlers/routes.go mounts the same.
const (
	SignInPath   = "/signin"
	SignOutPath  = "/signout"
	SetupPath    = "/setup"
	SettingsPath = "/settings"
	TokensPath   = "/settings/tokens"
	PasswordPath = "/settings/password"
	AdminPath    = "/admin/users"
	TrashPath    = "/trash"
)

// RevokeTokenPath revokes one of the signed-in user's tokens.
func RevokeTokenPath(id uuid.UUID) string { return TokensPath + "/" + id.String() + "/revoke" }

// AdminUserPath is one account on the admin page; its actions are below it.
func AdminUserPath(id uuid.UUID) string { return AdminPath + "/" + id.String() }

// AdminUserActionPath is an action on one account: "deactivate", "activate",
// "password".
func AdminUserActionPath(id uuid.UUID, action string) string { return AdminUserPath(id) + "/" + action }

// AdminRevokeTokenPath revokes a token of another account.
func AdminRevokeTokenPath(userID, tokenID uuid.UUID) string {
	return AdminUserPath(userID) + "/tokens/" + tokenID.String() + "/revoke"
}

// TrashLeadPath shows a deleted lead with its history.
func TrashLeadPath(id uuid.UUID) string { return TrashPath + "/" + id.String() }

// RestorePath restores a deleted lead (a form post).
func RestorePath(id uuid.UUID) string { return TrashLeadPath(id) + "/restore" }

// SignInURL is the sign-in page that returns to next afterwards.
func SignInURL(next string) string {
	if next == "" || next == BoardPath {
		return SignInPath
	}
	return SignInPath + "?" + url.Values{"next": {next}}.Encode()
}

// Viewer is the signed-in person, for the account menu.
type Viewer struct {
	Name  string
	Email string
	Admin bool
}

type viewerKey struct{}

// WithViewer returns ctx carrying the signed-in person, which every page's
// account menu shows.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// viewerFrom returns the signed-in person of ctx, if any.
func viewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// SignInForm is the sign-in page.
type SignInForm struct {
	Email string
	Next  string
	// Error is why the last attempt failed ("" for none).
	Error string
	// SignedOut says the person just signed out.
	SignedOut bool
}

// SetupForm is the one-time setup of the first admin.
type SetupForm struct {
	Email, Name string
	Errors      map[string]string
}

// SettingsData is the settings page: the person's API tokens and password.
type SettingsData struct {
	User   store.User
	Tokens []store.APIToken
	// NewToken is the secret of a token just made, shown this once.
	NewToken     string
	NewTokenName string
	// TokenName is the name typed into the new-token form.
	TokenName string
	Errors    map[string]string
	// Notice is a message about what just happened.
	Notice string
	Now    time.Time
}

// AdminData is the admin page: every account, with their tokens.
type AdminData struct {
	Me     store.User
	Users  []AdminUser
	Form   SetupForm
	Role   string
	Notice string
	// ErrorFor is the account a message in Errors belongs to (uuid.Nil: the
	// add form).
	ErrorFor uuid.UUID
	Errors   map[string]string
	Now      time.Time
}

// AdminUser is one account on the admin page.
type AdminUser struct {
	User   store.User
	Tokens []store.APIToken
	// Leads is how many leads the account owns.
	Leads int
}

// TrashData is the trash page.
type TrashData struct {
	Leads  []store.TrashedLead
	Notice string
	Now    time.Time
}

// TrashedLeadData is one deleted lead with its history.
type TrashedLeadData struct {
	Lead    store.TrashedLead
	History []store.LeadEvent
	Now     time.Time
}

// ContactURL is a link built from a lead's field: mailto: for an email, tel:
// for a phone, or a web address. Only http(s), mailto and tel links are made;
// anything else (javascript:, data:, a value that does not parse) gives "",
// and the field is then shown as text.
func ContactURL(kind, value string) templ.SafeURL {
	value = strings.TrimSpace(value)
	if value == "" || strings.ContainsAny(value, "\x00\r\n<>\"'` ") && kind != "tel" {
		return ""
	}
	switch kind {
	case "email":
		if !strings.Contains(value, "@") {
			return ""
		}
		return templ.SafeURL("mailto:" + url.PathEscape(value))
	case "tel":
		clean := strings.Map(func(r rune) rune {
			if (r >= '0' && r <= '9') || r == '+' || r == '-' || r == '(' || r == ')' || r == '.' || r == ' ' {
				return r
			}
			return -1
		}, value)
		if strings.TrimSpace(clean) == "" || clean != value {
			return ""
		}
		return templ.SafeURL("tel:" + strings.ReplaceAll(clean, " ", ""))
	case "web":
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ""
		}
		return templ.SafeURL(u.String())
	}
	return ""
}

// eventVerb says what an event did, for the timeline.
func eventVerb(action string) string {
	switch action {
	case store.EventCreate:
		return "created the lead"
	case store.EventUpdate:
		return "changed"
	case store.EventMove:
		return "moved the lead"
	case store.EventDelete:
		return "moved the lead to the trash"
	case store.EventRestore:
		return "restored the lead from the trash"
	}
	return action
}

// fieldName is how the timeline calls a field.
func fieldName(field string) string {
	switch field {
	case "status":
		return "stage"
	case "value":
		return "deal value"
	}
	return field
}

// shownValue is a value as the timeline shows it: long text cut short (the
// full text is in the title), empty as a dash.
func shownValue(field, v string) string {
	if v == "" {
		return "—"
	}
	if field == "value" {
		if m, err := store.ParseMoney(v); err == nil {
			return Money(m)
		}
	}
	if r := []rune(v); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return v
}

// tokenLastUsed says when a token was last used.
func tokenLastUsed(t store.APIToken, now time.Time) string {
	if t.LastUsedAt == nil {
		return "never used"
	}
	return "last used " + Ago(*t.LastUsedAt, now)
}

// purgeIn says when a trashed lead is purged: "in 30 days". It rounds up, so
// a lead deleted a moment ago is purged "in 30 days", as the page says, not
// "in 29 days".
func purgeIn(t store.TrashedLead, now time.Time) string {
	d := t.PurgeAt().Sub(now)
	switch {
	case d <= 0:
		return "at the next purge"
	case d <= time.Hour:
		return "within the hour"
	case d <= 48*time.Hour:
		return "in " + strconv.Itoa(int(math.Ceil(d.Hours()))) + " hours"
	default:
		return "in " + strconv.Itoa(int(math.Ceil(d.Hours()/24))) + " days"
	}
}
