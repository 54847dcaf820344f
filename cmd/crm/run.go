package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/joho/godotenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `crm - a self-hosted sales-pipeline CRM

Usage:
  crm serve               serve the board, the JSON API and the assistant on LISTEN_ADDR;
                          also runs the background-job worker unless WORKER=false.
                          Applies pending migrations first.
  crm worker              run the background-job worker alone (start as many as you like)
  crm migrate             apply pending database migrations and exit
  crm seed-demo [-if-empty]
                          add a dozen realistic demo leads (-if-empty: only into an
                          empty database)
  crm user add --email E --name N [--admin]
                          add an account; the password is read from standard input
                          or prompted for (crm user help: every account command)
  crm user passwd --email E
                          set an account's password; ends its browser sessions
  crm user list           list the accounts
  crm token create --email E --name N [--scope metrics]
                          make a personal API token and print it (shown once)
  crm import --from-postgres URL [--map-status "OLD=STAGE"]... [--owner E] [--as E] [--apply]
                          bring the leads of the original backend's database
                          over; a dry run unless --apply (crm import help)
  crm version             print the version
  crm help [command]      show this help

Configuration comes from environment variables; a .env file in the working
directory is read first when present (variables set in the environment win, even
when set empty):
`

// run is the whole program: it reads the configuration and wires every part.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "help"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help", "-help":
		printUsage(stdout)
		return nil
	case "version":
		fmt.Fprintln(stdout, "crm", version)
		return nil
	case "serve", "worker", "migrate", "seed-demo":
	case "user", "token":
		return runAccounts(ctx, cmd, args, getenv, stdin, stdout, stderr)
	case "import":
		return runImport(ctx, args, getenv, stdout, stderr)
	default:
		printUsage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}

	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ifEmpty := fs.Bool("if-empty", false, "seed-demo: only seed an empty database")
	fs.Usage = func() { printUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	// The Go runtime read GOMEMLIMIT from the process's environment before
	// main; this applies it from .env too, and the default when unset.
	debug.SetMemoryLimit(cfg.MemoryLimit)
	log := newLogger(cfg, stderr)
	redis.SetLogger(redisLogger{log})
	log.Info("starting", append([]any{"command", cmd, "version", version}, cfg.logAttrs()...)...)

	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := store.New(pool)
	reg, metrics := newMetrics(pool)

	switch cmd {
	case "migrate":
		return store.Migrate(ctx, pool, log)
	case "seed-demo":
		return seedDemo(ctx, st, *ifEmpty, stdout)
	case "worker":
		return worker(ctx, cfg, log, st, reg, metrics)
	default:
		return serve(ctx, cfg, log, pool, st, reg, metrics)
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, cv := range configVars {
		def := cv.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "  %-16s %s\n  %-16s default: %s\n", cv.name, cv.help, "", def)
	}
}

// withDotEnv is the program's getenv: a variable set in the environment wins,
// even when it is set empty (OPENAI_API_KEY= crm serve runs the offline
// assistant whatever .env says); otherwise .env's value when the file is
// present in the working directory.
func withDotEnv(lookup func(string) (string, bool)) func(string) string {
	env, _ := godotenv.Read(".env")
	return func(k string) string {
		if v, ok := lookup(k); ok {
			return v
		}
		return env[k]
	}
}

// newLogger returns the logger; each line logged with a request's or a job's
// context carries its request_id or job_id.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(handlers.NewContextLogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(handlers.NewContextLogHandler(slog.NewTextHandler(w, opts)))
}

func seedDemo(ctx context.Context, st *store.Store, ifEmpty bool, stdout io.Writer) error {
	if ifEmpty {
		n, err := st.CountLeads(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stdout, "database has %d leads; demo leads not added\n", n)
			return nil
		}
	}
	n, err := st.SeedDemo(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %d demo leads\n", n)
	return nil
}

// serve runs the HTTP server (and the worker unless cfg.Worker is false) until ctx
// ends, then drains in-flight requests within cfg.ShutdownGrace.
func serve(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, st *store.Store, reg *prometheus.Registry, metrics *handlers.Metrics) error {
	if err := store.Migrate(ctx, pool, log); err != nil {
		return err
	}
	rdb, err := newRedisClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	reg.MustRegister(handlers.NewQueueCollector(inspector))
	checks := []handlers.Check{
		{Name: "postgres", Ping: st.Ping},
		redisCheck(rdb),
		{Name: "worker", Ping: handlers.WorkerCheck(inspector), Optional: true},
	}
	if cfg.OpenAIKey != "" {
		checks = append(checks, llmCheck(cfg))
	}
	dashboard := handlers.NewQueueDashboard(cfg.Redis)
	defer dashboard.Close()

	sessions, stopSessions := newSessions(cfg, log, pool)
	defer stopSessions()
	queue := &handlers.Queue{Client: asynq.NewClientFromRedisClient(rdb), TurnTimeout: cfg.TurnTimeout}
	// The event hub reads the event stream for every GET /events/ of this
	// server; it also passes this process's writes on to the other servers.
	events := handlers.NewEventHub(st, rdb, log)
	if err := events.Start(ctx); err != nil {
		return err
	}
	defer events.Close()
	srv := &handlers.Server{
		Store:          st,
		Log:            log,
		Version:        version,
		Checks:         checks,
		Sessions:       sessions,
		Enqueuer:       queue,
		AssistantMode:  cfg.assistantMode(),
		Metrics:        metrics,
		OpsAllow:       cfg.MetricsAllow,
		QueueDashboard: dashboard,
		Security:       cfg.Security,
		Redis:          rdb,
		Events:         events,

		WebhookAllowPrivate: cfg.WebhookAllowPrivate,
	}
	httpSrv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for open requests; event streams and long polls end when
	// the hub closes, and their clients reconnect (to another server).
	httpSrv.RegisterOnShutdown(events.Close)
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "url", "http://"+displayAddr(ln.Addr()))
	stopOps, err := startOpsListener(ctx, cfg, log, srv)
	if err != nil {
		return err
	}

	errc := make(chan error, 2)
	go func() { errc <- httpSrv.Serve(ln) }()
	workerDone := make(chan error, 1)
	if cfg.Worker {
		go func() { workerDone <- runWorker(ctx, cfg, log, st, metrics) }()
	} else {
		close(workerDone)
	}

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := <-workerDone; err != nil {
		log.Warn("worker stopped", "err", err)
	}
	stopOps(shutCtx)
	log.Info("stopped")
	return nil
}

