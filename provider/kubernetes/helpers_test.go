package kubernetes_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

var sprintf = fmt.Sprintf

// fixedMetrics is a small MetricSource (Prometheus is not wired here): each role
// answers each series with a fixed value.
type fixedMetrics struct {
	mu     sync.Mutex
	values map[progressive.Role]map[string]float64
}

func newFixedMetrics(stableErr, canaryErr float64) *fixedMetrics {
	return &fixedMetrics{values: map[progressive.Role]map[string]float64{
		progressive.Stable: {"error_rate": stableErr},
		progressive.Canary: {"error_rate": canaryErr},
	}}
}

func (m *fixedMetrics) Name() string { return "fixed" }

func (m *fixedMetrics) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[q.Role][q.Expr]
	if !ok {
		return progressive.Result{}, fmt.Errorf("fixed metrics: unknown series %q for %s: %w", q.Expr, q.Role, progressive.ErrInvalid)
	}
	return progressive.Result{Status: progressive.StatusValue, Value: v, Time: time.Now()}, nil
}

func (m *fixedMetrics) set(role progressive.Role, series string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[role][series] = v
}

// errorRate is the design document's error-rate check (error rate > 1%), measured every 200ms.
func errorRate() []progressive.Check {
	return []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: 200 * time.Millisecond}}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newRunner wires the provider's workload and router, a metric source, hooks and
// a store into a runner with short waits.
func newRunner(t testing.TB, p *k8s.Provider, store rollout.StateStore, metrics progressive.MetricSource, hooks map[string]rollout.Hook, obs ...rollout.Observer) *rollout.Runner {
	t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{p.Router()},
			Workloads: []progressive.Workload{p.Workload()},
			Metrics:   []progressive.MetricSource{metrics},
			Hooks:     hooks,
		},
		Store:        store,
		Observers:    obs,
		PollInterval: 100 * time.Millisecond,
		RetryBackoff: 200 * time.Millisecond,
		Logger:       quietLogger(),
	})
	require.NoError(t, err)
	return r
}

// decisions returns the actions of a record, for assertions.
func actions(rec rollout.DecisionRecord) []string {
	out := make([]string, len(rec.Decisions))
	for i, d := range rec.Decisions {
		out[i] = d.Action
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
