// Package flaghttp is the small HTTP layer the flag-store adapters share: JSON
// requests to a management API, errors classified with the SDK's sentinels, retries
// of transient failures on an injected clock, and secrets kept out of every error and
// log line.
//
// Classification of an answer:
//
//	2xx            success, when its body decodes as what the caller expects (a
//	               write's answer is the written object: an empty or undecodable
//	               body is progressive.ErrTransient, never a confirmed write); with
//	               nothing expected, an empty or JSON body (never an HTML page)
//	3xx            progressive.ErrInvalid: never followed (a PATCH followed as a
//	               GET would decode the unchanged object, or a login page, as a
//	               successful write); the error names the status and the target
//	400, 405, 422  progressive.ErrInvalid (the request is wrong; retrying fails alike)
//	401, 403       ErrAuth and progressive.ErrInvalid: a clear error, never retried
//	404            progressive.ErrNotFound
//	409            progressive.ErrConflict
//	429            progressive.ErrTransient, retried after Retry-After
//	5xx, no answer progressive.ErrTransient, retried with a doubling backoff
//	over MaxBody   progressive.ErrTransient, read no further than the limit
//
// Waits between attempts are jittered, so that many rollouts that failed against
// one backend together do not retry together: the doubling backoff waits a random
// length between half and all of it (never more than MaxWait), a Retry-After is
// waited for in full plus up to half of Backoff, and a Retry-After longer than
// MaxWait is not waited for at all.
//
// Retries belong to an operation, not to a request (Client.Do): the adapter's
// operation reads the current state, computes its one write and sends it, so a
// retry after an ambiguous failure recomputes from fresh state instead of replaying
// a write that may have landed. After the last attempt the error wraps
// progressive.ErrTransient, so a rollout holds or rolls back; it never half-applies a
// change, because each change is one request.
package flaghttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/redact"
	"k8s.io/utils/clock"
)

// Defaults of Options.
const (
	DefaultAttempts = 4
	DefaultBackoff  = 250 * time.Millisecond
	DefaultMaxWait  = 30 * time.Second
	DefaultTimeout  = 30 * time.Second
	DefaultMaxBody  = 8 << 20
)

// UserAgent starts the User-Agent of every request.
const UserAgent = "progressive-flags"

// ErrAuth is flags.ErrAuth, where users of the adapters find it (this package
// is internal).
var ErrAuth = flags.ErrAuth

// Options configure a Client. Zero values select the documented defaults.
type Options struct {
	// Provider names the service in messages ("launchdarkly").
	Provider string
	// HTTPClient sends the requests. Default: a client with a 30s timeout.
	HTTPClient *http.Client
	// Clock times the waits between attempts. Default clock.RealClock{}.
	Clock clock.Clock
	// Attempts per operation while it fails transiently. Default 4.
	Attempts int
	// Backoff is the first wait after a 5xx or a network failure; it doubles per
	// attempt, up to MaxWait, and each wait is jittered (between half and all of
	// it). Default 250ms.
	Backoff time.Duration
	// MaxWait caps one wait: the doubling backoff stops growing there, and a
	// Retry-After (or X-Ratelimit-Reset) longer than MaxWait is not waited for:
	// the operation fails at once with progressive.ErrTransient, and the caller
	// (a rollout that holds) decides. Default 30s.
	MaxWait time.Duration
	// MaxBody bounds what is read of one answer. A longer answer is an error
	// wrapping progressive.ErrTransient that names the limit: an endless answer
	// must not hold memory or the rollout. Default 8 MiB (DefaultMaxBody).
	MaxBody int64
	// Secrets never appear in errors or logs: any occurrence is redacted.
	Secrets []string
	// Logger receives one debug line per request (method, path, status, attempt;
	// never headers or bodies); give it the provider's attributes. Default: discard.
	Logger *slog.Logger
}

// Client sends JSON requests and classifies the answers.
type Client struct {
	o Options
}

// New returns a client with the defaults filled in.
func New(o Options) *Client {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	// A copy, so the caller's client (often shared) keeps following redirects
	// for whatever else it does; this one hands them back to be refused.
	hc := *o.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &hc
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Provider == "" {
		o.Provider = "flag store"
	}
	var secrets []string
	for _, s := range o.Secrets {
		if len(s) >= 4 {
			secrets = append(secrets, s)
		}
	}
	o.Secrets = secrets
	return &Client{o: o}
}

