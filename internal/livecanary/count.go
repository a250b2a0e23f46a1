package livecanary

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Counts are API requests made through a counted rest.Config, split the way
// the reference table needs them: the driver's own work (router, workload and
// state store) apart from the Lease renewals and the Events, which are told
// apart by URL path.
type Counts struct {
	Reads, Writes int64 // router + workload + store
	Lease         int64 // coordination.k8s.io: renewals and claims
	Events        int64 // core/v1 and events.k8s.io Events
}

// Requests are the driver's reads and writes, Lease and Events excluded.
func (c Counts) Requests() int64 { return c.Reads + c.Writes }

// Sub is c - o.
func (c Counts) Sub(o Counts) Counts {
	return Counts{Reads: c.Reads - o.Reads, Writes: c.Writes - o.Writes, Lease: c.Lease - o.Lease, Events: c.Events - o.Events}
}

// Counter counts the requests of the clients built from a Counted config.
type Counter struct {
	reads, writes, lease, events atomic.Int64
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Counts {
	return Counts{Reads: c.reads.Load(), Writes: c.writes.Load(), Lease: c.lease.Load(), Events: c.events.Load()}
}

type countingTransport struct {
	next http.RoundTripper
	c    *Counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.Contains(p, "/apis/coordination.k8s.io/"):
		t.c.lease.Add(1)
	case strings.HasSuffix(p, "/events") || strings.Contains(p, "/events/") || strings.Contains(p, "/apis/events.k8s.io/"):
		t.c.events.Add(1)
	case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions:
		t.c.reads.Add(1)
	default:
		t.c.writes.Add(1)
	}
	return t.next.RoundTrip(r)
}

// Counted returns a copy of cfg whose clients count their requests in the
// returned Counter.
func Counted(cfg *rest.Config) (*rest.Config, *Counter) {
	cfg = rest.CopyConfig(cfg)
	c := &Counter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, c: c} })
	return cfg, c
}

// Tick is one Reconcile of a rollout, as the state store saw it: it begins
// with the Store.Get that every Reconcile starts with and ends where the next
// one begins.
type Tick struct {
	Start, End time.Time
	// FromStep and ToStep are the step indexes at the Get and after the last
	// Update of the tick; FromPhase and ToPhase the phases.
	FromStep, ToStep   int
	FromPhase, ToPhase rollout.Phase
	// FromKind and ToKind are the kinds of those steps ("analyze", "setWeight", ...).
	FromKind, ToKind string
	// Updates counts the state writes.
	Updates int
	Counts  Counts
}

// Advancing reports whether the tick ended one analysis and began the next
// at a higher weight: analysis passed, weight set and read back, next
// analysis begun.
func (t Tick) Advancing() bool {
	return t.FromKind == analyze && t.ToKind == analyze && t.ToStep > t.FromStep && t.ToPhase == rollout.PhaseProgressing
}

// Idle reports whether the tick measured (or found nothing due) and stayed
// in the same analysis.
func (t Tick) Idle() bool {
	return t.FromKind == analyze && t.ToStep == t.FromStep && t.FromPhase == t.ToPhase
}

// tickStore is a rollout.StateStore that delimits the runner's ticks and
// counts each one's API requests. It delegates everything to the store it
// wraps.
type tickStore struct {
	rollout.StateStore
	c *Counter

	mu    sync.Mutex
	open  *Tick
	begin Counts
	ticks []Tick
}

func (s *tickStore) Get(ctx context.Context, id string) (rollout.State, error) {
	s.mu.Lock()
	now := time.Now()
	snap := s.c.Snapshot()
	if s.open != nil {
		t := *s.open
		t.End = now
		t.Counts = snap.Sub(s.begin)
		s.ticks = append(s.ticks, t)
	}
	s.open = &Tick{Start: now}
	s.begin = snap
	s.mu.Unlock()
	st, err := s.StateStore.Get(ctx, id)
	if err == nil {
		s.mu.Lock()
		if s.open != nil {
			s.open.FromStep, s.open.ToStep = st.Step.Index, st.Step.Index
			s.open.FromPhase, s.open.ToPhase = st.Phase, st.Phase
			s.open.FromKind, s.open.ToKind = stepKind(st), stepKind(st)
		}
		s.mu.Unlock()
	}
	return st, err
}

func (s *tickStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	out, err := s.StateStore.Update(ctx, st)
	if err == nil {
		s.mu.Lock()
		if s.open != nil {
			s.open.ToStep, s.open.ToPhase, s.open.ToKind = out.Step.Index, out.Phase, stepKind(out)
			s.open.Updates++
		}
		s.mu.Unlock()
	}
	return out, err
}

// Ticks returns the ticks closed so far (the one in progress is left out).
func (s *tickStore) Ticks() []Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Tick(nil), s.ticks...)
}

func stepKind(st rollout.State) string {
	if step, ok := st.CurrentStep(); ok {
		return string(step.Kind())
	}
	return ""
}

const analyze = string(progressive.KindAnalyze)
