package apifaults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Kind names a fault the Injector can answer a request with.
type Kind string

const (
	// Conflict answers an update (PUT) with 409 and a Status of reason
	// Conflict, as the apiserver does when the resourceVersion of an update is
	// stale. The write does not reach the apiserver. Other requests never get
	// it: the apiserver does not answer a GET with 409, a create that finds
	// its object gets reason AlreadyExists, and a patch without a
	// resourceVersion (server-side apply included) is retried inside the
	// apiserver.
	Conflict Kind = "conflict"
	// InternalError answers with 500 and a Status of reason InternalError. The
	// request does not reach the apiserver.
	InternalError Kind = "internal-error"
	// Unavailable answers with 503 and a Status of reason ServiceUnavailable,
	// without a Retry-After header (client-go retries only answers that carry
	// one). The request does not reach the apiserver.
	Unavailable Kind = "unavailable"
	// Timeout gives no answer: the request is held until its context ends or
	// Options.Timeout passed, and fails the way an http.Client whose Timeout
	// ran out fails (an error that is a net.Error with Timeout() and
	// errors.Is context.DeadlineExceeded). The request does not reach the
	// apiserver.
	Timeout Kind = "timeout"
	// LostReply forwards a write to the apiserver, which carries it out, and
	// then fails like Timeout: the caller cannot tell that the write landed.
	// Not in DefaultKinds.
	LostReply Kind = "lost-reply"
	// WatchDrop forwards a watch request (?watch=true) and ends its stream
	// early: after a few chunks of the body (the apiserver flushes one per
	// event) or after Options.WatchLifetime, whichever comes first, a Read
	// returns io.ErrUnexpectedEOF, as when the connection drops. It is the only
	// fault a watch gets.
	WatchDrop Kind = "watch-drop"
)

// DefaultKinds are the kinds Options.Kinds selects when empty: every kind but
// LostReply.
var DefaultKinds = []Kind{Conflict, InternalError, Unavailable, Timeout, WatchDrop}

// Defaults of Options.
const (
	DefaultTimeout        = time.Second
	DefaultMaxWatchEvents = 3
	DefaultWatchLifetime  = 5 * time.Second
)

// Options configure an Injector. The zero value injects nothing (Rate 0).
type Options struct {
	// Seed makes the faults reproducible: the same seed and the same sequence
	// of requests on each path give the same faults (see the package
	// documentation).
	Seed uint64
	// Rate is the probability, from 0 to 1, that a request gets a fault.
	Rate float64
	// Kinds are the faults to choose from, uniformly among those that apply to
	// the request (Conflict only to updates, LostReply only to writes,
	// WatchDrop only and always to watches). Default DefaultKinds.
	Kinds []Kind
	// Timeout is how long a Timeout or LostReply fault holds a request whose
	// context has no earlier deadline: the client's timeout. Default 1s.
	Timeout time.Duration
	// MaxWatchEvents bounds the chunks a dropped watch delivers before it ends
	// (1 to MaxWatchEvents, drawn per watch). Default 3.
	MaxWatchEvents int
	// WatchLifetime ends a dropped watch that stays quiet. Default 5s.
	WatchLifetime time.Duration
	// Leases, when set, lets coordination.k8s.io Lease requests get faults
	// too. By default they pass untouched: a lost lease is a topic of its own.
	Leases bool
	// Logger receives one debug line per fault. Default: none.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if len(o.Kinds) == 0 {
		o.Kinds = DefaultKinds
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxWatchEvents <= 0 {
		o.MaxWatchEvents = DefaultMaxWatchEvents
	}
	if o.WatchLifetime <= 0 {
		o.WatchLifetime = DefaultWatchLifetime
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Injector decides, request by request, whether to answer with a fault, and
// counts what it did. One Injector may wrap any number of clients; they share
// its random streams and its counters.
type Injector struct {
	opts    Options
	enabled atomic.Bool

	mu      sync.Mutex
	streams map[string]*rand.Rand
	stats   Stats
}

// New returns an Injector, enabled.
func New(opts Options) *Injector {
	in := &Injector{opts: opts.withDefaults(), streams: map[string]*rand.Rand{}}
	in.stats = newStats()
	in.enabled.Store(true)
	return in
}

// SetEnabled turns the faults on or off; requests are counted either way.
// Random numbers are drawn only while enabled.
func (in *Injector) SetEnabled(on bool) { in.enabled.Store(on) }

// Wrap returns rt with the faults in front of it: the function
// rest.Config.Wrap takes.
func (in *Injector) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &transport{in: in, next: rt}
}

// Config returns a copy of cfg whose clients go through the Injector.
func (in *Injector) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(in.Wrap)
	return cfg
}

