package flagtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"k8s.io/utils/clock"
)

// Series Metrics answers.
const (
	SeriesRequestRate = "request_rate"
	SeriesErrorRate   = "error_rate"
	SeriesLatencyP95  = "latency_p95"
	SeriesCPU         = "cpu"
)

// Metrics is a progressive.MetricSource for rehearsing flag rollouts: the canary is
// the users the flag serves Variation, so its share of the traffic is read from
// Store at every query and follows each write of the rollout. A flag that serves
// the variation to nobody gives the canary no data (as a real backend would), and
// one that serves it to everyone gives the stable side none.
//
// Metrics live apart from the flag service: when the store cannot be read, the share
// last read stands (the first read must succeed).
//
// Values are steady (no noise): ErrorRate (percent), LatencyP95 (ms), CPU (percent),
// until a Regress from a given time replaces one for a role.
type Metrics struct {
	Store     progressive.FlagStore
	Ref       progressive.FlagRef
	Variation string
	// Clock gives the time of queries without one. Default clock.RealClock{}.
	Clock clock.Clock
	// Healthy values; zero selects 1000 req/s, 0.2%, 120 ms, 40%.
	RequestRate, ErrorRate, LatencyP95, CPU float64

	mu          sync.Mutex
	regressions []regression
	queries     int
	lastShare   float64
	haveShare   bool
}

type regression struct {
	from   time.Time
	role   progressive.Role
	series string
	value  float64
}

// Name returns "flag-metrics".
func (m *Metrics) Name() string { return "flag-metrics" }

// Regress makes series report value for role ("" for both) from the given time on.
func (m *Metrics) Regress(from time.Time, role progressive.Role, series string, value float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regressions = append(m.regressions, regression{from: from, role: role, series: series, value: value})
}

// Queries counts the queries answered.
func (m *Metrics) Queries() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queries
}

// Query answers request_rate, error_rate, latency_p95 and cpu for the canary (the
// users served Variation) or the stable side (everyone else).
func (m *Metrics) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	at := q.Time
	if at.IsZero() {
		c := m.Clock
		if c == nil {
			c = clock.RealClock{}
		}
		at = c.Now()
	}
	healthy := map[string]float64{
		SeriesRequestRate: or(m.RequestRate, 1000),
		SeriesErrorRate:   or(m.ErrorRate, 0.2),
		SeriesLatencyP95:  or(m.LatencyP95, 120),
		SeriesCPU:         or(m.CPU, 40),
	}
	value, ok := healthy[q.Expr]
	if !ok {
		return progressive.Result{}, fmt.Errorf("flag metrics: unknown series %q (known: request_rate, error_rate, latency_p95, cpu): %w", q.Expr, progressive.ErrInvalid)
	}
	st, err := flags.Read(ctx, m.Store, m.Ref, m.Variation)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		m.lastShare, m.haveShare = st.Serving/100, true
	case !m.haveShare:
		return progressive.Result{}, fmt.Errorf("flag metrics: read the flag's share: %w: %w", progressive.ErrTransient, err)
	}
	share := m.lastShare
	if q.Role != progressive.Canary {
		share = 1 - share
	}
	m.queries++
	if share <= 0 {
		return progressive.Result{Status: progressive.StatusNoData, Time: at}, nil
	}
	for _, r := range m.regressions {
		if r.series == q.Expr && !at.Before(r.from) && (r.role == "" || r.role == q.Role) {
			value = r.value
		}
	}
	if q.Expr == SeriesRequestRate {
		value *= share
	}
	return progressive.Result{Status: progressive.StatusValue, Value: value, Time: at}, nil
}

func or(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
