package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crmteam/crm/store"
)

// The webhook dispatcher: PostgreSQL is its only source of truth (the outbox
// is the event stream, see store/webhooks.go), so it needs neither Redis nor
// asynq: every worker process runs one, each polls, and row locks share the
// work out. A dispatcher, in a loop:
//  1. numbers the committed events (store.SequenceEvents: a worker that
//     serves no event stream must do it itself),
//  2. fans the new events out into deliveries (one dispatcher at a time),
//  3. leases the due deliveries (SKIP LOCKED, one per lead and subscription
//     at a time, so a lead's events arrive in order) and sends them,
//  4. records each attempt: delivered, retried later with exponential backoff
//     and jitter, or given up after RetryFor.
// A dispatcher killed mid-delivery leaves its lease to run out; another (or
// the same, restarted) sends the delivery again with the same webhook-id: at
// least once.

// Dispatcher defaults.
const (
	DefaultWebhookPoll        = time.Second
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookRetryBase   = 10 * time.Second
	DefaultWebhookRetryMax    = 6 * time.Hour
	DefaultWebhookRetryFor    = 72 * time.Hour
	DefaultWebhookDisableRuns = 10
)

// WebhookDispatcher sends the webhook deliveries. Zero fields take the defaults above.
type WebhookDispatcher struct {
	Store *store.Store
	Log   *slog.Logger
	// AllowPrivate lets receivers on loopback and private addresses be called
	// (WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Poll is how often an idle dispatcher looks for work.
	Poll time.Duration
	// Timeout bounds one attempt, connection to last byte read.
	Timeout time.Duration
	// RetryBase is the wait after the first failed attempt; it doubles with
	// each failure up to RetryMax, and each wait is drawn at random between
	// half and all of it. After RetryFor of failures the delivery is given up.
	RetryBase, RetryMax, RetryFor time.Duration
	// A subscription is turned off when every attempt failed for DisableAfter
	// (default RetryFor), at least DisableAfterFailures in a row.
	DisableAfter         time.Duration
	DisableAfterFailures int
	// Lease is how long a claimed delivery is this dispatcher's (default
	// well past Timeout, so a live dispatcher never loses one mid-send); a
	// dispatcher that died leaves it to others when it runs out.
	Lease time.Duration
	// Concurrency is how many deliveries are sent at once.
	Concurrency int
	// Version goes into the User-Agent.
	Version string

	once   sync.Once
	client *http.Client
}

func (d *WebhookDispatcher) init() {
	d.once.Do(func() {
		def := func(v *time.Duration, x time.Duration) {
			if *v <= 0 {
				*v = x
			}
		}
		def(&d.Poll, DefaultWebhookPoll)
		def(&d.Timeout, DefaultWebhookTimeout)
		def(&d.RetryBase, DefaultWebhookRetryBase)
		def(&d.RetryMax, DefaultWebhookRetryMax)
		def(&d.RetryFor, DefaultWebhookRetryFor)
		def(&d.DisableAfter, d.RetryFor)
		def(&d.Lease, 3*d.Timeout+5*time.Second)
		if d.DisableAfterFailures <= 0 {
			d.DisableAfterFailures = DefaultWebhookDisableRuns
		}
		if d.Concurrency <= 0 {
			d.Concurrency = 8
		}
		d.client = newWebhookClient(d.AllowPrivate, d.Timeout)
	})
}

// Run dispatches until ctx ends. Attempts under way when it ends are cut off
// and their deliveries wait for their lease to run out.
func (d *WebhookDispatcher) Run(ctx context.Context) {
	d.init()
	var purged time.Time
	for {
		// The log keeps finished deliveries for store.WebhookLogRetention.
		if time.Since(purged) >= time.Hour {
			purged = time.Now()
			if n, err := d.Store.PurgeWebhookDeliveries(ctx, purged.Add(-store.WebhookLogRetention)); err != nil && ctx.Err() == nil {
				d.Log.Warn("webhook log purge", "err", err)
			} else if n > 0 {
				d.Log.Info("webhook log purged", "deliveries", n)
			}
		}
		busy, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.Warn("webhook dispatch", "err", err)
		}
		if busy && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.Poll):
		}
	}
}

// RunOnce does one round of the loop and says whether it found work.
func (d *WebhookDispatcher) RunOnce(ctx context.Context) (bool, error) {
	d.init()
	if _, err := d.Store.SequenceEvents(ctx); err != nil {
		return false, err
	}
	queued, err := d.Store.QueueWebhookDeliveries(ctx, 500)
	if err != nil {
		return false, err
	}
	sends, err := d.Store.ClaimWebhookDeliveries(ctx, d.Concurrency, d.Lease)
	if err != nil {
		return false, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sends))
	for i, send := range sends {
		wg.Go(func() { errs[i] = d.deliver(ctx, send) })
	}
	wg.Wait()
	return queued > 0 || len(sends) > 0, errors.Join(errs...)
}

