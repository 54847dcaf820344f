//go:build faults

// The fault and scale-out tests run the real crm binary as separate processes
// against real PostgreSQL and Redis servers, and break those on purpose: they
// stop and start a private Redis or PostgreSQL (on a free port, started by the
// test, never the shared ones) or kill a worker. The only fake is the model's
// API, an OpenAI-compatible httptest server. They take a few minutes, so they
// have their own target: make test-faults (CI runs it).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// crmBinary builds the crm binary once per test run.
func crmBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "crm-faults-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "crm")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// unavailable fails the test under REQUIRE_TEST_DB=1 (CI) and skips it
// otherwise, as storetest does for the shared servers.
func unavailable(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("REQUIRE_TEST_DB") == "1" {
		t.Fatalf("%s is required (REQUIRE_TEST_DB=1) but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable, skipping: %v", what, err)
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it returns nil or timeout passes, then fails with
// cond's last error. It waits for a condition; it never times anything.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- processes ---

// logBuffer collects a process's output, line by line.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	b.mu.Unlock()
}

func (b *logBuffer) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines)
}

// proc is a crm process started by a test.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, once done is closed
	// base is http://LISTEN_ADDR for serve, http://METRICS_ADDR for a worker.
	base string
	// metrics is http://METRICS_ADDR when the process has one.
	metrics string
}

// crmEnv is the environment every crm process of a test starts from.
func crmEnv(dbURL, redisURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":   dbURL,
		"REDIS_URL":      redisURL,
		"LOG_FORMAT":     "json",
		"LOG_LEVEL":      "debug",
		"SHUTDOWN_GRACE": "15s",
	}
}

