package rollout

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/redact"
	"k8s.io/utils/clock"
)

// HookRequest is what a hook is told, and the JSON body a webhook receives.
type HookRequest struct {
	Rollout  string                `json:"rollout"`
	Hook     string                `json:"hook"`
	Phase    progressive.HookPhase `json:"phase,omitempty"`
	Target   progressive.Target    `json:"target"`
	Release  progressive.Release   `json:"release"`
	Step     int                   `json:"step"`
	Reason   string                `json:"reason,omitempty"`
	Metadata map[string]string     `json:"metadata,omitempty"`
	Time     time.Time             `json:"time"`
}

// Hook is a Go hook: smoke tests, a migration Job, a notification. An error stops
// the rollout (and rolls back) unless the hook runs on rollback. Errors wrapping
// progressive.ErrTransient are retried up to the spec's Retries.
type Hook interface {
	Run(ctx context.Context, req HookRequest) error
}

// HookFunc adapts a function to Hook.
type HookFunc func(ctx context.Context, req HookRequest) error

// Run implements Hook.
func (f HookFunc) Run(ctx context.Context, req HookRequest) error { return f(ctx, req) }

// SignatureHeader carries the HMAC-SHA256 of the webhook body, as "sha256=<hex>".
const SignatureHeader = "X-Progressive-Signature"

// Sign returns the SignatureHeader value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is the signature of body under secret, in
// constant time. Webhook receivers call it before trusting a payload.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Webhook POSTs the HookRequest as JSON to a URL, signed with HMAC-SHA256 when a
// secret is set. A 2xx answer passes; 4xx fails at once (the receiver refused);
// 5xx, 429 and network errors are retried with a doubling backoff.
//
// A redirect (any 3xx) fails at once with progressive.ErrInvalid and is never
// followed: a POST followed as a GET to an SSO login page would be answered 200 by
// the login page, and the hook would pass without its receiver ever seeing it.
// Errors name the URL by scheme and host only (redact.WebhookURL): user info, query
// and path are left out, since a webhook's path is often its secret.
type Webhook struct {
	URL     string
	Secret  []byte
	Client  *http.Client
	Timeout time.Duration
	Retries int
	// Backoff before the first retry; doubles each time, up to MaxWait. Each wait
	// is jittered (a random length between half and all of it), so that many
	// rollouts retrying one failed receiver do not retry in lockstep. Default 1s.
	Backoff time.Duration
	// MaxWait caps one wait between attempts: the doubling backoff stops there,
	// and a Retry-After (429, 503) longer than MaxWait is not waited for: the hook
	// fails at once with progressive.ErrTransient, saying how long the receiver
	// asked for. A Retry-After within MaxWait is waited for in full, plus a little
	// jitter. Default 30s (DefaultWebhookMaxWait).
	MaxWait time.Duration
	Clock   clock.Clock
}

// Defaults of Webhook.
const (
	DefaultWebhookBackoff = time.Second
	DefaultWebhookMaxWait = 30 * time.Second
)

// NewWebhook builds the webhook of a spec with the runner's client, secret and clock.
func NewWebhook(spec progressive.HookSpec, secret []byte, client *http.Client, clk clock.Clock) *Webhook {
	retries := spec.Retries
	switch {
	case retries == 0:
		retries = progressive.DefaultHookRetries
	case retries < 0:
		retries = 0
	}
	return &Webhook{URL: spec.URL, Secret: secret, Client: client, Timeout: orDuration(spec.Timeout, progressive.DefaultHookTimeout), Retries: retries, Clock: clk}
}

