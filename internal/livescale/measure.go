package livescale

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	clientmetrics "k8s.io/client-go/tools/metrics"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Counter counts the API requests made through a rest.Config from Count, all
// verbs, at the client (after client-go's rate limiter, so each is one request
// the apiserver received).
type Counter struct{ reads, writes atomic.Int64 }

// Requests returns the requests so far.
func (c *Counter) Requests() int64 { return c.reads.Load() + c.writes.Load() }

// Writes returns the requests so far that were not GET, HEAD or OPTIONS.
func (c *Counter) Writes() int64 { return c.writes.Load() }

type countingTransport struct {
	next http.RoundTripper
	c    *Counter
	t    *Timings
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		t.c.reads.Add(1)
	default:
		t.c.writes.Add(1)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if r.URL.Query().Get("watch") != "true" {
		t.t.Observe(r.Method+" "+resourceOf(r.URL.Path), time.Since(start))
	}
	return resp, err
}

// Count returns a copy of cfg whose clients count every request in the
// Counter and time its round trip (the apiserver's answer, after client-go's
// rate limiter) in the Timings by verb and resource. It leaves the rate limit
// as cfg has it.
func Count(cfg *rest.Config) (*rest.Config, *Counter, *Timings) {
	cfg = rest.CopyConfig(cfg)
	c, t := &Counter{}, &Timings{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, c: c, t: t} })
	return cfg, c, t
}

// OpStats are the calls of one operation: how many, how long in all, the longest.
type OpStats struct {
	Op         string
	Count      int64
	Total, Max time.Duration
}

// Mean is the average duration of a call.
func (s OpStats) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Total / time.Duration(s.Count)
}

func (s OpStats) String() string {
	return fmt.Sprintf("%-58s %6d calls, total %9s, mean %7s, max %7s", s.Op, s.Count,
		s.Total.Round(time.Millisecond), s.Mean().Round(100*time.Microsecond), s.Max.Round(time.Millisecond))
}

// Timings accumulates OpStats by operation name. It is safe for concurrent use.
type Timings struct {
	mu  sync.Mutex
	ops map[string]*OpStats
}

// Observe adds one call of op that took d.
func (t *Timings) Observe(op string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ops == nil {
		t.ops = map[string]*OpStats{}
	}
	s := t.ops[op]
	if s == nil {
		s = &OpStats{Op: op}
		t.ops[op] = s
	}
	s.Count++
	s.Total += d
	s.Max = max(s.Max, d)
}

// Reset forgets every observation.
func (t *Timings) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops = nil
}

// Stats returns the operations, the longest in total first.
func (t *Timings) Stats() []OpStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]OpStats, 0, len(t.ops))
	for _, s := range t.ops {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Total > out[j].Total || out[i].Total == out[j].Total && out[i].Op < out[j].Op
	})
	return out
}

// clientGo receives client-go's own metric of the whole process' requests:
// the time each waited in its client's rate limiter (client-side throttling).
// client-go takes one registration per process.
var clientGo struct {
	once      sync.Once
	throttle  Timings
	throttled atomic.Int64 // waits over 10ms
}

type latencyFunc func(ctx context.Context, verb string, u url.URL, d time.Duration)

func (f latencyFunc) Observe(ctx context.Context, verb string, u url.URL, d time.Duration) {
	f(ctx, verb, u, d)
}

// registerClientGoMetrics installs the observers (once per process; a process
// that registered its own client-go metrics before keeps them, and the
// throttling figures then stay empty).
func registerClientGoMetrics() {
	clientGo.once.Do(func() {
		clientmetrics.Register(clientmetrics.RegisterOpts{
			RateLimiterLatency: latencyFunc(func(_ context.Context, verb string, u url.URL, d time.Duration) {
				if d > 10*time.Millisecond {
					clientGo.throttled.Add(1)
					clientGo.throttle.Observe(verb+" "+resourceOf(u.Path), d)
				}
			}),
		})
	})
}

// resourceOf shortens an API path (a request's, or client-go's URL template
// with {name}) to its group, resource and subresource: "apps/deployments",
// "networking.istio.io/virtualservices", "core/configmaps".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	group := "core"
	rest := parts
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, rest = parts[1], parts[3:]
	default:
		return path
	}
	if len(rest) >= 2 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	// resource[/name[/subresource]]
	switch len(rest) {
	case 0:
		return group
	case 1, 2:
		return group + "/" + rest[0]
	default:
		return group + "/" + rest[0] + "/" + rest[2]
	}
}

// RSS returns the process' resident set size and its peak (VmRSS and VmHWM
// of /proc/self/status), in bytes.
func RSS() (rss, peak int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("livescale: RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" && name != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("livescale: RSS: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("livescale: RSS: %w", err)
	}
	return rss, peak, nil
}

// timedSource times every query of a MetricSource.
type timedSource struct {
	progressive.MetricSource
	t *Timings
}

func (s timedSource) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	start := time.Now()
	res, err := s.MetricSource.Query(ctx, q)
	s.t.Observe("prometheus query", time.Since(start))
	return res, err
}

// timedStore times every call of a StateStore. The kubernetes Store has no
// ObservationLog, so nothing is hidden from the runner by the wrapping.
type timedStore struct {
	rollout.StateStore
	t *Timings
}

func (s timedStore) Get(ctx context.Context, id string) (rollout.State, error) {
	start := time.Now()
	st, err := s.StateStore.Get(ctx, id)
	s.t.Observe("store Get", time.Since(start))
	return st, err
}

func (s timedStore) Create(ctx context.Context, st rollout.State) (rollout.State, error) {
	start := time.Now()
	out, err := s.StateStore.Create(ctx, st)
	s.t.Observe("store Create", time.Since(start))
	return out, err
}

func (s timedStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	start := time.Now()
	out, err := s.StateStore.Update(ctx, st)
	s.t.Observe("store Update", time.Since(start))
	return out, err
}
