package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

const goodPassword = "correct horse battery"

func mustUser(t *testing.T, st *store.Store, email, role string) store.User {
	t.Helper()
	u, err := st.CreateUser(context.Background(), store.NewUser{Email: email, Name: strings.Split(email, "@")[0], Password: goodPassword, Role: role})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, password, want string
	}{
		{"long enough", "correct horse battery", ""},
		{"exactly 10", "zq8#Lm2!vT", ""},
		{"too short", "zq8#Lm2!v", "must be at least 10 characters"},
		{"empty", "", "must be at least 10 characters"},
		{"10 runes of multi-byte text", "ßßßßßßßßßß", ""},
		{"128 characters", strings.Repeat("ab1!", 32), ""},
		{"256 characters", strings.Repeat("ab1!", 64), ""},
		{"257 characters", strings.Repeat("ab1!", 64) + "x", "must be at most 256 characters"},
		{"common", "password123", "is one of the most common passwords; choose another"},
		{"common in other case", "QwertyUiop", "is one of the most common passwords; choose another"},
		{"common digits", "1234567890", "is one of the most common passwords; choose another"},
		{"the email", "ann.lee@example.com", "must not be the email address"},
		{"NUL", "abcdefghij\x00", "must not contain NUL characters"},
		{"invalid UTF-8", "abcdefghij\xff", "must be valid UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.CheckPassword(tc.password, "ann.lee@example.com"); got != tc.want {
				t.Errorf("CheckPassword(%q) got %q, want %q", tc.password, got, tc.want)
			}
		})
	}
}

func TestHashAndVerifyPassword(t *testing.T) {
	t.Parallel()
	h, err := store.HashPassword(goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash got %q, want an argon2id PHC string with m=19456,t=2,p=1", h)
	}
	h2, _ := store.HashPassword(goodPassword)
	if h == h2 {
		t.Errorf("two hashes of one password got equal %q, want different salts", h)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{goodPassword, true}, {"correct horse battery ", false}, {"", false}, {"Correct horse battery", false}} {
		match, rehash, err := store.VerifyPassword(tc.password, h)
		if err != nil || match != tc.want || rehash {
			t.Errorf("VerifyPassword(%q) got %v, rehash %v, %v; want %v, false, nil", tc.password, match, rehash, err, tc.want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$", "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZXNhbHRzb21lc2FsdA",
		"$argon2id$v=19$m=999999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZXNhbHRzb21lc2FsdA",
		"$argon2id$v=19$m=19456,t=2000,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZXNhbHRzb21lc2FsdA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$c29tZXNhbHRzb21lc2FsdA"} {
		if _, _, err := store.VerifyPassword("x", bad); err == nil {
			t.Errorf("VerifyPassword with hash %q: got no error, want one", bad)
		}
	}
}

func TestCreateUserAndAuthenticate(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	ann := mustUser(t, st, "Ann@Example.com", store.RoleAdmin)
	if ann.Email != "Ann@Example.com" || ann.Role != store.RoleAdmin || !ann.Active {
		t.Errorf("created user got %+v, want the email as typed, admin, active", ann)
	}
	_, err := st.CreateUser(ctx, store.NewUser{Email: "ann@example.COM", Name: "Other", Password: goodPassword})
	var ve *store.ValidationError
	if !errors.As(err, &ve) || ve.Fields["email"] != "is already used by another account" {
		t.Errorf("second account with the email in another case: got %v, want a validation error on email", err)
	}
	_, err = st.CreateUser(ctx, store.NewUser{Email: "not-an-email", Name: "", Password: "short", Role: "owner"})
	if !errors.As(err, &ve) || len(ve.Fields) != 4 {
		t.Errorf("invalid account: got %v, want errors on email, name, password and role", err)
	}
	if n, _ := st.CountUsers(ctx); n != 1 {
		t.Errorf("users after refused creates: got %d, want 1", n)
	}

	for _, tc := range []struct {
		email, password string
		wantErr         error
	}{
		{"ann@example.com", goodPassword, nil},
		{"  ANN@example.com ", goodPassword, nil},
		{"ann@example.com", "wrong password!", store.ErrBadCredentials},
		{"nobody@example.com", goodPassword, store.ErrBadCredentials},
	} {
		u, err := st.Authenticate(ctx, tc.email, tc.password)
		if !errors.Is(err, tc.wantErr) || (err == nil && u.ID != ann.ID) {
			t.Errorf("Authenticate(%q, %q) got %v %v, want %v", tc.email, tc.password, u.ID, err, tc.wantErr)
		}
	}
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	if _, err := st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, "bob@example.com", goodPassword); !errors.Is(err, store.ErrBadCredentials) {
		t.Errorf("Authenticate a deactivated user: got %v, want ErrBadCredentials", err)
	}
}

func TestCreateFirstAdminOnce(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = st.CreateFirstAdmin(context.Background(), store.NewUser{
				Email: "admin" + string(rune('a'+i)) + "@example.com", Name: "Admin", Password: goodPassword})
		})
	}
	wg.Wait()
	ok, done := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrSetupDone):
			done++
		default:
			t.Errorf("concurrent setup: got %v, want nil or ErrSetupDone", err)
		}
	}
	if ok != 1 || done != 3 {
		t.Errorf("four setups at once: got %d created and %d refused, want 1 and 3", ok, done)
	}
	users, _ := st.ListUsers(context.Background())
	if len(users) != 1 || users[0].Role != store.RoleAdmin {
		t.Errorf("users after setup: got %+v, want one admin", users)
	}
}

