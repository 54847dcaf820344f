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

// The admin page (admins only, see adminOnly): every account with its API
// tokens; add an account, deactivate or reactivate one, set a new password
// (which signs that person out everywhere), revoke anyone's token.

var adminNotices = map[string]string{
	"added":       "The account is added.",
	"deactivated": "The account is deactivated: signed out everywhere, and its tokens stop working.",
	"activated":   "The account is active again.",
	"password":    "The password is set, and the person is signed out everywhere.",
	"revoked":     "The token is revoked.",
	"reassigned":  "The leads have their new owner.",
}

const userNotFound = "That account does not exist."

// adminData reads every account and their tokens.
func (s *Server) adminData(r *http.Request) (views.AdminData, error) {
	me, _ := currentUser(r)
	users, err := s.Store.ListUsers(r.Context())
	if err != nil {
		return views.AdminData{}, err
	}
	owned, err := s.Store.LeadCountsByOwner(r.Context())
	if err != nil {
		return views.AdminData{}, err
	}
	d := views.AdminData{Me: me, Users: make([]views.AdminUser, len(users)), Now: time.Now()}
	for i, u := range users {
		tokens, err := s.Store.ListAPITokens(r.Context(), u.ID)
		if err != nil {
			return views.AdminData{}, err
		}
		d.Users[i] = views.AdminUser{User: u, Tokens: tokens, Leads: owned[u.ID]}
	}
	return d, nil
}

// handleAdmin answers GET /admin/users.
func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) error {
	d, err := s.adminData(r)
	if err != nil {
		return err
	}
	d.Notice = adminNotices[r.URL.Query().Get("done")]
	return s.render(w, r, http.StatusOK, views.AdminPage(d))
}

// handleAdminAddUser answers POST /admin/users.
func (s *Server) handleAdminAddUser(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := store.NewUser{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"),
		Password: r.PostFormValue("password"), Role: r.PostFormValue("role")}
	u, err := s.createUser(r, in)
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		d, derr := s.adminData(r)
		if derr != nil {
			return derr
		}
		d.Form, d.Role, d.Errors = views.SetupForm{Email: in.Email, Name: in.Name}, in.Role, formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.AdminPage(d))
	}
	if err != nil {
		return err
	}
	me, _ := currentUser(r)
	s.Log.InfoContext(r.Context(), "user added", "user_id", u.ID, "role", u.Role, "by", me.ID, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.AdminPath+"?done=added", http.StatusSeeOther)
	return nil
}

func (s *Server) createUser(r *http.Request, in store.NewUser) (store.User, error) {
	select {
	case s.sec.hashSlots <- struct{}{}:
		defer func() { <-s.sec.hashSlots }()
	case <-r.Context().Done():
		return store.User{}, r.Context().Err()
	}
	return s.Store.CreateUser(r.Context(), in)
}

// adminUserID reads {id}; an id that is not a UUID names no account.
func adminUserID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, errStatus(http.StatusNotFound, userNotFound)
	}
	return id, nil
}

// handleAdminSetActive answers POST /admin/users/{id}/deactivate and
// /activate. Admins cannot deactivate themselves, nor the last active admin.
func (s *Server) handleAdminSetActive(active bool) htmlFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := adminUserID(r)
		if err != nil {
			return err
		}
		me, _ := currentUser(r)
		if !active && id == me.ID {
			return errStatus(http.StatusBadRequest, "You cannot deactivate your own account; another admin can.")
		}
		u, err := s.Store.SetUserActive(r.Context(), id, active)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errStatus(http.StatusNotFound, userNotFound)
		case errors.Is(err, store.ErrLastAdmin):
			return errStatus(http.StatusBadRequest, "That is the last active admin; make another admin first.")
		case err != nil:
			return err
		}
		done := "activated"
		if !active {
			done = "deactivated"
		}
		s.Log.InfoContext(r.Context(), "user "+done, "user_id", u.ID, "by", me.ID, "request_id", RequestID(r.Context()))
		http.Redirect(w, r, views.AdminPath+"?done="+done, http.StatusSeeOther)
		return nil
	}
}

// handleAdminSetPassword answers POST /admin/users/{id}/password: a new
// password for someone who forgot theirs; every session of theirs ends.
func (s *Server) handleAdminSetPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := adminUserID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	me, _ := currentUser(r)
	if id == me.ID {
		// One's own password always needs the current one, whoever holds the
		// session or the token: the settings page's change does that check.
		return s.handlePasswordChange(w, r)
	}
	err = s.setPassword(r, id, r.PostFormValue("password"), uuid.Nil)
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		d, derr := s.adminData(r)
		if derr != nil {
			return derr
		}
		d.ErrorFor, d.Errors = id, formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.AdminPage(d))
	case errors.Is(err, store.ErrNotFound):
		return errStatus(http.StatusNotFound, userNotFound)
	case err != nil:
		return err
	}
	s.Log.InfoContext(r.Context(), "password set by admin", "user_id", id, "by", me.ID, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.AdminPath+"?done=password", http.StatusSeeOther)
	return nil
}

// handleAdminRevokeToken answers POST /admin/users/{id}/tokens/{token_id}/revoke.
func (s *Server) handleAdminRevokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := adminUserID(r)
	if err != nil {
		return err
	}
	tokenID, err := uuid.Parse(chi.URLParam(r, "token_id"))
	if err != nil {
		return errStatus(http.StatusNotFound, "That token does not exist.")
	}
	tok, err := s.Store.RevokeAPIToken(r.Context(), id, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "That token does not exist.")
	}
	if err != nil {
		return err
	}
	me, _ := currentUser(r)
	s.Log.InfoContext(r.Context(), "api token revoked", "token_id", tok.ID, "token_name", tok.Name, "user_id", id,
		"by", me.ID, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.AdminPath+"?done=revoked", http.StatusSeeOther)
	return nil
}

// handleAdminReassign answers POST /admin/users/{id}/reassign: every lead the
// account owns goes to the active user the form names ("to"), in one
// transaction, each change in the lead's history. A deactivated user's leads
// keep their owner until then.
func (s *Server) handleAdminReassign(w http.ResponseWriter, r *http.Request) error {
	id, err := adminUserID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	to, err := uuid.Parse(r.PostFormValue("to"))
	if err != nil {
		return errStatus(http.StatusBadRequest, "Choose whom to give the leads to.")
	}
	if _, err := s.Store.GetUser(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, userNotFound)
	} else if err != nil {
		return err
	}
	n, err := s.Store.ReassignLeads(r.Context(), id, to)
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		d, derr := s.adminData(r)
		if derr != nil {
			return derr
		}
		d.ErrorFor, d.Errors = id, formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.AdminPage(d))
	}
	if err != nil {
		return err
	}
	me, _ := currentUser(r)
	s.Log.InfoContext(r.Context(), "leads reassigned", "from_user_id", id, "to_user_id", to, "leads", n,
		"by", me.ID, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, views.AdminPath+"?done=reassigned", http.StatusSeeOther)
	return nil
}
