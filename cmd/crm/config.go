package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmteam/crm/handlers"
)

// config is the program's configuration, read once from the environment.
type config struct {
	DatabaseURL   string
	RedisURL      string
	ListenAddr    string
	LogLevel      slog.Level
	LogFormat     string
	Worker        bool
	ShutdownGrace time.Duration
	OpenAIKey     string
	OpenAIBaseURL string
	OpenAIModel   string
	OpenAITimeout time.Duration
	// AssistantHistory is how many earlier messages a turn sees.
	AssistantHistory int
	// TurnTimeout bounds one assistant turn.
	TurnTimeout  time.Duration
	CookieSecure bool
	// Redis is REDIS_URL parsed: a single Redis or a Sentinel-monitored master.
	Redis asynq.RedisConnOpt
	// MemoryLimit is the Go heap's soft limit in bytes (GOMEMLIMIT).
	MemoryLimit int64
	// MetricsAddr is an extra listener for /metrics, /healthz and /readyz (the
	// worker's only HTTP); empty: none.
	MetricsAddr string
	// MetricsAllow are the networks that may read /metrics on MetricsAddr
	// without a token.
	MetricsAllow []netip.Prefix
	// BaseURL is the app's public URL (BASE_URL); empty: not configured.
	BaseURL string
	// Security is accounts and protection: CORS, client addresses, rate limits.
	Security handlers.Security
	// WebhookAllowPrivate accepts webhook receivers on loopback and private addresses.
	WebhookAllowPrivate bool
}