// Request is one call.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Body is sent as JSON; a []byte is sent as is. Nil sends no body.
	Body any
}

// Error is a failed call.
type Error struct {
	Provider string
	Method   string
	// Path is the URL path (never the query or the host's credentials).
	Path string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Message is what the server said (redacted and shortened), or the network error.
	Message string
	// RetryAfter is the wait the server asked for (429, 503), zero when it said none.
	RetryAfter time.Duration
	kind       error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: ", e.Provider, e.Method, e.Path)
	if e.Status == 0 {
		b.WriteString("no answer")
	} else {
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if hint := hint(e.Status); hint != "" {
		b.WriteString(" (" + hint + ")")
	}
	return b.String()
}

// Unwrap exposes the classification: progressive.ErrInvalid, ErrNotFound,
// ErrConflict or ErrTransient, and ErrAuth for 401 and 403.
func (e *Error) Unwrap() []error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return []error{ErrAuth, e.kind}
	}
	return []error{e.kind}
}

func hint(status int) string {
	if status >= 300 && status < 400 {
		return "redirects are refused, never followed: the API itself must answer; check the base URL, or a proxy or SSO in front of it"
	}
	switch status {
	case http.StatusUnauthorized:
		return "the API token was rejected: check it; not retried"
	case http.StatusForbidden:
		return "the API token lacks a permission for this change: not retried"
	case http.StatusTooManyRequests:
		return "rate limited"
	}
	return ""
}

func classify(status int) error {
	switch {
	case status == http.StatusNotFound:
		return progressive.ErrNotFound
	case status == http.StatusConflict:
		return progressive.ErrConflict
	case status == http.StatusTooManyRequests, status >= 500, status == 0, status == http.StatusRequestTimeout:
		return progressive.ErrTransient
	default:
		return progressive.ErrInvalid
	}
}

// Redact replaces every secret in s.
func (c *Client) Redact(s string) string {
	for _, secret := range c.o.Secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// Send makes one attempt and decodes a successful answer's JSON into out (which
// may be nil). With out set, the answer must be JSON: an empty or undecodable 2xx
// body is an *Error wrapping progressive.ErrTransient, never a success. A redirect
// is not followed and is an *Error wrapping progressive.ErrInvalid. A failure is
// an *Error.
func (c *Client) Send(ctx context.Context, req Request, out any) error {
	// The path only: the query and user info may hold credentials, and an
	// unparseable URL is not quoted at all.
	path := redact.Unparseable
	if u, err := url.Parse(req.URL); err == nil {
		path = u.Path
	}
	if path == "" {
		path = "/"
	}
	fail := func(status int, msg string) *Error {
		return &Error{Provider: c.o.Provider, Method: req.Method, Path: c.Redact(path), Status: status, Message: c.Redact(msg), kind: classify(status)}
	}
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("%s: encode %s %s: %v: %w", c.o.Provider, req.Method, path, err, progressive.ErrInvalid)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		// A *url.Error quotes the whole URL; its cause does not.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %s %s: %s: %w", c.o.Provider, req.Method, c.Redact(path), c.Redact(err.Error()), progressive.ErrInvalid)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if hr.Header.Get("Accept") == "" {
		hr.Header.Set("Accept", "application/json")
	}
	if hr.Header.Get("User-Agent") == "" {
		hr.Header.Set("User-Agent", UserAgent+" ("+c.o.Provider+")")
	}
	start := c.o.Clock.Now()
	resp, err := c.o.HTTPClient.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %s %s: %w", c.o.Provider, req.Method, c.Redact(path), ctx.Err())
		}
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		c.o.Logger.Debug("flag store request failed", "method", req.Method, "path", c.Redact(path), "error", c.Redact(msg))
		return fail(0, msg)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		c.o.Logger.Debug("flag store request redirected", "method", req.Method, "path", c.Redact(path), "status", resp.StatusCode)
		target := "no Location"
		if loc, err := resp.Location(); err == nil {
			target = c.Redact(redact.URL(loc.String()))
		}
		return fail(resp.StatusCode, "redirected to "+target)
	}
	// One byte more than the limit tells a body of exactly MaxBody from a longer one.
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxBody+1))
	c.o.Logger.Debug("flag store request", "method", req.Method, "path", c.Redact(path),
		"status", resp.StatusCode, "duration", c.o.Clock.Since(start))
	if err != nil {
		return fail(0, "reading the answer: "+err.Error())
	}
	if int64(len(data)) > c.o.MaxBody {
		e := fail(resp.StatusCode, fmt.Sprintf("the answer is larger than the %s limit (Options.MaxBody); not read further", size(c.o.MaxBody)))
		e.kind = progressive.ErrTransient
		return e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := fail(resp.StatusCode, serverMessage(data))
		e.RetryAfter = retryAfter(resp.Header, c.o.Clock.Now())
		return e
	}
	if out == nil {
		// Nothing to decode (a DELETE answered 204), but a body that is there and
		// is not JSON came from a login page or a proxy, not from the API.
		if t := bytes.TrimSpace(data); len(t) > 0 && !json.Valid(t) {
			e := fail(resp.StatusCode, "undecodable answer: not JSON")
			e.kind = progressive.ErrTransient
			return e
		}
		return nil
	}
	// The caller expects the answer to confirm the request (the written object):
	// without one, the write is not known to have happened. Transient, so the
	// operation recomputes from fresh state and tries again.
	if len(bytes.TrimSpace(data)) == 0 {
		e := fail(resp.StatusCode, "empty answer where the API returns the object")
		e.kind = progressive.ErrTransient
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		e := fail(resp.StatusCode, "undecodable answer: "+err.Error())
		e.kind = progressive.ErrTransient
		return e
	}
	return nil
}