// startCRM starts `crm <command>` with env (plus PATH and HOME) in an empty
// directory, so no .env is read. serve gets a free LISTEN_ADDR; both get a
// free METRICS_ADDR. It is stopped when the test ends.
func startCRM(t *testing.T, name, command string, env map[string]string) *proc {
	t.Helper()
	bin := crmBinary(t)
	env = cloneEnv(env)
	p := &proc{t: t, name: name, logs: &logBuffer{}, done: make(chan struct{})}
	if command == "serve" && env["LISTEN_ADDR"] == "" {
		env["LISTEN_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	// Metrics are scraped from METRICS_ADDR (the public listener's /metrics
	// wants a metrics token).
	if (command == "worker" || command == "serve") && env["METRICS_ADDR"] == "" {
		env["METRICS_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	if a := env["LISTEN_ADDR"]; a != "" && command == "serve" {
		p.base = "http://" + a
	}
	if a := env["METRICS_ADDR"]; a != "" {
		p.metrics = "http://" + a
		if p.base == "" {
			p.base = p.metrics
		}
	}
	cmd := exec.Command(bin, command)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// The process dies with the test binary, whatever happens to the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.cmd = cmd
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			lines := p.logs.all()
			t.Logf("last log lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return p
}

func cloneEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits until GET path answers 200 (path "/readyz?check=postgres" for
// a server that should not wait for a worker).
func (p *proc) waitReady(path string) {
	p.t.Helper()
	waitFor(p.t, 60*time.Second, p.name+" ready", func() error {
		if p.exited() {
			p.t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		}
		res, err := http.Get(p.base + path)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
		return nil
	})
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

// logEntries returns the process's JSON log lines, decoded.
func (p *proc) logEntries() []map[string]any {
	var out []map[string]any
	for _, line := range p.logs.all() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logsWith returns the log entries whose msg is msg.
func (p *proc) logsWith(msg string) []map[string]any {
	var out []map[string]any
	for _, e := range p.logEntries() {
		if e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// metric returns the sum of the samples of name whose labels include labels,
// read from the process's /metrics.
func (p *proc) metric(name string, labels map[string]string) float64 {
	p.t.Helper()
	base := p.metrics
	if base == "" {
		base = p.base
	}
	v, err := scrape(base+"/metrics", name, labels)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return v
}

// scrape reads one metric from a Prometheus text endpoint: the sum of the
// samples of name whose labels include labels.
func scrape(url, name string, labels map[string]string) (float64, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(lbls, k+`="`+v+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

// --- HTTP ---

// client talks to crm servers as one API client or browser. Token, when set,
// is sent as a bearer token (it names the chat conversation).
type client struct {
	t     *testing.T
	http  *http.Client
	token string
}

func newClient(t *testing.T, token string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, token: token, http: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		// A redirect (to sign-in, say) is an answer to check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// faultsUser is the account the tests' API clients belong to.
const faultsUser = "faults@example.com"

// faultsPassword is the password of faultsUser.
const faultsPassword = "correct horse battery staple"

// faultsAccount returns the tests' account in the database at dbURL, made on
// first use.
func faultsAccount(t *testing.T, st *store.Store) store.User {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUserByEmail(ctx, faultsUser)
	if errors.Is(err, store.ErrNotFound) {
		u, err = st.CreateUser(ctx, store.NewUser{Email: faultsUser, Name: "Faults", Password: faultsPassword, Role: store.RoleMember})
	}
	if err != nil {
		t.Fatalf("account for the tests: %v", err)
	}
	return u
}

// browserClient returns a client that signed in through base's sign-in form,
// as a browser does: it holds a session cookie and no token.
func browserClient(t *testing.T, dbURL, base string) *client {
	t.Helper()
	pool, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open %s: %v", dbURL, err)
	}
	faultsAccount(t, store.New(pool))
	pool.Close()
	c := newClient(t, "")
	form := url.Values{"email": {faultsUser}, "password": {faultsPassword}}
	res, err := c.http.PostForm(base+"/signin", form)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in through %s: got %d, want 303", base, res.StatusCode)
	}
	return c
}

// apiClient returns a client with an API token of its own (so a chat
// conversation of its own) for an account in the database at dbURL, made
// there as `crm user add` and `crm token create` would.
func apiClient(t *testing.T, dbURL, name string) *client {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open %s: %v", dbURL, err)
	}
	defer pool.Close()
	st := store.New(pool)
	u := faultsAccount(t, st)
	_, secret, err := st.CreateAPIToken(ctx, u.ID, name)
	if err != nil {
		t.Fatalf("API token %s: %v", name, err)
	}
	return newClient(t, secret)
}

// adminClient is a client with an admin's API token (the queue dashboard is
// for admins).
func adminClient(t *testing.T, dbURL string) *client {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open %s: %v", dbURL, err)
	}
	defer pool.Close()
	st := store.New(pool)
	u, err := st.CreateUser(ctx, store.NewUser{Email: "faults-admin@example.com", Name: "Faults Admin", Password: faultsPassword, Role: store.RoleAdmin})
	if err != nil {
		t.Fatalf("admin account for the tests: %v", err)
	}
	_, secret, err := st.CreateAPIToken(ctx, u.ID, "admin")
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return newClient(t, secret)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// try sends a request and returns the answer or the transport error.
func (c *client) try(method, url, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}, err
}

// do sends a request and fails the test on a transport error.
func (c *client) do(method, url, body string) reply {
	c.t.Helper()
	r, err := c.try(method, url, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// htmx sends a request as htmx does (HX-Request), with form values when
// form is not nil, and returns the answer.
func (c *client) htmx(method, url string, form url.Values) reply {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("HX-Request", "true")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// expect sends a request and fails unless the answer has status want.
func (c *client) expect(want int, method, url, body string) reply {
	c.t.Helper()
	r := c.do(method, url, body)
	if r.status != want {
		c.t.Fatalf("%s %s: got %d %s, want %d", method, url, r.status, r.body, want)
	}
	return r
}

// createLead creates a lead through the API and returns its id.
func (c *client) createLead(base, body string) string {
	c.t.Helper()
	return c.expect(201, "POST", base+"/leads/", body).json(c.t)["id"].(string)
}

// sendChat posts a chat message and returns its task id.
func (c *client) sendChat(base, message string) string {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"message": message})
	return c.expect(202, "POST", base+"/chat/", string(b)).json(c.t)["task_id"].(string)
}

// chatState returns a chat task's state and its error message, if any.
func (c *client) chatState(base, taskID string) (state, errMsg string, res map[string]any) {
	c.t.Helper()
	m := c.expect(200, "GET", base+"/chat/status/"+taskID+"/", "").json(c.t)
	if e, ok := m["error"].(string); ok {
		errMsg = e
	}
	r, _ := m["result"].(map[string]any)
	return m["state"].(string), errMsg, r
}

// waitChat waits until a chat task is finished and returns its state and error.
func (c *client) waitChat(base, taskID string, timeout time.Duration) (state, errMsg string, res map[string]any) {
	c.t.Helper()
	waitFor(c.t, timeout, "chat task "+taskID+" finished", func() error {
		state, errMsg, res = c.chatState(base, taskID)
		if state == "SUCCESS" || state == "FAILURE" {
			return nil
		}
		return fmt.Errorf("state %s", state)
	})
	return state, errMsg, res
}

// board returns the leads of the board through GET /leads/, by stage in
// order.
func (c *client) board(base string) map[string][]map[string]any {
	c.t.Helper()
	r := c.expect(200, "GET", base+"/leads/", "")
	var b map[string][]map[string]any
	if err := json.Unmarshal(r.body, &b); err != nil {
		c.t.Fatalf("GET /leads/: %v", err)
	}
	return b
}

// checkColumns fails unless every column's card_order is exactly 0..n-1, and
// returns the number of leads and the names on the board.
func checkColumns(t *testing.T, b map[string][]map[string]any) (int, []string) {
	t.Helper()
	n := 0
	var names []string
	for stage, leads := range b {
		for i, l := range leads {
			if got := int(l["card_order"].(float64)); got != i {
				t.Errorf("column %s: card_order %d at position %d, want %d", stage, got, i, i)
			}
			names = append(names, l["name"].(string))
		}
		n += len(leads)
	}
	slices.Sort(names)
	return n, names
}

// countName returns how many leads on the board are named name.
func countName(names []string, name string) int {
	n := 0
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

// --- a private Redis ---

// redisServer is a redis-server of the test's own, on a free port, without
// persistence: stopping it loses the queue, as a crashed Redis without AOF does.
type redisServer struct {
	t    *testing.T
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a Redis with the extra options given (--replicaof ...).
func startRedis(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server", err)
	}
	r := &redisServer{t: t, port: freePort(t)}
	// --dir: a replica writes the master's snapshot to disk during sync; keep it out
	// of the source tree.
	r.args = append([]string{bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir()}, extra...)
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

// URL is the redis:// URL of database db.
func (r *redisServer) URL(db int) string {
	return fmt.Sprintf("redis://127.0.0.1:%d/%d", r.port, db)
}

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.args[0], r.args[1:]...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis: %v", err)
	}
	done := make(chan struct{})
	r.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(r.cmd)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer rdb.Close()
	waitFor(r.t, 20*time.Second, "private redis up", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	})
}

// stop kills Redis (SIGKILL: no goodbye, no save) and waits for it to be gone.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// --- a private PostgreSQL ---

// pgServer is a PostgreSQL cluster of the test's own: initdb into a temporary
// directory, postgres on a free port. As root it runs as the postgres user,
// since PostgreSQL refuses to run as root.
type pgServer struct {
	t    *testing.T
	dir  string
	port int
	bin  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{}
}

// pgBinDir finds the directory of initdb and postgres.
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(p, "--bindir").Output(); err == nil {
			dir := strings.TrimSpace(string(out))
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Sort(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found (install postgresql)")
}

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		unavailable(t, "PostgreSQL server binaries", err)
	}
	p := &pgServer{t: t, bin: bin, port: freePort(t)}
	p.dir, err = os.MkdirTemp("", "crm-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(p.dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "a postgres user to run PostgreSQL as (it refuses root)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(p.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(p.dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	t.Cleanup(func() { p.stop() })
	conn := p.connect("postgres")
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE crm"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return p
}

// URL is the postgres:// URL of database name.
func (p *pgServer) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}

func (p *pgServer) connect(name string) *pgx.Conn {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL(name))
	if err != nil {
		p.t.Fatalf("connect to private postgres: %v", err)
	}
	return conn
}

// start runs postgres on the cluster and waits until it takes connections.
func (p *pgServer) start() {
	p.t.Helper()
	p.cmd = exec.Command(filepath.Join(p.bin, "postgres"), "-D", filepath.Join(p.dir, "data"),
		"-p", strconv.Itoa(p.port), "-k", p.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=100")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &out, &out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start postgres: %v", err)
	}
	done := make(chan struct{})
	p.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(p.cmd)
	waitFor(p.t, 30*time.Second, "private postgres up", func() error {
		select {
		case <-done:
			p.t.Fatalf("postgres exited:\n%s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// stop shuts PostgreSQL down the way a restart does ("fast": sessions are
// ended, transactions in flight roll back) and waits until it is gone.
func (p *pgServer) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// --- the fake model ---

// fakeLLM is an OpenAI-compatible chat completions server. Its handler decides
// each answer; it counts the calls.
type fakeLLM struct {
	srv    *http.Server
	url    string
	mu     sync.Mutex
	calls  int
	answer func(w http.ResponseWriter, r *http.Request, req chatRequest)
}

// chatRequest is the part of a chat completions request the fake reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// lastUser returns the last message the person wrote.
func (r chatRequest) lastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// afterTool says whether the model is being shown a tool's result.
func (r chatRequest) afterTool() bool {
	return len(r.Messages) > 0 && r.Messages[len(r.Messages)-1].Role == "tool"
}

func startFakeLLM(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, req chatRequest)) *fakeLLM {
	t.Helper()
	f := &fakeLLM{answer: answer}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"fake-model","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
		f.answer(w, r, req)
	})
	f.srv = &http.Server{Handler: mux}
	go f.srv.Serve(ln)
	f.url = "http://" + ln.Addr().String() + "/v1"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.srv.Shutdown(ctx)
		f.srv.Close()
	})
	return f
}

func (f *fakeLLM) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// llmEnv is the environment that points the assistant at the fake.
func (f *fakeLLM) env() map[string]string {
	return map[string]string{"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f.url, "OPENAI_MODEL": "fake-model"}
}

// writeCompletion answers with an assistant message: text, or tool calls.
func writeCompletion(w http.ResponseWriter, text string, toolCalls []map[string]any, promptTokens, completionTokens int) {
	msg := map[string]any{"role": "assistant", "content": text}
	finish := "stop"
	if len(toolCalls) > 0 {
		msg["tool_calls"] = toolCalls
		finish = "tool_calls"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": "fake-model",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens},
	})
}

// toolCall is one function call of the model, with its arguments as sent.
func toolCall(id, name, arguments string) map[string]any {
	return map[string]any{"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": arguments}}
}

// createLeadModel answers like a model asked to add a lead named name: it
// calls create_lead, then says it did.
func createLeadModel(name string) func(w http.ResponseWriter, r *http.Request, req chatRequest) {
	return func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		if req.afterTool() {
			writeCompletion(w, "Added "+name+".", nil, 120, 8)
			return
		}
		args, _ := json.Marshal(map[string]string{"name": name, "company": "Faults Inc"})
		writeCompletion(w, "", []map[string]any{toolCall("call_1", "create_lead", string(args))}, 100, 12)
	}
}
