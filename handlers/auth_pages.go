package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Sign-in, sign-out and the one-time setup of the first admin. These are plain
// form posts (no htmx): a sign-in ends in a full page load anyway.

// errNoSessions answers when the server was built without sessions.
var errNoSessions = errStatus(http.StatusServiceUnavailable, "browser sign-in is not available on this server")

// handleSignInForm answers GET /signin. While no account exists it sends the
// browser to setup; a signed-in browser goes on to where it was headed.
func (s *Server) handleSignInForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if !s.accountsExist(r.Context()) {
		http.Redirect(w, r, views.SetupPath, http.StatusSeeOther)
		return nil
	}
	if _, ok := currentUser(r); ok {
		http.Redirect(w, r, orBoard(next), http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SignInPage(views.SignInForm{Next: next, SignedOut: r.URL.Query().Get("signed_out") == "1"}))
}

func orBoard(next string) string {
	if next == "" {
		return views.BoardPath
	}
	return next
}

// handleSignIn answers POST /signin. Attempts are limited per client address
// and per account from that address (429 with Retry-After); the answer for a
// wrong password and for an unknown email is the same, and takes as long.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	form := views.SignInForm{Email: email, Next: safeNext(r.PostFormValue("next"))}
	refuse := func(status int, msg string) error {
		form.Error = msg
		return s.render(w, r, status, views.SignInPage(form))
	}
	switch {
	case email == "" || password == "":
		return refuse(http.StatusUnprocessableEntity, "Enter your email and your password.")
	case store.CheckText(email, store.MaxUserEmailLen) != "":
		form.Email = ""
		return refuse(http.StatusUnprocessableEntity, "The email is not valid.")
	case len(password) > 4*store.MaxPasswordLen:
		return refuse(http.StatusUnprocessableEntity, "The password is too long.")
	}
	addr := s.clientAddr(r)
	accountKey := strings.ToLower(email) + "\x00" + addr
	for _, l := range []struct {
		name string
		lim  *limiter
		key  string
	}{{"signin_per_address", s.sec.signInAddr, addr}, {"signin_per_account", s.sec.signInAccount, accountKey}} {
		if ok, wait := l.lim.allow(r.Context(), l.key); !ok {
			s.Log.WarnContext(r.Context(), "rate limited", "limit", l.name, "email_hash", emailHash(email), "address", addr,
				"request_id", RequestID(r.Context()))
			tooMany(w, wait)
			return refuse(http.StatusTooManyRequests, "Too many sign-in attempts. Try again in "+retryText(wait)+".")
		}
	}
	u, err := s.checkPassword(r.Context(), email, password)
	if errors.Is(err, store.ErrBadCredentials) {
		s.Log.WarnContext(r.Context(), "sign-in failed", "email_hash", emailHash(email), "address", addr, "request_id", RequestID(r.Context()))
		return refuse(http.StatusUnauthorized, "The email or password is not right.")
	}
	if err != nil {
		return err
	}
	s.sec.signInAccount.reset(r.Context(), accountKey)
	if err := s.signIn(r, u); err != nil {
		return err
	}
	s.Log.InfoContext(r.Context(), "signed in", "user_id", u.ID, "address", addr, "request_id", RequestID(r.Context()))
	http.Redirect(w, r, orBoard(form.Next), http.StatusSeeOther)
	return nil
}

// emailHash is what the log says of a typed email: the first 12 hex digits of
// the SHA-256 of its lower-cased form. People type passwords into the email
// field; the log must not keep them, but an operator can still tell that
// attempts aimed at one account (echo -n ann@example.com | sha256sum).
func emailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:6])
}

// checkPassword checks a password, at most a few at a time: each hash takes
// 19 MiB, so a flood of sign-ins waits here instead of exhausting memory.
func (s *Server) checkPassword(ctx context.Context, email, password string) (store.User, error) {
	select {
	case s.sec.hashSlots <- struct{}{}:
		defer func() { <-s.sec.hashSlots }()
	case <-ctx.Done():
		return store.User{}, ctx.Err()
	}
	return s.Store.Authenticate(ctx, email, password)
}

// signIn makes the request's browser session u's: everything the session held
// before is dropped and it gets a new token (so a token planted before the
// sign-in is worth nothing), and a user_sessions row the session names.
func (s *Server) signIn(r *http.Request, u store.User) error {
	if s.Sessions == nil {
		return errNoSessions
	}
	ctx := r.Context()
	if p, ok := currentPrincipal(ctx); ok && p.SessionID != uuid.Nil {
		if err := s.Store.EndSession(ctx, p.SessionID); err != nil {
			return err
		}
	}
	if err := s.Sessions.Clear(ctx); err != nil {
		return fmt.Errorf("clear session: %w", err)
	}
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token: %w", err)
	}
	sid, err := s.Store.StartSession(ctx, u.ID, time.Now().Add(s.Sessions.Lifetime))
	if err != nil {
		return err
	}
	s.Sessions.Put(ctx, sessionKeyID, sid.String())
	return nil
}

// handleSignOut answers POST /signout: the session ends on the server (its
// user_sessions row is deleted, so even a request of the session still in
// flight that saves the session afterwards cannot revive it), its data is
// deleted and the cookie expired.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, _ := currentPrincipal(ctx)
	if p.SessionID != uuid.Nil {
		if err := s.Store.EndSession(context.WithoutCancel(ctx), p.SessionID); err != nil {
			return err
		}
	}
	if s.Sessions != nil && p.Token == nil { // a bearer call has no session to end
		if err := s.Sessions.Destroy(ctx); err != nil {
			return fmt.Errorf("destroy session: %w", err)
		}
	}
	s.Log.InfoContext(ctx, "signed out", "user_id", p.User.ID, "request_id", RequestID(ctx))
	seeOther(w, r, views.SignInPath+"?signed_out=1")
	return nil
}

// handleSetupForm answers GET /setup: the first admin's form while no account
// exists; sign-in afterwards.
func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) error {
	if s.accountsExist(r.Context()) {
		http.Redirect(w, r, views.SignInPath, http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SetupPage(views.SetupForm{}))
}

// handleSetup answers POST /setup: it creates the first admin, only while no
// account exists (store.CreateFirstAdmin), and signs them in.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := store.NewUser{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Password: r.PostFormValue("password")}
	form := views.SetupForm{Email: in.Email, Name: in.Name}
	u, err := s.createFirstAdmin(r.Context(), in)
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		form.Errors = formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.SetupPage(form))
	case errors.Is(err, store.ErrSetupDone):
		s.sec.haveUsers.Store(true)
		s.logRefusal(r, "setup after the first account")
		http.Redirect(w, r, views.SignInPath, http.StatusSeeOther)
		return nil
	case err != nil:
		return err
	}
	s.sec.haveUsers.Store(true)
	s.Log.InfoContext(r.Context(), "first admin created", "user_id", u.ID, "address", s.clientAddr(r))
	if err := s.signIn(r, u); err != nil {
		return err
	}
	http.Redirect(w, r, views.BoardPath, http.StatusSeeOther)
	return nil
}

func (s *Server) createFirstAdmin(ctx context.Context, in store.NewUser) (store.User, error) {
	select {
	case s.sec.hashSlots <- struct{}{}:
		defer func() { <-s.sec.hashSlots }()
	case <-ctx.Done():
		return store.User{}, ctx.Err()
	}
	return s.Store.CreateFirstAdmin(ctx, in)
}