// Stats counts the requests an Injector saw and the faults it injected.
type Stats struct {
	// Requests is every request, Writes those that are not GET, HEAD or
	// OPTIONS, Watches those with watch=true.
	Requests, Writes, Watches int64
	// Exempt counts requests that passed untouched because of their path
	// (Leases without Options.Leases).
	Exempt int64
	// Faults counts the injected faults by kind; ByResource by the resource of
	// the request ("configmaps", "virtualservices", a discovery path...).
	Faults     map[Kind]int64
	ByResource map[string]int64
}

func newStats() Stats {
	return Stats{Faults: map[Kind]int64{}, ByResource: map[string]int64{}}
}

// Total is the number of faults injected.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// Add returns the sum of s and o.
func (s Stats) Add(o Stats) Stats {
	out := newStats()
	out.Requests, out.Writes, out.Watches, out.Exempt = s.Requests+o.Requests, s.Writes+o.Writes, s.Watches+o.Watches, s.Exempt+o.Exempt
	for _, m := range []map[Kind]int64{s.Faults, o.Faults} {
		for k, v := range m {
			out.Faults[k] += v
		}
	}
	for _, m := range []map[string]int64{s.ByResource, o.ByResource} {
		for k, v := range m {
			out.ByResource[k] += v
		}
	}
	return out
}

// String shows the counts on one line, kinds and resources sorted.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests (%d writes, %d watches, %d exempt), %d faults", s.Requests, s.Writes, s.Watches, s.Exempt, s.Total())
	if len(s.Faults) > 0 {
		b.WriteString(": ")
		b.WriteString(formatCounts(s.Faults))
	}
	if len(s.ByResource) > 0 {
		b.WriteString("; by resource: ")
		b.WriteString(formatCounts(s.ByResource))
	}
	return b.String()
}

func formatCounts[K ~string](m map[K]int64) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Stats returns a copy of the counts so far.
func (in *Injector) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := newStats()
	return out.Add(in.stats)
}

// decision is what the Injector does with one request.
type decision struct {
	kind   Kind // "": pass
	events int  // WatchDrop: chunks delivered before the drop
}

// decide draws the fate of one request from the random stream of its key.
// Every request draws the same three numbers, so that a fault on one request
// does not shift the fates of the next ones on that key.
func (in *Injector) decide(r *http.Request, a attrs) decision {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Requests++
	if a.write {
		in.stats.Writes++
	}
	if a.watch {
		in.stats.Watches++
	}
	if a.lease && !in.opts.Leases {
		in.stats.Exempt++
		return decision{}
	}
	if !in.enabled.Load() || in.opts.Rate <= 0 {
		return decision{}
	}
	rng := in.streams[a.key]
	if rng == nil {
		h := fnv.New64a()
		h.Write([]byte(a.key))
		rng = rand.New(rand.NewPCG(in.opts.Seed, h.Sum64()))
		in.streams[a.key] = rng
	}
	u, pick, events := rng.Float64(), rng.Uint64(), rng.IntN(in.opts.MaxWatchEvents)
	if u >= in.opts.Rate {
		return decision{}
	}
	var eligible []Kind
	for _, k := range in.opts.Kinds {
		switch {
		case a.watch:
			if k == WatchDrop {
				eligible = append(eligible, k)
			}
		case k == WatchDrop:
		case k == Conflict:
			if r.Method == http.MethodPut {
				eligible = append(eligible, k)
			}
		case k == LostReply:
			if a.write {
				eligible = append(eligible, k)
			}
		default:
			eligible = append(eligible, k)
		}
	}
	if len(eligible) == 0 {
		return decision{}
	}
	d := decision{kind: eligible[pick%uint64(len(eligible))], events: 1 + events}
	in.stats.Faults[d.kind]++
	in.stats.ByResource[a.resource]++
	in.opts.Logger.LogAttrs(r.Context(), slog.LevelDebug, "apifaults: injecting",
		slog.String("kind", string(d.kind)), slog.String("method", r.Method), slog.String("path", r.URL.Path))
	return d
}

// attrs are what the Injector reads off a request.
type attrs struct {
	// key names the request's random stream: method and path, with the
	// namespace replaced (tests make unique namespaces) and watches apart.
	key      string
	resource string
	name     string
	group    string
	write    bool
	watch    bool
	lease    bool
}

