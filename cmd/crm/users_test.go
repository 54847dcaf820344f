package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// runCmd runs the program with args against the database at dbURL, stdin as
// standard input, and returns what it printed.
func runCmd(t *testing.T, dbURL, stdin string, args ...string) (string, string, error) {
	t.Helper()
	env := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn"}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestUserAndTokenCommands(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	const pw = "correct horse battery staple"

	out, _, err := runCmd(t, dbURL, pw+"\n", "user", "add", "--email", "ann@example.com", "--name", "Ann Lee", "--admin")
	if err != nil || out != "added admin Ann Lee <ann@example.com>\n" {
		t.Fatalf("user add: got %q, %v; want the admin added", out, err)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		wantErr     string
	}{
		{"used email", pw, []string{"user", "add", "--email", "ANN@example.com", "--name", "Other"}, "email is already used"},
		{"common password", "password123", []string{"user", "add", "--email", "bob@example.com", "--name", "Bob"}, "password is one of the most common"},
		{"short password", "short", []string{"user", "add", "--email", "bob@example.com", "--name", "Bob"}, "password must be at least 10"},
		{"no password", "", []string{"user", "add", "--email", "bob@example.com", "--name", "Bob"}, "no password on standard input"},
		{"no name", pw, []string{"user", "add", "--email", "bob@example.com"}, "name is required"},
		{"passwd of nobody", pw, []string{"user", "passwd", "--email", "nobody@example.com"}, "no account has the email"},
		{"token for nobody", "", []string{"token", "create", "--email", "nobody@example.com", "--name", "x"}, "no account has the email"},
		{"token without a name", "", []string{"token", "create", "--email", "ann@example.com"}, "name is required"},
		{"unknown subcommand", "", []string{"user", "delete", "--email", "ann@example.com"}, `unknown command "user delete"`},
	} {
		if _, _, err := runCmd(t, dbURL, tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}

	pool, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	ann, err := st.Authenticate(context.Background(), "ann@example.com", pw)
	if err != nil || ann.Role != store.RoleAdmin {
		t.Fatalf("sign in as the added admin: got %+v, %v; want an admin", ann, err)
	}
	if n, _ := st.CountUsers(context.Background()); n != 1 {
		t.Errorf("accounts after the refused adds: got %d, want 1", n)
	}

	// A new password ends the account's sessions.
	sid, _ := st.StartSession(context.Background(), ann.ID, time.Now().Add(time.Hour))
	if _, _, err := runCmd(t, dbURL, "a new long passphrase\n", "user", "passwd", "--email", "ann@example.com"); err != nil {
		t.Fatalf("user passwd: %v", err)
	}
	if _, err := st.Authenticate(context.Background(), "ann@example.com", "a new long passphrase"); err != nil {
		t.Errorf("sign in with the new password: got %v, want it accepted", err)
	}
	if _, err := st.SessionUser(context.Background(), sid); err == nil {
		t.Errorf("session after user passwd: got it alive, want it ended")
	}

	out, errOut, err := runCmd(t, dbURL, "", "token", "create", "--email", "ann@example.com", "--name", "ci")
	secret := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(secret, store.TokenPrefix) || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("token create: got %q / %q, %v; want the token on stdout and a note on stderr", out, errOut, err)
	}
	if tu, err := st.TokenUser(context.Background(), secret); err != nil || tu.User.ID != ann.ID || tu.Token.Name != "ci" {
		t.Errorf("the printed token: got %+v, %v; want Ann's token ci", tu, err)
	}

	out, _, err = runCmd(t, dbURL, "", "user", "list")
	if err != nil || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "admin") {
		t.Errorf("user list: got %q, %v; want Ann as an admin", out, err)
	}
	if out, _, err := runCmd(t, dbURL, "", "user"); err != nil || !strings.Contains(out, "crm user add") {
		t.Errorf("user without a subcommand: got %q, %v; want the usage", out, err)
	}
}

func TestSecurityConfig(t *testing.T) {
	t.Parallel()
	get := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }
	c, err := loadConfig(get(map[string]string{"BASE_URL": "https://crm.example.com", "ALLOWED_ORIGINS": "https://app.example.com, http://localhost:5173",
		"RATE_LIMIT_API": "off", "RATE_LIMIT_CHAT": "5/30s"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.CookieSecure || !c.Security.HTTPS || len(c.Security.AllowedOrigins) != 2 || c.Security.Limits.APIPerToken.N != -1 ||
		c.Security.Limits.ChatPerUser.N != 5 || c.Security.Limits.ChatPerUser.Per != 30*time.Second {
		t.Errorf("config got secure %v, https %v, origins %v, limits %+v; want secure cookies over https, two origins, API off, chat 5/30s",
			c.CookieSecure, c.Security.HTTPS, c.Security.AllowedOrigins, c.Security.Limits)
	}
	plain, err := loadConfig(get(map[string]string{}))
	if err != nil || plain.CookieSecure || plain.Security.HTTPS || len(plain.Security.AllowedOrigins) != 0 {
		t.Errorf("defaults got secure %v, https %v, origins %v (%v); want plain cookies, CORS off", plain.CookieSecure, plain.Security.HTTPS, plain.Security.AllowedOrigins, err)
	}
	if forced, _ := loadConfig(get(map[string]string{"SECURE_COOKIES": "true"})); !forced.CookieSecure {
		t.Errorf("SECURE_COOKIES=true: got plain cookies, want Secure")
	}
	_, err = loadConfig(get(map[string]string{"BASE_URL": "crm.example.com", "ALLOWED_ORIGINS": "https://app.example.com/path",
		"RATE_LIMIT_SIGNIN": "lots", "SECURE_COOKIES": "sometimes"}))
	for _, name := range []string{"BASE_URL", "ALLOWED_ORIGINS", "RATE_LIMIT_SIGNIN", "SECURE_COOKIES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s: got %v, want an error naming it", name, err)
		}
	}
}
