package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmteam/crm/handlers"
)

// loadSecurity reads the variables of accounts and protection (BASE_URL,
// SECURE_COOKIES, ALLOWED_ORIGINS, CLIENT_IP_HEADER, RATE_LIMIT_*) into c.
func loadSecurity(c *config, get func(string) string, bad func(name, format string, args ...any)) {
	c.BaseURL = strings.TrimRight(get("BASE_URL"), "/")
	https := false
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("BASE_URL", "must be the app's URL such as https://crm.example.com, got %q", c.BaseURL)
		}
		https = err == nil && u.Scheme == "https"
	}
	secure := get("SECURE_COOKIES")
	if secure == "auto" && get("COOKIE_SECURE") != "false" {
		secure = get("COOKIE_SECURE") // the older name, when set
	}
	switch b, err := strconv.ParseBool(secure); {
	case secure == "auto":
		c.CookieSecure = https
	case err != nil:
		bad("SECURE_COOKIES", "must be true, false or auto, got %q", secure)
	default:
		c.CookieSecure = b
	}
	c.Security.HTTPS = https
	// The Host names the server answers for: BASE_URL's, or the machine's own
	// names when it is unset (a local install, the tests).
	if u, err := url.Parse(c.BaseURL); c.BaseURL != "" && err == nil && u.Hostname() != "" {
		c.Security.Hosts = []string{u.Hostname()}
	} else {
		c.Security.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	for o := range strings.SplitSeq(get("ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			bad("ALLOWED_ORIGINS", "must be comma-separated origins such as https://app.example.com (no path), got %q", o)
			continue
		}
		c.Security.AllowedOrigins = append(c.Security.AllowedOrigins, o)
	}
	c.Security.ClientIPHeader = get("CLIENT_IP_HEADER")
	for _, l := range []struct {
		name string
		rate *handlers.Rate
	}{
		{"RATE_LIMIT_SIGNIN", &c.Security.Limits.SignInPerAccount},
		{"RATE_LIMIT_SIGNIN_ADDRESS", &c.Security.Limits.SignInPerAddress},
		{"RATE_LIMIT_CHAT", &c.Security.Limits.ChatPerUser},
		{"RATE_LIMIT_API", &c.Security.Limits.APIPerToken},
	} {
		r, err := parseRate(get(l.name))
		if err != nil {
			bad(l.name, "must be N/duration such as 20/1m, or off, got %q", get(l.name))
			continue
		}
		*l.rate = r
	}
}

// parseRate reads "N/duration" ("20/1m") or "off".
func parseRate(s string) (handlers.Rate, error) {
	if strings.EqualFold(s, "off") {
		return handlers.Rate{N: -1}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 {
		return handlers.Rate{}, fmt.Errorf("bad rate %q", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return handlers.Rate{}, fmt.Errorf("bad rate %q", s)
	}
	return handlers.Rate{N: count, Per: d}, nil
}

// securityAttrs is the security configuration for the start-up log.
func (c config) securityAttrs() []any {
	rate := func(r handlers.Rate) string {
		if r.N < 0 {
			return "off"
		}
		return fmt.Sprintf("%d/%s", r.N, r.Per)
	}
	l := c.Security.Limits
	return []any{
		"base_url", c.BaseURL,
		"hosts", strings.Join(c.Security.Hosts, ","),
		"secure_cookies", c.CookieSecure,
		"allowed_origins", strings.Join(c.Security.AllowedOrigins, ","),
		"client_ip_header", c.Security.ClientIPHeader,
		"rate_limit_signin", rate(l.SignInPerAccount),
		"rate_limit_signin_address", rate(l.SignInPerAddress),
		"rate_limit_chat", rate(l.ChatPerUser),
		"rate_limit_api", rate(l.APIPerToken),
	}
}