// deliver makes one attempt at send and records it.
func (d *WebhookDispatcher) deliver(ctx context.Context, send store.WebhookSend) error {
	start := time.Now()
	a := d.attempt(ctx, send, start)
	if ctx.Err() != nil {
		return nil // stopped mid-send: the lease runs out and it is sent again
	}
	a.At, a.DurationMS = start.UTC(), int(time.Since(start).Milliseconds())
	ok := a.StatusCode != nil && *a.StatusCode >= 200 && *a.StatusCode < 300
	o := store.WebhookOutcome{Attempt: a, Delivered: ok, DisableAfter: d.DisableAfter, DisableAfterFailures: d.DisableAfterFailures}
	if !ok {
		o.RetryIn = d.backoff(send.Attempts + 1)
		o.GiveUp = time.Since(send.FirstAttemptAt)+o.RetryIn > d.RetryFor
	}
	disabled, err := d.Store.RecordWebhookAttempt(context.WithoutCancel(ctx), send, o)
	if err != nil {
		return err
	}
	if !ok {
		d.Log.Info("webhook attempt failed", "webhook_id", send.WebhookID, "delivery_id", send.DeliveryID,
			"attempt", send.Attempts+1, "status", a.StatusCode, "err", a.Error, "given_up", o.GiveUp)
	}
	if disabled {
		d.Log.Warn("webhook turned off after failing", "webhook_id", send.WebhookID)
	}
	return nil
}

// backoff is the wait after the nth failed attempt: RetryBase doubled n-1
// times, at most RetryMax, drawn between half and all of it (jitter, so
// receivers coming back are not hit by every sender at once).
func (d *WebhookDispatcher) backoff(n int) time.Duration {
	wait := d.RetryMax
	if n-1 < 40 {
		wait = min(d.RetryBase<<(n-1), d.RetryMax)
	}
	if wait <= 0 {
		wait = d.RetryMax
	}
	return wait/2 + rand.N(wait/2+1)
}

// attempt sends send once and returns what happened (At and DurationMS unset).
func (d *WebhookDispatcher) attempt(ctx context.Context, send store.WebhookSend, now time.Time) store.WebhookAttempt {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	sig, err := SignWebhook(send.Secret, send.MessageID, now, send.Payload)
	if err != nil {
		return store.WebhookAttempt{Error: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, send.URL, bytes.NewReader(send.Payload))
	if err != nil {
		return store.WebhookAttempt{Error: "bad URL: " + err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "crm-webhooks/"+d.Version)
	h.Set("webhook-id", send.MessageID)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	res, err := d.client.Do(req)
	if err != nil {
		return store.WebhookAttempt{Error: attemptError(err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, store.MaxWebhookResponseLog))
	// Read (a bounded amount of) the rest so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	code := res.StatusCode
	a := store.WebhookAttempt{StatusCode: &code, Response: string(body)}
	if err != nil {
		a.Error = "reading the answer: " + attemptError(err)
	}
	if code >= 300 && code < 400 {
		a.Error = "redirect to " + res.Header.Get("Location") + " not followed"
	}
	return a
}

// attemptError is a transport error as the log shows it, without Go's
// wrapping of the method and URL.
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// SignWebhook returns the webhook-signature header of a message, as the
// Standard Webhooks specification defines it: "v1," and the base64 HMAC-SHA256,
// keyed with the secret's bytes (base64 after "whsec_"), of "id.timestamp.body".
func SignWebhook(secret, msgID string, at time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, store.WebhookSecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", msgID, at.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// newWebhookClient returns the HTTP client of attempts: no proxy (the checked
// address must be the one connected to), every connection's address checked
// after name resolution (so a name that resolves to a public address when
// subscribed and to a private one later is still refused), redirects not
// followed, and time bounded.
func newWebhookClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("refused: %q is not an IP address", host)
			}
			if why := blockedAddr(ip); why != "" {
				return fmt.Errorf("refused: %s is %s (set WEBHOOK_ALLOW_PRIVATE=true to allow)", ip, why)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 64 << 10,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// blockedRanges are the networks besides those netip classifies that a
// receiver may not be on.
var blockedRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a 'this network' address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (CGNAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (it reaches IPv4 addresses)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a NAT64 address (it reaches IPv4 addresses)"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address (it reaches IPv4 addresses)"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

// blockedAddr says why a receiver may not be at ip, or "" when it may.
func blockedAddr(ip netip.Addr) string {
	switch {
	case ip.Is4In6():
		return "an IPv4-mapped IPv6 address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.what
		}
	}
	return ""
}

// CheckWebhookURL says whether a subscription's receiver may be called: its
// host must resolve, and to no blocked address (unless allowPrivate). The
// dispatcher checks again at every connection.
func CheckWebhookURL(ctx context.Context, rawURL string, allowPrivate bool) string {
	if allowPrivate {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "is not a URL"
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := blockedAddr(ip); why != "" {
			return "is refused: " + ip.String() + " is " + why + " (receivers must be on the public internet)"
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return "names a host that does not resolve: " + host
	}
	for _, ip := range addrs {
		if why := blockedAddr(ip); why != "" {
			return "is refused: " + host + " resolves to " + ip.String() + ", " + why + " (receivers must be on the public internet)"
		}
	}
	return ""
}