func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	expires := time.Now().Add(time.Hour)
	var sids []uuid.UUID
	for range 3 {
		sid, err := st.StartSession(ctx, ann.ID, expires)
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}
	bobSID, _ := st.StartSession(ctx, bob.ID, expires)
	expired, _ := st.StartSession(ctx, bob.ID, time.Now().Add(-time.Second))
	if _, err := st.SessionUser(ctx, expired); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: got %v, want ErrNotFound", err)
	}

	if err := st.SetPassword(ctx, ann.ID, "a brand new passphrase", sids[0]); err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]bool{sids[0]: true, sids[1]: false, sids[2]: false, bobSID: true}
	for sid, alive := range want {
		_, err := st.SessionUser(ctx, sid)
		if (err == nil) != alive {
			t.Errorf("session %s after ann's password change: got err %v, want alive %v", sid, err, alive)
		}
	}
	if _, err := st.Authenticate(ctx, "ann@example.com", goodPassword); !errors.Is(err, store.ErrBadCredentials) {
		t.Errorf("old password after the change: got %v, want ErrBadCredentials", err)
	}
	if _, err := st.Authenticate(ctx, "ann@example.com", "a brand new passphrase"); err != nil {
		t.Errorf("new password: got %v, want it accepted", err)
	}
	if err := st.SetPassword(ctx, ann.ID, "password123", uuid.Nil); err == nil {
		t.Errorf("SetPassword to a common password: got no error, want a validation error")
	}

	if err := st.EndSession(ctx, sids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionUser(ctx, sids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after EndSession: got %v, want ErrNotFound", err)
	}
	if _, err := st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionUser(ctx, bobSID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of a deactivated user: got %v, want ErrNotFound", err)
	}
}

func TestLastAdminStays(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	if _, err := st.SetUserActive(ctx, ann.ID, false); !errors.Is(err, store.ErrLastAdmin) {
		t.Errorf("deactivate the only admin: got %v, want ErrLastAdmin", err)
	}
	cy := mustUser(t, st, "cy@example.com", store.RoleAdmin)
	if _, err := st.SetUserActive(ctx, ann.ID, false); err != nil {
		t.Errorf("deactivate one of two admins: got %v, want nil", err)
	}
	if _, err := st.SetUserActive(ctx, cy.ID, false); !errors.Is(err, store.ErrLastAdmin) {
		t.Errorf("deactivate the last active admin: got %v, want ErrLastAdmin", err)
	}
	if _, err := st.SetUserActive(ctx, uuid.New(), true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("activate an unknown user: got %v, want ErrNotFound", err)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	tok, secret, err := st.CreateAPIToken(ctx, ann.ID, "  nightly import ")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "nightly import" || !strings.HasPrefix(secret, store.TokenPrefix) || len(secret) != len(store.TokenPrefix)+43 {
		t.Errorf("token got name %q secret %q, want the trimmed name and crm_ + 43 characters", tok.Name, secret)
	}
	var stored int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM api_tokens WHERE position($1::bytea in token_hash) > 0", []byte(secret)).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the secret in api_tokens: got %d rows (%v), want only its hash stored", stored, err)
	}
	if _, _, err := st.CreateAPIToken(ctx, ann.ID, "nightly import"); err == nil {
		t.Errorf("second token with one name: got no error, want a validation error")
	}
	if _, _, err := st.CreateAPIToken(ctx, bob.ID, "nightly import"); err != nil {
		t.Errorf("another user's token of the same name: got %v, want it made", err)
	}
	if _, _, err := st.CreateAPIToken(ctx, ann.ID, strings.Repeat("n", 101)); err == nil {
		t.Errorf("token name of 101 characters: got no error, want a validation error")
	}

	tu, err := st.TokenUser(ctx, secret)
	if err != nil || tu.User.ID != ann.ID || tu.Token.ID != tok.ID {
		t.Fatalf("TokenUser got %+v, %v; want ann's token", tu, err)
	}
	list, _ := st.ListAPITokens(ctx, ann.ID)
	if len(list) != 1 || list[0].LastUsedAt == nil {
		t.Fatalf("ann's tokens after a use: got %+v, want one with a last-used time", list)
	}
	// The use is recorded at most once a minute.
	first := *list[0].LastUsedAt
	if _, err := st.TokenUser(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if list, _ = st.ListAPITokens(ctx, ann.ID); !list[0].LastUsedAt.Equal(first) {
		t.Errorf("last use after a second use within the minute: got %v, want %v kept", list[0].LastUsedAt, first)
	}
	if _, err := pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenUser(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if list, _ = st.ListAPITokens(ctx, ann.ID); time.Since(*list[0].LastUsedAt) > 30*time.Second {
		t.Errorf("last use after a use two minutes on: got %v, want about now", list[0].LastUsedAt)
	}
	for _, bad := range []string{"", "crm_", secret + "x", "Bearer " + secret, strings.TrimPrefix(secret, store.TokenPrefix)} {
		if _, err := st.TokenUser(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TokenUser(%q) got %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := st.RevokeAPIToken(ctx, bob.ID, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob revoking ann's token: got %v, want ErrNotFound", err)
	}
	if _, err := st.RevokeAPIToken(ctx, ann.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenUser(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token: got %v, want ErrNotFound", err)
	}

	_, secret2, _ := st.CreateAPIToken(ctx, bob.ID, "script")
	if _, err := st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenUser(ctx, secret2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a deactivated user: got %v, want ErrNotFound", err)
	}
}
