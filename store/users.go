package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Roles of a user. An admin manages users; everyone else is a member. Both
// work the whole pipeline: leads belong to the team, not to a person.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Limits of a user's fields, in characters.
const (
	MaxUserNameLen  = 100
	MaxUserEmailLen = 254
)

// ErrBadCredentials means an email and password do not name an active account.
// It does not say which of the two was wrong.
var ErrBadCredentials = errors.New("the email or password is not right")

// ErrSetupDone means the first admin exists already, so setup is closed.
var ErrSetupDone = errors.New("setup is done: an account exists already")

// ErrLastAdmin means the change would leave no active admin.
var ErrLastAdmin = errors.New("the last active admin cannot be deactivated")

// User is a person who may sign in.
type User struct {
	ID                uuid.UUID `json:"id"`
	Email             string    `json:"email"`
	Name              string    `json:"name"`
	Role              string    `json:"role"`
	Active            bool      `json:"active"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
}

// IsAdmin says whether u manages users.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

func userFromRow(r queries.User) User {
	return User{
		ID: r.ID, Email: r.Email, Name: r.Name, Role: r.Role, Active: r.Active,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), PasswordChangedAt: r.PasswordChangedAt.UTC(),
	}
}

// NewUser is an account to create.
type NewUser struct {
	Email    string
	Name     string
	Password string
	// Role is RoleAdmin or RoleMember ("" is a member).
	Role string
}

// Normalize trims the email and name; the password is taken exactly as typed.
func (in *NewUser) Normalize() {
	in.Email = strings.TrimSpace(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	if in.Role == "" {
		in.Role = RoleMember
	}
}

// Validate checks every field and returns a message per bad one.
func (in *NewUser) Validate() *ValidationError {
	errs := map[string]string{}
	switch {
	case in.Email == "":
		errs["email"] = "is required"
	case checkText(errs, "email", &in.Email, MaxUserEmailLen):
	case !looksLikeEmail(in.Email):
		errs["email"] = "must be an email address like name@example.com"
	}
	if in.Name == "" {
		errs["name"] = "is required"
	} else {
		checkText(errs, "name", &in.Name, MaxUserNameLen)
	}
	if msg := CheckPassword(in.Password, in.Email); msg != "" {
		errs["password"] = msg
	}
	if in.Role != RoleAdmin && in.Role != RoleMember {
		errs["role"] = "must be admin or member"
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: errs}
}

// CountUsers returns how many accounts exist, active or not.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	n, err := s.q.CountUsers(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("count users: %w", err))
	}
	return int(n), nil
}

// prepare normalizes and validates a new account and hashes its password.
func (in *NewUser) prepare() (string, error) {
	in.Normalize()
	if verr := in.Validate(); verr != nil {
		return "", verr
	}
	return HashPassword(in.Password)
}

// CreateUser validates in, hashes the password and adds the account. An email
// in use (without regard to case) is a validation error on email.
func (s *Store) CreateUser(ctx context.Context, in NewUser) (User, error) {
	hash, err := in.prepare()
	if err != nil {
		return User{}, err
	}
	row, err := s.q.InsertUser(ctx, queries.InsertUserParams{Email: in.Email, Name: in.Name, PasswordHash: hash, Role: in.Role})
	if err != nil {
		return User{}, userWriteError(err)
	}
	return userFromRow(row), nil
}

// CreateFirstAdmin creates in as an admin only while no account exists: the
// one-time setup of a fresh install. It fails with ErrSetupDone otherwise. An
// advisory lock held to commit makes two setups at once create one account.
func (s *Store) CreateFirstAdmin(ctx context.Context, in NewUser) (User, error) {
	in.Role = RoleAdmin
	hash, err := in.prepare()
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.inTx(ctx, func(q *queries.Queries) error {
		if err := q.LockUserSetup(ctx); err != nil {
			return fmt.Errorf("lock setup: %w", err)
		}
		n, err := q.CountUsers(ctx)
		if err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		if n > 0 {
			return ErrSetupDone
		}
		row, err := q.InsertUser(ctx, queries.InsertUserParams{Email: in.Email, Name: in.Name, PasswordHash: hash, Role: RoleAdmin})
		if err != nil {
			return err
		}
		u = userFromRow(row)
		return nil
	})
	if err != nil && !errors.Is(err, ErrSetupDone) {
		return User{}, userWriteError(err)
	}
	return u, err
}

// userWriteError turns the email's unique violation into a message on email.
func userWriteError(err error) error {
	err = translate(err)
	if errors.Is(err, ErrConflict) {
		return fieldError("email", "is already used by another account")
	}
	return err
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (User, error) {
	row, err := s.q.GetUser(ctx, id)
	if err != nil {
		return User{}, translate(err)
	}
	return userFromRow(row), nil
}

// GetUserByEmail returns the user with email (without regard to case), or
// ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.q.GetUserByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		return User{}, translate(err)
	}
	return userFromRow(row), nil
}

// ListUsers returns every account, by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.q.ListUsers(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("list users: %w", err))
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = userFromRow(r)
	}
	return out, nil
}

// Authenticate returns the active user with email and password, or
// ErrBadCredentials. It hashes once whether or not the account exists, so the
// time it takes does not tell. A hash made with older parameters is replaced.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	row, err := s.q.GetUserByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		if err = translate(err); !errors.Is(err, ErrNotFound) {
			return User{}, err
		}
		_, _, _ = VerifyPassword(password, dummyHash)
		return User{}, ErrBadCredentials
	}
	match, rehash, err := VerifyPassword(password, row.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("verify password of user %s: %w", row.ID, err)
	}
	if !match || !row.Active {
		return User{}, ErrBadCredentials
	}
	if rehash {
		if hash, err := HashPassword(password); err == nil {
			// Best effort: the sign-in succeeds either way.
			_, _ = s.q.UpdateUserPassword(ctx, queries.UpdateUserPasswordParams{ID: row.ID, PasswordHash: hash})
		}
	}
	return userFromRow(row), nil
}

// SetPassword gives the user a new password and ends every session of theirs
// but keep (the session that made the change; uuid.Nil ends them all), in one
// transaction. API tokens stay valid: they are revoked on their own.
func (s *Store) SetPassword(ctx context.Context, userID uuid.UUID, password string, keep uuid.UUID) error {
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if msg := CheckPassword(password, u.Email); msg != "" {
		return fieldError("password", msg)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q *queries.Queries) error {
		n, err := q.UpdateUserPassword(ctx, queries.UpdateUserPasswordParams{ID: userID, PasswordHash: hash})
		if err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := q.DeleteOtherUserSessions(ctx, queries.DeleteOtherUserSessionsParams{UserID: userID, Keep: nullUUID(keep)}); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		return nil
	})
}

// SetUserActive activates or deactivates an account. Deactivating ends the
// user's sessions; their tokens stop working while they are inactive. The last
// active admin cannot be deactivated (ErrLastAdmin): the admins' rows are
// locked first, so two admins deactivating each other at once leave one.
func (s *Store) SetUserActive(ctx context.Context, id uuid.UUID, active bool) (User, error) {
	var u User
	err := s.inTx(ctx, func(q *queries.Queries) error {
		if !active {
			if _, err := q.LockAdmins(ctx); err != nil {
				return fmt.Errorf("lock admins: %w", err)
			}
			cur, err := q.GetUser(ctx, id)
			if err != nil {
				return err
			}
			if cur.Role == RoleAdmin && cur.Active {
				n, err := q.CountOtherActiveAdmins(ctx, id)
				if err != nil {
					return fmt.Errorf("count admins: %w", err)
				}
				if n == 0 {
					return ErrLastAdmin
				}
			}
		}
		n, err := q.SetUserActive(ctx, queries.SetUserActiveParams{ID: id, Active: active})
		if err != nil {
			return fmt.Errorf("set user active: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		if !active {
			if _, err := q.DeleteOtherUserSessions(ctx, queries.DeleteOtherUserSessionsParams{UserID: id}); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		row, err := q.GetUser(ctx, id)
		if err != nil {
			return err
		}
		u = userFromRow(row)
		return nil
	})
	return u, err
}

// StartSession records a signed-in session of the user, valid until expires,
// and returns its id, which the browser session keeps.
func (s *Store) StartSession(ctx context.Context, userID uuid.UUID, expires time.Time) (uuid.UUID, error) {
	id, err := s.q.InsertUserSession(ctx, queries.InsertUserSessionParams{UserID: userID, ExpiresAt: expires})
	if err != nil {
		return uuid.Nil, translate(fmt.Errorf("start session: %w", err))
	}
	return id, nil
}

// SessionUser returns the user of a session that has not ended, or ErrNotFound
// (signed out, expired, ended by a password change, or the user deactivated).
func (s *Store) SessionUser(ctx context.Context, sessionID uuid.UUID) (User, error) {
	row, err := s.q.GetSessionUser(ctx, sessionID)
	if err != nil {
		return User{}, translate(err)
	}
	return userFromRow(row), nil
}

// EndSession ends a signed-in session. Ending one that is gone is no error.
func (s *Store) EndSession(ctx context.Context, sessionID uuid.UUID) error {
	_, err := s.q.DeleteUserSession(ctx, sessionID)
	return translate(err)
}

// DeleteExpiredSessions removes the records of expired sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int, error) {
	n, err := s.q.DeleteExpiredUserSessions(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("delete expired sessions: %w", err))
	}
	return int(n), nil
}

func nullUUID(id uuid.UUID) pgtype.UUID {
	if id == uuid.Nil {
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: id, Valid: true}
}

// claimConversation makes the conversation convID the acting user's (see
// ActorFrom), inside the caller's transaction. A conversation of another user
// is refused with ErrConflict; without a user actor nothing changes.
func claimConversation(ctx context.Context, q *queries.Queries, convID uuid.UUID) error {
	a := ActorFrom(ctx)
	if a.UserID == uuid.Nil {
		return nil
	}
	n, err := q.SetConversationUser(ctx, queries.SetConversationUserParams{ID: convID, UserID: nullUUID(a.UserID)})
	if err != nil {
		return fmt.Errorf("claim conversation: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the conversation is another user's", ErrConflict)
	}
	return nil
}

// GetChatReplyOf returns the assistant reply with id when it is in one of
// userID's conversations; another user's reply is ErrNotFound, as if it did
// not exist.
func (s *Store) GetChatReplyOf(ctx context.Context, id, userID uuid.UUID) (ChatMessage, error) {
	owner, err := s.q.GetChatMessageOwner(ctx, id)
	if err != nil {
		return ChatMessage{}, translate(err)
	}
	if !owner.Valid || uuid.UUID(owner.Bytes) != userID {
		return ChatMessage{}, ErrNotFound
	}
	return s.GetChatReply(ctx, id)
}

// assistantContext returns ctx acting as the assistant on behalf of the user
// whose conversation convID is, for the changes an assistant turn writes; a
// conversation without a user (from before accounts) acts as the system.
func assistantContext(ctx context.Context, q *queries.Queries, convID uuid.UUID) (context.Context, error) {
	conv, err := q.GetConversation(ctx, convID)
	if err != nil {
		return nil, fmt.Errorf("get conversation %s: %w", convID, err)
	}
	if !conv.UserID.Valid {
		return WithActor(ctx, SystemActor), nil
	}
	u, err := q.GetUser(ctx, uuid.UUID(conv.UserID.Bytes))
	if err != nil {
		return nil, fmt.Errorf("get user of conversation %s: %w", convID, err)
	}
	return WithActor(ctx, AssistantActor(userFromRow(u))), nil
}
