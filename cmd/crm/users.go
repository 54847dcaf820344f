package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/term"

	"github.com/crmteam/crm/store"
)

// Account commands from the shell:
//
//	crm user add --email E --name N [--admin]   password from stdin, or prompted
//	crm user passwd --email E                   the same; ends the user's sessions
//	crm user list
//	crm token create --email E --name N [--scope metrics]   prints the token once
//
// They apply pending migrations first, so a fresh database can get its first
// admin before the server ever starts.

const accountsUsage = `Usage:
  crm user add --email E --name N [--admin]
                          add an account (a member, or an admin with --admin); the
                          password is read from standard input, or prompted for
  crm user passwd --email E
                          set a new password (read the same way); ends the
                          account's browser sessions
  crm user list           list the accounts
  crm token create --email E --name N [--scope metrics]
                          make a personal API token for the account and print it
                          (shown this once; only its hash is stored); a metrics
                          token only reads /metrics (for Prometheus)
`

// runAccounts runs "crm user ..." and "crm token ...".
func runAccounts(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, accountsUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, accountsUsage) }
	email := fs.String("email", "", "the account's email")
	name := fs.String("name", "", "user add: the person's name; token create: the token's name")
	admin := fs.Bool("admin", false, "user add: make the account an admin")
	scope := fs.String("scope", store.ScopeAPI, "token create: api (acts for the account) or metrics (only reads /metrics)")
	switch cmd + " " + sub {
	case "user add", "user passwd", "user list", "token create":
	default:
		fmt.Fprint(stderr, accountsUsage)
		return fmt.Errorf("unknown command %q", cmd+" "+sub)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s %s: unexpected argument %q", cmd, sub, fs.Arg(0))
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, stderr)
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, log); err != nil {
		return err
	}
	st := store.New(pool)
	in := bufio.NewReader(stdin)

	switch cmd + " " + sub {
	case "user add":
		password, err := readPassword(in, stdin, stderr, "Password for "+*email+": ")
		if err != nil {
			return err
		}
		role := store.RoleMember
		if *admin {
			role = store.RoleAdmin
		}
		u, err := st.CreateUser(ctx, store.NewUser{Email: *email, Name: *name, Password: password, Role: role})
		if err != nil {
			return fieldsError(err)
		}
		log.Info("user added", "user_id", u.ID, "role", u.Role, "by", "command line")
		fmt.Fprintf(stdout, "added %s %s <%s>\n", u.Role, u.Name, u.Email)
		return nil
	case "user passwd":
		u, err := userByEmail(ctx, st, *email)
		if err != nil {
			return err
		}
		password, err := readPassword(in, stdin, stderr, "New password for "+u.Email+": ")
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, u.ID, password, uuid.Nil); err != nil {
			return fieldsError(err)
		}
		log.Info("password set", "user_id", u.ID, "by", "command line")
		fmt.Fprintf(stdout, "password of %s changed; their browser sessions are ended\n", u.Email)
		return nil
	case "user list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if !u.Active {
				state = "deactivated"
			}
			fmt.Fprintf(stdout, "%-30s %-24s %-7s %s\n", u.Email, u.Name, u.Role, state)
		}
		return nil
	default: // token create
		u, err := userByEmail(ctx, st, *email)
		if err != nil {
			return err
		}
		tok, secret, err := st.CreateScopedAPIToken(ctx, u.ID, *name, *scope)
		if err != nil {
			return fieldsError(err)
		}
		log.Info("api token created", "token_id", tok.ID, "token_name", tok.Name, "scope", tok.Scope, "user_id", u.ID, "by", "command line")
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "token %q for %s: shown this once; send it as Authorization: Bearer <token>\n", tok.Name, u.Email)
		return nil
	}
}

func userByEmail(ctx context.Context, st *store.Store, email string) (store.User, error) {
	if strings.TrimSpace(email) == "" {
		return store.User{}, errors.New("--email is required")
	}
	u, err := st.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("no account has the email %q", email)
	}
	return u, err
}

// fieldsError turns a validation error into one line per field, named as the
// flags are.
func fieldsError(err error) error {
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var b strings.Builder
	for _, k := range []string{"email", "name", "password", "role"} {
		if msg, ok := ve.Fields[k]; ok {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s %s", k, msg)
		}
	}
	if b.Len() == 0 {
		return err
	}
	return errors.New(b.String())
}

// readPassword reads a password: prompted without echo when standard input is
// a terminal (twice, to catch a typo), else the first line of standard input.
func readPassword(in *bufio.Reader, stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(again) {
			return "", errors.New("the two passwords differ")
		}
		return string(first), nil
	}
	line, err := in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