// size formats a byte count for messages: "8 MiB", "1500 bytes".
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// serverMessage extracts a short message from an error body: the "message",
// "detail" or "error" field of a JSON object, else the start of the text.
func serverMessage(data []byte) string {
	var obj map[string]any
	if json.Unmarshal(data, &obj) == nil {
		for _, k := range []string{"message", "detail", "error", "non_field_errors"} {
			if v, ok := obj[k]; ok {
				return shorten(fmt.Sprint(v))
			}
		}
		if len(obj) > 0 {
			b, _ := json.Marshal(obj)
			return shorten(string(b))
		}
	}
	return shorten(strings.TrimSpace(string(data)))
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// maxRetryAfter clamps what is read of a Retry-After: a larger value would
// overflow time.Duration into a negative wait, which means "retry now".
const maxRetryAfter = 24 * time.Hour

// retryAfter reads Retry-After (seconds or an HTTP date), then LaunchDarkly's
// X-Ratelimit-Reset (Unix milliseconds), clamped to maxRetryAfter.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(t.Sub(now), 0), maxRetryAfter)
		}
	}
	if v := strings.TrimSpace(h.Get("X-Ratelimit-Reset")); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return min(max(time.UnixMilli(ms).Sub(now), 0), maxRetryAfter)
		}
	}
	return 0
}

// jitter returns a random duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// Do runs op until it succeeds, fails for a reason retrying cannot fix, or
// Attempts transient failures were met. Between attempts it waits, on the Clock,
// the server's Retry-After (plus up to half of Backoff) or the doubling Backoff
// (jittered between half and all of it), each wait at most MaxWait. what names the
// operation in the final error ("set rollout of production/checkout").
func (c *Client) Do(ctx context.Context, what string, op func(ctx context.Context) error) error {
	wait := c.o.Backoff
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !progressive.IsTransient(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= c.o.Attempts {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		}
		d := jitter(min(wait, c.o.MaxWait))
		var he *Error
		if errors.As(err, &he) && he.RetryAfter > 0 {
			if he.RetryAfter > c.o.MaxWait {
				return fmt.Errorf("%s: the server asks to wait %s, more than the %s allowed; not waiting: %w", what, he.RetryAfter, c.o.MaxWait, err)
			}
			// In full, as asked, plus a little: the rollouts told the same
			// instant do not all come back at it.
			d = min(he.RetryAfter+rand.N(c.o.Backoff/2+1), c.o.MaxWait)
		}
		c.o.Logger.Debug("flag store retry", "operation", what, "attempt", attempt, "wait", d, "error", c.Redact(err.Error()))
		t := c.o.Clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last failure: %v)", what, ctx.Err(), err)
		case <-t.C():
		}
		wait = min(wait*2, c.o.MaxWait)
	}
}