// configVars lists every variable with its default, in the order the README has them.
var configVars = []struct{ name, def, help string }{
	{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm?sslmode=disable", "PostgreSQL connection URL"},
	{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL for the job queue"},
	{"LISTEN_ADDR", ":8080", "address the HTTP server listens on"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "text", "text or json"},
	{"WORKER", "true", "run the background-job worker inside serve"},
	{"SHUTDOWN_GRACE", "15s", "how long shutdown waits for in-flight requests and jobs"},
	// GOMEMLIMIT: a full board of 10,000 leads is about 3 MB of JSON and as much
	// again in leads; with several such requests at once the garbage collector's
	// default pacing (GOGC=100: collect when the heap doubles) let RSS reach
	// 176 MB. The soft limit makes it collect sooner as the heap nears 80 MiB; it
	// is not a cap, the heap may exceed it when that much is live.
	{"GOMEMLIMIT", "80MiB", "the Go heap's soft limit (Go's own syntax: 80MiB, 1GiB, off), from the environment or .env"},
	{"OPENAI_API_KEY", "", "API key of an OpenAI-compatible server; empty selects the built-in offline assistant"},
	{"OPENAI_BASE_URL", "", "base URL of an OpenAI-compatible server (empty: OpenAI's)"},
	{"OPENAI_MODEL", "gpt-4o-mini", "model name for the assistant"},
	{"OPENAI_TIMEOUT", "30s", "time limit of each call to the model (429 and 5xx are retried 3 times)"},
	{"ASSISTANT_HISTORY", "20", "earlier chat messages the assistant sees in each turn"},
	{"ASSISTANT_TURN_TIMEOUT", "2m", "time limit of one assistant turn; past it the reply fails and nothing changes"},
	{"COOKIE_SECURE", "false", "older name of SECURE_COOKIES, read when SECURE_COOKIES is auto"},
	{"METRICS_ADDR", "", "extra listener for /metrics, /healthz and /readyz, e.g. :9090 (a worker's only HTTP)"},
	{"METRICS_ALLOW_CIDRS", "127.0.0.0/8,::1/128", "networks that may read /metrics on METRICS_ADDR without a token"},
	{"BASE_URL", "", "the app's public URL, e.g. https://crm.example.com; https:// turns on Secure cookies and HSTS"},
	{"SECURE_COOKIES", "auto", "mark the session cookie Secure: true, false, or auto (true when BASE_URL is https://)"},
	{"ALLOWED_ORIGINS", "", "comma-separated origins (https://app.example.com) allowed to call the app from a browser with CORS; empty: CORS off"},
	{"CLIENT_IP_HEADER", "", "header your reverse proxy sets to the client's address (X-Real-IP), for rate limits and logs; empty: the connection's address"},
	{"RATE_LIMIT_SIGNIN", "5/15m", "sign-in attempts at one account from one client address (N/duration, or off)"},
	{"RATE_LIMIT_SIGNIN_ADDRESS", "20/10m", "sign-in attempts from one client address, whatever the account"},
	{"RATE_LIMIT_CHAT", "20/1m", "chat messages of one user"},
	{"RATE_LIMIT_API", "600/1m", "requests with one API token"},
	{"WEBHOOK_ALLOW_PRIVATE", "false", "accept webhook receivers on loopback, private and link-local addresses (tests, single-host setups)"},
}

// loadConfig reads the configuration through getenv and validates it. The error
// names every variable that is wrong and why.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, cv := range configVars {
			if cv.name == name {
				return cv.def
			}
		}
		return ""
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	c := config{
		DatabaseURL:   get("DATABASE_URL"),
		RedisURL:      get("REDIS_URL"),
		ListenAddr:    get("LISTEN_ADDR"),
		LogFormat:     strings.ToLower(get("LOG_FORMAT")),
		OpenAIKey:     get("OPENAI_API_KEY"),
		OpenAIBaseURL: get("OPENAI_BASE_URL"),
		OpenAIModel:   get("OPENAI_MODEL"),
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL (postgres://user:password@host:5432/db; a key=value string is not accepted), got %s", redactURL(c.DatabaseURL))
	}
	if opt, err := parseRedisURL(c.RedisURL); err != nil {
		bad("REDIS_URL", "must be a redis://, rediss:// or redis-sentinel:// URL (%v), got %s", err, redactURL(c.RedisURL))
	} else {
		c.Redis = opt
	}
	if !strings.Contains(c.ListenAddr, ":") {
		bad("LISTEN_ADDR", "must be host:port or :port, got %q", c.ListenAddr)
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", get("LOG_LEVEL"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	w, err := strconv.ParseBool(get("WORKER"))
	if err != nil {
		bad("WORKER", "must be true or false, got %q", get("WORKER"))
	}
	c.Worker = w
	grace, err := time.ParseDuration(get("SHUTDOWN_GRACE"))
	if err != nil || grace <= 0 {
		bad("SHUTDOWN_GRACE", "must be a positive duration such as 15s, got %q", get("SHUTDOWN_GRACE"))
	}
	c.ShutdownGrace = grace
	if n, err := parseMemoryLimit(get("GOMEMLIMIT")); err != nil {
		bad("GOMEMLIMIT", "must be a size such as 80MiB or 1GiB, or off, got %q", get("GOMEMLIMIT"))
	} else {
		c.MemoryLimit = n
	}
	if c.OpenAIBaseURL != "" {
		if u, err := url.Parse(c.OpenAIBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("OPENAI_BASE_URL", "must be an http(s) URL, got %s", redactURL(c.OpenAIBaseURL))
		}
	}
	if d, err := time.ParseDuration(get("OPENAI_TIMEOUT")); err != nil || d <= 0 {
		bad("OPENAI_TIMEOUT", "must be a positive duration such as 30s, got %q", get("OPENAI_TIMEOUT"))
	} else {
		c.OpenAITimeout = d
	}
	if n, err := strconv.Atoi(get("ASSISTANT_HISTORY")); err != nil || n < 1 || n > 200 {
		bad("ASSISTANT_HISTORY", "must be a number of messages from 1 to 200, got %q", get("ASSISTANT_HISTORY"))
	} else {
		c.AssistantHistory = n
	}
	if d, err := time.ParseDuration(get("ASSISTANT_TURN_TIMEOUT")); err != nil || d < time.Second {
		bad("ASSISTANT_TURN_TIMEOUT", "must be a duration of at least 1s such as 2m, got %q", get("ASSISTANT_TURN_TIMEOUT"))
	} else {
		c.TurnTimeout = d
	}
	if _, err := strconv.ParseBool(get("COOKIE_SECURE")); err != nil {
		bad("COOKIE_SECURE", "must be true or false, got %q", get("COOKIE_SECURE"))
	}
	loadSecurity(&c, get, bad)
	if b, err := strconv.ParseBool(get("WEBHOOK_ALLOW_PRIVATE")); err != nil {
		bad("WEBHOOK_ALLOW_PRIVATE", "must be true or false, got %q", get("WEBHOOK_ALLOW_PRIVATE"))
	} else {
		c.WebhookAllowPrivate = b
	}
	c.MetricsAddr = get("METRICS_ADDR")
	if c.MetricsAddr != "" && !strings.Contains(c.MetricsAddr, ":") {
		bad("METRICS_ADDR", "must be host:port or :port, got %q", c.MetricsAddr)
	}
	for cidr := range strings.SplitSeq(get("METRICS_ALLOW_CIDRS"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			bad("METRICS_ALLOW_CIDRS", "must be comma-separated networks such as 10.0.0.0/8, got %q", cidr)
			continue
		}
		c.MetricsAllow = append(c.MetricsAllow, p.Masked())
	}
	return c, errors.Join(errs...)
}

// assistantMode says which assistant answers chat messages.
func (c config) assistantMode() string {
	if c.OpenAIKey != "" {
		return "llm"
	}
	return "offline"
}

// logAttrs returns the effective configuration for the start-up log, secrets hidden.
func (c config) logAttrs() []any {
	key := ""
	if c.OpenAIKey != "" {
		key = "set (hidden)"
	}
	return append([]any{
		"database_url", redactURL(c.DatabaseURL),
		"redis_url", redactURL(c.RedisURL),
		"listen_addr", c.ListenAddr,
		"log_level", c.LogLevel.String(),
		"log_format", c.LogFormat,
		"worker", c.Worker,
		"shutdown_grace", c.ShutdownGrace.String(),
		"gomemlimit", memoryLimitText(c.MemoryLimit),
		"openai_api_key", key,
		"openai_base_url", redactURL(c.OpenAIBaseURL),
		"openai_model", c.OpenAIModel,
		"openai_timeout", c.OpenAITimeout.String(),
		"assistant", c.assistantMode(),
		"assistant_history", c.AssistantHistory,
		"assistant_turn_timeout", c.TurnTimeout.String(),
		"metrics_addr", c.MetricsAddr,
		"metrics_allow_cidrs", fmt.Sprint(c.MetricsAllow),
		"webhook_allow_private", c.WebhookAllowPrivate,
	}, c.securityAttrs()...)
}

// redactURL is how a URL from the configuration is shown in logs and errors:
// its user's password and any query parameter that looks like a secret
// (password, sentinel_password, api-key, token, …) hidden. A value that is not
// a URL with a scheme (a key=value connection string, a typo) is not shown at
// all, since there is no telling where a password sits in it.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || strings.ContainsAny(s, " \t\r\n") {
		return "(not shown: not a URL)"
	}
	if q := u.Query(); len(q) > 0 {
		changed := false
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// secretParam says whether a URL query parameter may hold a secret.
func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"pass", "pwd", "secret", "key", "token", "auth", "sig", "cred"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// parseMemoryLimit reads GOMEMLIMIT as the Go runtime does: a number of bytes
// with an optional unit (B, KiB, MiB, GiB, TiB), or "off".
func parseMemoryLimit(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[s[len(num):]]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad memory limit %q", s)
	}
	return n * mult, nil
}

// memoryLimitText shows a memory limit for the log.
func memoryLimitText(n int64) string {
	switch {
	case n == math.MaxInt64:
		return "off"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
