package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The settings page: the signed-in person's API tokens (create, list, revoke)
// and password. After a change the browser is sent back to the page with a
// notice chosen from a fixed list (?done=), so no text comes from the URL.

var settingsNotices = map[string]string{
	"revoked":  "The token is revoked; it no longer works.",
	"password": "Your password is changed, and you are signed out everywhere else.",
}

// settingsData reads what the settings page shows for the signed-in user.
func (s *Server) settingsData(r *http.Request) (views.SettingsData, error) {
	u, _ := currentUser(r)
	tokens, err := s.Store.ListAPITokens(r.Context(), u.ID)
	if err != nil {
		return views.SettingsData{}, err
	}
	return views.SettingsData{User: u, Tokens: tokens, Now: time.Now()}, nil
}

// handleSettings answers GET /settings.
func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) error {
	d, err := s.settingsData(r)
	if err != nil {
		return err
	}
	d.Notice = settingsNotices[r.URL.Query().Get("done")]
	return s.render(w, r, http.StatusOK, views.SettingsPage(d))
}

// handleTokenCreate answers POST /settings/tokens: the page with the new
// token's secret, shown this once (the response is not stored: no-store).
func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	u, _ := currentUser(r)
	name := r.PostFormValue("name")
	tok, secret, err := s.Store.CreateAPIToken(r.Context(), u.ID, name)
	var ve *store.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	d, derr := s.settingsData(r)
	if derr != nil {
		return derr
	}
	if ve != nil {
		d.TokenName, d.Errors = name, formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(d))
	}
	s.Log.InfoContext(r.Context(), "api token created", "token_id", tok.ID, "token_name", tok.Name, "user_id", u.ID,
		"request_id", RequestID(r.Context()))
	d.NewToken, d.NewTokenName = secret, tok.Name
	return s.render(w, r, http.StatusOK, views.SettingsPage(d))
}

// handleTokenRevoke answers POST /settings/tokens/{id}/revoke. Another user's
// token is not found.
func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	u, _ := currentUser(r)
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return errStatus(http.StatusNotFound, "That token does not exist; it may have been revoked already.")
	}
	tok, err := s.Store.RevokeAPIToken(r.Context(), u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "That token does not exist; it may have been revoked already.")
	}
	if err != nil {
		return err
	}
	s.Log.InfoContext(r.Context(), "api token revoked", "token_id", tok.ID, "token_name", tok.Name, "user_id", u.ID,
		"request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.SettingsPath+"?done=revoked", http.StatusSeeOther)
	return nil
}

// handlePasswordChange answers POST /settings/password: the current password
// is checked (limited like a sign-in), then the new one set, which ends every
// other session of the user; this session gets a new token.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p, _ := currentPrincipal(r.Context())
	u := p.User
	invalid := func(status int, fields map[string]string) error {
		d, err := s.settingsData(r)
		if err != nil {
			return err
		}
		d.Errors = fields
		return s.render(w, r, status, views.SettingsPage(d))
	}
	current, next := r.PostFormValue("current"), r.PostFormValue("password")
	if current == "" {
		return invalid(http.StatusUnprocessableEntity, map[string]string{"current": "Enter your current password."})
	}
	key := u.Email + "\x00" + s.clientAddr(r)
	if ok, wait := s.sec.signInAccount.allow(r.Context(), key); !ok {
		tooMany(w, wait)
		return invalid(http.StatusTooManyRequests, map[string]string{"current": "Too many attempts. Try again in " + retryText(wait) + "."})
	}
	if _, err := s.checkPassword(r.Context(), u.Email, current); err != nil {
		if errors.Is(err, store.ErrBadCredentials) {
			s.Log.WarnContext(r.Context(), "password change refused: wrong current password", "user_id", u.ID,
				"request_id", RequestID(r.Context()))
			return invalid(http.StatusUnprocessableEntity, map[string]string{"current": "That is not your current password."})
		}
		return err
	}
	err := s.setPassword(r, u.ID, next, p.SessionID)
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		return invalid(http.StatusUnprocessableEntity, formMessages(ve.Fields))
	}
	if err != nil {
		return err
	}
	s.sec.signInAccount.reset(r.Context(), key)
	if s.Sessions != nil && p.SessionID != uuid.Nil {
		if err := s.Sessions.RenewToken(r.Context()); err != nil {
			return err
		}
	}
	s.Log.InfoContext(r.Context(), "password changed", "user_id", u.ID, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.SettingsPath+"?done=password", http.StatusSeeOther)
	return nil
}

// setPassword hashes within the hash slots and sets the password, ending the
// user's sessions but keep.
func (s *Server) setPassword(r *http.Request, userID uuid.UUID, password string, keep uuid.UUID) error {
	select {
	case s.sec.hashSlots <- struct{}{}:
		defer func() { <-s.sec.hashSlots }()
	case <-r.Context().Done():
		return r.Context().Err()
	}
	return s.Store.SetPassword(r.Context(), userID, password, keep)
}