func requestAttrs(r *http.Request) attrs {
	var a attrs
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		a.write = true
	}
	q := r.URL.Query()
	a.watch = q.Get("watch") == "true" || q.Get("watch") == "1"
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		a.group = segs[1]
		rest = segs[3:]
	}
	key := slices.Clone(segs)
	switch {
	case len(rest) == 0:
		a.resource = r.URL.Path // discovery, /version, /openapi...
	case rest[0] == "namespaces" && len(rest) >= 3:
		a.resource = rest[2]
		if len(rest) >= 4 {
			a.name = rest[3]
		}
		key[len(segs)-len(rest)+1] = "{namespace}"
	default:
		a.resource = rest[0]
		if len(rest) >= 2 {
			a.name = rest[1]
		}
	}
	if a.resource == "namespaces" && len(rest) >= 2 {
		key[len(segs)-len(rest)+1] = "{namespace}"
	}
	a.lease = a.group == "coordination.k8s.io" && a.resource == "leases"
	a.key = r.Method + " /" + strings.Join(key, "/")
	if a.watch {
		a.key += "?watch"
	}
	return a
}

type transport struct {
	in   *Injector
	next http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	a := requestAttrs(r)
	d := t.in.decide(r, a)
	switch d.kind {
	case "":
		return t.next.RoundTrip(r)
	case Conflict:
		return status(r, http.StatusConflict, metav1.StatusReasonConflict, a,
			fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again (injected by apifaults)", a.resource, a.name)), nil
	case InternalError:
		return status(r, http.StatusInternalServerError, metav1.StatusReasonInternalError, a,
			"Internal error occurred: injected by apifaults"), nil
	case Unavailable:
		return status(r, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, a,
			"the server is currently unable to handle the request (injected by apifaults)"), nil
	case Timeout:
		return nil, t.hold(r)
	case LostReply:
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, t.hold(r)
	case WatchDrop:
		resp, err := t.next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		resp.Body = newDroppingBody(resp.Body, d.events, t.in.opts.WatchLifetime)
		return resp, nil
	}
	return nil, fmt.Errorf("apifaults: unknown fault kind %q", d.kind)
}

// hold waits until the request's context ends or the client timeout passed,
// and returns the error the client sees.
func (t *transport) hold(r *http.Request) error {
	timer := time.NewTimer(t.in.opts.Timeout)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
		return fmt.Errorf("apifaults: injected timeout: %w", context.Cause(r.Context()))
	case <-timer.C:
		return &TimeoutError{After: t.in.opts.Timeout}
	}
}

// TimeoutError is the error of a request held by a Timeout fault until the
// client's timeout passed. Like the error of an http.Client whose Timeout ran
// out, it is a net.Error whose Timeout reports true and it matches
// context.DeadlineExceeded with errors.Is.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("apifaults: injected timeout: no answer within %s (Client.Timeout exceeded while awaiting headers)", e.After)
}

// Timeout implements net.Error.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary implements net.Error.
func (e *TimeoutError) Temporary() bool { return true }

// Is makes errors.Is(err, context.DeadlineExceeded) hold, as it does for an
// http.Client timeout.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// status builds the apiserver's answer for a failed request: a JSON Status.
func status(r *http.Request, code int, reason metav1.StatusReason, a attrs, msg string) *http.Response {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
	if a.name != "" {
		st.Details = &metav1.StatusDetails{Name: a.name, Group: a.group, Kind: a.resource}
	}
	body, _ := json.Marshal(st)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// droppingBody delivers a watch stream's first chunks, then fails as a dropped
// connection does.
type droppingBody struct {
	rc    io.ReadCloser
	timer *time.Timer

	mu      sync.Mutex
	left    int
	dropped bool
}

func newDroppingBody(rc io.ReadCloser, events int, lifetime time.Duration) *droppingBody {
	b := &droppingBody{rc: rc, left: events}
	b.timer = time.AfterFunc(lifetime, b.drop)
	return b
}

func (b *droppingBody) drop() {
	b.mu.Lock()
	b.dropped = true
	b.mu.Unlock()
	b.rc.Close()
}

func (b *droppingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.dropped || b.left <= 0 {
		b.mu.Unlock()
		b.timer.Stop()
		b.drop()
		return 0, io.ErrUnexpectedEOF
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return n, io.ErrUnexpectedEOF
	}
	if n > 0 {
		b.left--
	}
	return n, err
}

func (b *droppingBody) Close() error {
	b.timer.Stop()
	b.mu.Lock()
	b.dropped = true
	b.mu.Unlock()
	return b.rc.Close()
}
