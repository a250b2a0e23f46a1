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
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentops/progressive"
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
type Webhook struct {
	URL     string
	Secret  []byte
	Client  *http.Client
	Timeout time.Duration
	Retries int
	// Backoff before the first retry; doubles each time. Default 1s.
	Backoff time.Duration
	Clock   clock.Clock
}

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
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	clk := w.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	backoff := orDuration(w.Backoff, time.Second)
	var last error
	for attempt := 0; attempt <= w.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook %s: %w (last error: %v)", req.Hook, ctx.Err(), last)
			case <-clk.After(backoff):
			}
			backoff *= 2
		}
		last = w.post(ctx, client, req.Hook, body)
		if last == nil || !progressive.IsTransient(last) {
			return last
		}
	}
	return fmt.Errorf("webhook %s: gave up after %d attempt(s): %w", req.Hook, w.Retries+1, last)
}

func (w *Webhook) post(ctx context.Context, client *http.Client, name string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, orDuration(w.Timeout, progressive.DefaultHookTimeout))
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w: %w", name, progressive.ErrInvalid, redactErr(err, w.URL))
	}
	hr.Header.Set("Content-Type", "application/json")
	if len(w.Secret) > 0 {
		hr.Header.Set(SignatureHeader, Sign(w.Secret, body))
	}
	resp, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("webhook %s: %w: %w", name, progressive.ErrTransient, redactErr(err, w.URL))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook %s: %s answered %d: %s: %w", name, redactURL(w.URL), resp.StatusCode, strings.TrimSpace(string(msg)), progressive.ErrTransient)
	default:
		return fmt.Errorf("webhook %s: %s refused with %d: %s", name, redactURL(w.URL), resp.StatusCode, strings.TrimSpace(string(msg)))
	}
}

// redactURL drops credentials and the query string, which often carry tokens.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable url>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}

// redactErr keeps the error's kind but replaces the URL in its text.
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(raw), ue.Err)
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, redactURL(raw)))
}