// Run implements Hook.
func (w *Webhook) Run(ctx context.Context, req HookRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("webhook %s: encode payload: %w", req.Hook, err)
	}
	client := noRedirects(w.Client)
	clk := w.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	backoff := orDuration(w.Backoff, DefaultWebhookBackoff)
	maxWait := orDuration(w.MaxWait, DefaultWebhookMaxWait)
	var last error
	var retryAfter time.Duration
	for attempt := 0; attempt <= w.Retries; attempt++ {
		if attempt > 0 {
			wait := jitter(min(backoff, maxWait))
			if retryAfter > 0 {
				// The receiver said when; a little jitter still spreads the
				// rollouts it told the same thing.
				wait = min(retryAfter+rand.N(min(backoff, maxWait)/2+1), maxWait)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook %s: %w (last error: %v)", req.Hook, ctx.Err(), last)
			case <-clk.After(wait):
			}
			backoff = min(backoff*2, maxWait)
		}
		retryAfter, last = w.post(ctx, client, clk, req.Hook, body)
		if last == nil || !progressive.IsTransient(last) {
			return last
		}
		if retryAfter > maxWait {
			return fmt.Errorf("webhook %s: the receiver asks to wait %s before retrying, more than the %s allowed (MaxWait); not waiting: %w", req.Hook, retryAfter, maxWait, last)
		}
	}
	return fmt.Errorf("webhook %s: gave up after %d attempt(s): %w", req.Hook, w.Retries+1, last)
}

// jitter returns a random duration between d/2 and d: retries of many clients
// that failed together spread out instead of hitting the receiver together again.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Zero when there
// is none or it does not parse. Absurd values are clamped rather than overflowing
// into a negative wait.
func retryAfter(h http.Header, now time.Time) time.Duration {
	const most = 24 * time.Hour
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, int64(most/time.Second)))*time.Second, most)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), most)
	}
	return 0
}

// maxHookAnswer bounds what is read of a receiver's answer: the start of an error
// message is all a webhook needs, and an endless answer must not hold memory or the
// rollout.
const maxHookAnswer = 512

// noRedirects returns a copy of client (http.DefaultClient when nil) that hands
// redirects back instead of following them. The copy keeps the caller's client
// unchanged: it is shared with other hooks and, often, the whole program.
func noRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// post makes one attempt. The duration is the Retry-After of a 429 or 503 answer.
func (w *Webhook) post(ctx context.Context, client *http.Client, clk clock.Clock, name string, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, orDuration(w.Timeout, progressive.DefaultHookTimeout))
	defer cancel()
	where := redact.WebhookURL(w.URL)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook %s: %s: %w: %w", name, where, progressive.ErrInvalid, redactErr(err))
	}
	hr.Header.Set("Content-Type", "application/json")
	if len(w.Secret) > 0 {
		hr.Header.Set(SignatureHeader, Sign(w.Secret, body))
	}
	resp, err := client.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("webhook %s: %s: %w: %w", name, where, progressive.ErrTransient, redactErr(err))
	}
	defer resp.Body.Close()
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// The status is the receiver's verdict; the body is not read, so a
		// receiver that trickles or never ends it cannot hold the rollout.
		return 0, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		target := "nowhere (no Location)"
		if loc, err := resp.Location(); err == nil {
			target = redact.WebhookURL(loc.String())
		}
		return 0, fmt.Errorf("webhook %s: %s answered %s, a redirect to %s; redirects are not followed, the receiver itself must answer (check the URL, or an SSO proxy in front of the receiver): %w",
			name, where, status, target, progressive.ErrInvalid)
	}
	// The message is read only to say why; a failed or cut read leaves it short.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxHookAnswer))
	msg := redactText(strings.TrimSpace(string(data)), w.URL)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return retryAfter(resp.Header, clk.Now()),
			fmt.Errorf("webhook %s: %s answered %s: %s: %w", name, where, status, msg, progressive.ErrTransient)
	}
	return 0, fmt.Errorf("webhook %s: %s refused with %s: %s", name, where, status, msg)
}

// redactURL names a webhook URL in messages: scheme and host only.
func redactURL(raw string) string { return redact.WebhookURL(raw) }

// redactErr keeps the error's kind but drops the URL from its text: the caller
// names the URL, redacted, already.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// redactText removes the parts of raw (path, query, user info) that a receiver
// may have echoed in its answer.
func redactText(s, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return s
	}
	var secrets []string
	if u.User != nil {
		secrets = append(secrets, u.User.String())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	if u.Path != "" && u.Path != "/" {
		secrets = append(secrets, u.EscapedPath(), u.Path)
	}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, redact.Marker)
		}
	}
	return s
}