// newSessions returns the browser sessions, kept in PostgreSQL (the sessions
// table) for 24 hours, and a function that stops their cleanup.
func newSessions(cfg config, log *slog.Logger, pool *pgxpool.Pool) (*scs.SessionManager, func()) {
	pgStore := pgxstore.NewWithCleanupInterval(pool, 10*time.Minute)
	sm := scs.New()
	sm.Store = pgStore
	sm.Lifetime = 24 * time.Hour
	sm.Cookie.Name = "crm_session"
	sm.Cookie.Path = "/"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.CookieSecure
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.ErrorContext(r.Context(), "session", "request_id", handlers.RequestID(r.Context()), "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
	return sm, pgStore.StopCleanup
}

// newAssistant returns the assistant: the model behind OPENAI_API_KEY, or the
// built-in offline assistant when no key is set.
func newAssistant(cfg config, log *slog.Logger, st *store.Store, metrics *handlers.Metrics) *assistant.Assistant {
	var llm *assistant.LLM
	if cfg.OpenAIKey != "" {
		llm = assistant.NewLLM(assistant.LLMConfig{
			APIKey: cfg.OpenAIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.OpenAIModel, Timeout: cfg.OpenAITimeout,
			Observer: metrics,
		}, log)
	}
	return assistant.New(st, log, assistant.Config{LLM: llm, History: cfg.AssistantHistory})
}

// housekeepingInterval is how often the worker purges the trash of leads past
// their retention and forgets expired sessions.
const housekeepingInterval = time.Hour

// sweepInterval is how often the worker looks for chat replies and imports
// the queue lost.
const sweepInterval = 30 * time.Second

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || host == "::" || host == "0.0.0.0" || host == "" {
		return "localhost:" + port
	}
	return a.String()
}

// runWorker processes background jobs from Redis until ctx ends, then lets
// running jobs finish within cfg.ShutdownGrace.
func runWorker(ctx context.Context, cfg config, log *slog.Logger, st *store.Store, metrics *handlers.Metrics) error {
	w := asynq.NewServer(cfg.Redis, asynq.Config{
		Concurrency:     8,
		ShutdownTimeout: cfg.ShutdownGrace,
		// An idle worker looks for new jobs this often (asynq's default is a
		// second, which every chat reply waited for): 20 small Redis calls a
		// second per worker, for replies that start at once.
		TaskCheckInterval: 50 * time.Millisecond,
		LogLevel:          asynq.WarnLevel,
		Logger:            asynqLogger{log},
	})
	rdb, err := newRedisClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	tasks := &handlers.Tasks{
		Store:     st,
		Log:       log,
		Assistant: newAssistant(cfg, log, st, metrics),
		Enqueuer: &handlers.Queue{Client: asynq.NewClientFromRedisClient(rdb), TurnTimeout: cfg.TurnTimeout,
			Inspector: asynq.NewInspectorFromRedisClient(rdb)},
		TurnTimeout: cfg.TurnTimeout,
		Redis:       rdb,
	}
	mux := handlers.NewTaskMux(tasks)
	mux.Use(handlers.JobLogger(log), metrics.InstrumentJobs)
	if err := w.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker started", "assistant", cfg.assistantMode())
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		tasks.RunSweeper(sweepCtx, sweepInterval)
	}()
	// Housekeeping: the trash's purge after its 30 days, expired sessions.
	houseDone := make(chan struct{})
	go func() {
		defer close(houseDone)
		handlers.RunHousekeeping(sweepCtx, st, log, housekeepingInterval)
	}()
	// Webhooks: every worker dispatches; row locks share the work out.
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		(&handlers.WebhookDispatcher{Store: st, Log: log, AllowPrivate: cfg.WebhookAllowPrivate, Version: version}).Run(sweepCtx)
	}()
	<-ctx.Done()
	stopSweep()
	<-sweepDone
	<-houseDone
	<-hooksDone
	w.Shutdown()
	log.Info("worker stopped")
	return nil
}

// asynqLogger routes asynq's own logging into slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
