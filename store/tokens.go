package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/queries"
)

// TokenPrefix starts every API token, so a token pasted somewhere it should
// not be is easy to recognize (and for secret scanners to find).
const TokenPrefix = "crm_"

// MaxTokenNameLen bounds a token's name, in characters.
const MaxTokenNameLen = 100

// APIToken is a personal API token, without its secret: only its SHA-256 is
// stored, and the token itself is shown once, when it is made.
type APIToken struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func tokenFromRow(r queries.ApiToken) APIToken {
	t := APIToken{ID: r.ID, UserID: r.UserID, Name: r.Name, Scope: r.Scope, CreatedAt: r.CreatedAt.UTC()}
	if r.LastUsedAt.Valid {
		at := r.LastUsedAt.Time.UTC()
		t.LastUsedAt = &at
	}
	return t
}

// TokenUser is who an API token acts for.
type TokenUser struct {
	Token APIToken
	User  User
}

// HashToken is what is stored of a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// CheckTokenName returns what is wrong with a token name, or "".
func CheckTokenName(name string) string {
	if name == "" {
		return "is required"
	}
	return CheckText(name, MaxTokenNameLen)
}

// Token scopes: what a token may do.
const (
	// ScopeAPI acts for its user wherever a token is taken.
	ScopeAPI = "api"
	// ScopeMetrics only reads /metrics.
	ScopeMetrics = "metrics"
)

// CreateAPIToken makes a token named name for the user and returns it with its
// secret, the only time the secret is ever available. Names are unique per user.
func (s *Store) CreateAPIToken(ctx context.Context, userID uuid.UUID, name string) (APIToken, string, error) {
	return s.CreateScopedAPIToken(ctx, userID, name, ScopeAPI)
}

// CreateScopedAPIToken is CreateAPIToken for a token of scope (ScopeAPI or
// ScopeMetrics).
func (s *Store) CreateScopedAPIToken(ctx context.Context, userID uuid.UUID, name, scope string) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	if msg := CheckTokenName(name); msg != "" {
		return APIToken{}, "", fieldError("name", msg)
	}
	if scope != ScopeAPI && scope != ScopeMetrics {
		return APIToken{}, "", fieldError("scope", "must be "+ScopeAPI+" or "+ScopeMetrics)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return APIToken{}, "", fmt.Errorf("token: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	row, err := s.q.InsertAPIToken(ctx, queries.InsertAPITokenParams{UserID: userID, Name: name, TokenHash: HashToken(secret), Scope: scope})
	if err != nil {
		err = translate(err)
		if errors.Is(err, ErrConflict) {
			return APIToken{}, "", fieldError("name", "is already the name of one of your tokens")
		}
		var verr *ValidationError
		if errors.As(err, &verr) || errors.Is(err, ErrNotFound) {
			return APIToken{}, "", err
		}
		return APIToken{}, "", fmt.Errorf("insert token: %w", err)
	}
	return tokenFromRow(row), secret, nil
}

// touchEvery is how often a token's last use is recorded.
const touchEvery = time.Minute

// TokenUser returns the token with secret and its active user, or ErrNotFound
// (no such token, revoked, or the user deactivated). It records the use, at
// most once a minute per token.
func (s *Store) TokenUser(ctx context.Context, secret string) (TokenUser, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return TokenUser{}, ErrNotFound
	}
	row, err := s.q.GetTokenUser(ctx, HashToken(secret))
	if err != nil {
		return TokenUser{}, translate(err)
	}
	// The last use is recorded at most once a minute (TouchAPIToken's own
	// condition repeats this): most requests of a busy client then make one round
	// trip to the database for their token, not two.
	if last := row.ApiToken.LastUsedAt; !last.Valid || time.Since(last.Time) >= touchEvery {
		if err := s.q.TouchAPIToken(ctx, row.ApiToken.ID); err != nil {
			return TokenUser{}, translate(fmt.Errorf("touch token: %w", err))
		}
	}
	return TokenUser{Token: tokenFromRow(row.ApiToken), User: userFromRow(row.User)}, nil
}

// ListAPITokens returns the user's tokens, newest first.
func (s *Store) ListAPITokens(ctx context.Context, userID uuid.UUID) ([]APIToken, error) {
	rows, err := s.q.ListAPITokens(ctx, userID)
	if err != nil {
		return nil, translate(fmt.Errorf("list tokens: %w", err))
	}
	out := make([]APIToken, len(rows))
	for i, r := range rows {
		out[i] = tokenFromRow(r)
	}
	return out, nil
}

// RevokeAPIToken deletes the user's token id; it stops working at once. A token
// that is not the user's is ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id uuid.UUID) (APIToken, error) {
	row, err := s.q.DeleteAPIToken(ctx, queries.DeleteAPITokenParams{ID: id, UserID: userID})
	if err != nil {
		return APIToken{}, translate(err)
	}
	return tokenFromRow(row), nil
}
