package badhttp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/badhttp"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

var (
	target  = progressive.Target{Namespace: "shop", Name: "checkout"}
	release = progressive.Release{Version: "v2", Image: "registry.example.com/checkout:v2"}
)

// newSim is a simulated platform on the real clock with one healthy service.
func newSim(t *testing.T) *sim.Env {
	t.Helper()
	env := sim.New(sim.Options{Clock: clock.RealClock{}, Seed: 3})
	require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 4, Version: "v1", Image: "registry.example.com/checkout:v1"}))
	return env
}

func newRunner(t *testing.T, env *sim.Env, metrics progressive.MetricSource) *rollout.Runner {
	t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: 100 * time.Millisecond,
		RetryBackoff: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	return r
}

func plan(t *testing.T, query string) progressive.Plan {
	t.Helper()
	p, err := strategy.Canary{Weights: []float64{20, 100}, Soak: 2 * time.Second, Replicas: 1, Checks: []progressive.Check{{
		Name: "error-rate", Query: query, Max: progressive.Float(1),
		Interval: 200 * time.Millisecond, Window: 200 * time.Millisecond, WarmUp: -1,
	}}}.Plan(target, release)
	require.NoError(t, err)
	return p
}

// The runner driven over a misbehaving Prometheus never promotes and never
// hangs past its timeouts: every bad answer is a bad query (refused before any
// traffic moves) or an inconclusive measurement that ends in a rollback.
func TestRunnerOverAMisbehavingPrometheusNeverPromotes(t *testing.T) {
	cases := map[string]func(t testing.TB) *badhttp.Server{
		"redirect": func(t testing.TB) *badhttp.Server {
			return badhttp.Redirect(t, 302, "http://127.0.0.1:1/login?token=s3cr3t")
		},
		"hang": badhttp.Hang,
		"trickle": func(t testing.TB) *badhttp.Server {
			return badhttp.Trickle(t, 50*time.Millisecond, `{"status":"success"}`)
		},
		"reset":    badhttp.Reset,
		"garbage":  badhttp.Garbage,
		"empty":    badhttp.Empty,
		"enormous": badhttp.Enormous,
		"429":      func(t testing.TB) *badhttp.Server { return badhttp.TooMany(t, "3600") },
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t)
			src, err := prometheus.New(prometheus.Options{Address: srv.URL, Timeout: 500 * time.Millisecond, MaxBody: 1 << 20,
				BearerToken: "tok-s3cr3t", Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			env := newSim(t)
			r := newRunner(t, env, src)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := r.Execute(ctx, plan(t, `error_rate{version="{{.Version}}"}`))
			took := time.Since(start)
			assert.Less(t, took, 25*time.Second, "never hangs past its timeouts")
			assert.NotEqual(t, rollout.PhaseSucceeded, st.Phase, "never promoted on bad data")
			if err == nil {
				assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
				routes, gerr := env.Router.GetRoutes(ctx, target)
				require.NoError(t, gerr)
				assert.Equal(t, progressive.AllStable(), routes)
			} else {
				// Refused at preflight: nothing moved.
				assert.Empty(t, st.ID, "no rollout was stored")
			}
			for _, s := range []string{"s3cr3t", "tok-s3cr3t"} {
				if err != nil {
					assert.NotContains(t, err.Error(), s)
				}
				assert.NotContains(t, st.Record.Learning, s)
			}
			t.Logf("%s: phase %q after %s, err %v", name, st.Phase, took.Round(time.Millisecond), err)
		})
	}
}

// A pre-promotion webhook whose endpoint misbehaves never lets the rollout
// promote: a redirect to a login page is a refusal, not a pass.
func TestRunnerOverAMisbehavingWebhookNeverPromotes(t *testing.T) {
	cases := map[string]func(t testing.TB) *badhttp.Server{
		"redirect to a 200 login page": func(t testing.TB) *badhttp.Server {
			login := badhttp.Serve(t, badhttp.Static(200, "text/html", "<html>sign in</html>"))
			return badhttp.Redirect(t, 302, login.URL)
		},
		"hang":  badhttp.Hang,
		"reset": badhttp.Reset,
		"429":   func(t testing.TB) *badhttp.Server { return badhttp.TooMany(t, "3600") },
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t)
			env := newSim(t)
			require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
			r := newRunner(t, env, env.Metrics)
			p := plan(t, "error_rate")
			p.Hooks = []progressive.HookSpec{{Name: "smoke", Phase: progressive.HookPrePromotion, URL: srv.URL + "/T000/B000/SECRETPATH", Timeout: 300 * time.Millisecond, Retries: 1}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := r.Execute(ctx, p)
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 25*time.Second)
			assert.Equal(t, rollout.PhaseRolledBack, st.Phase, "never promoted: %+v", st.Record.Decisions)
			assert.NotContains(t, st.Rollback.Reason, "SECRETPATH")
			t.Logf("%s: %s", name, st.Rollback.Reason)
		})
	}
}

// healthyThen answers like Prometheus (an error rate of 0.1) until bad is
// switched on, then as the misbehaving handler does: the backend breaks in the
// middle of a rollout, after the preflight passed.
type healthyThen struct {
	bad    http.Handler
	broken atomic.Bool
}

func (h *healthyThen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.broken.Load() {
		h.bad.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"0.1"]}]}}`, time.Now().Unix())
}

func TestRunnerOverAPrometheusThatBreaksMidRollout(t *testing.T) {
	cases := map[string]http.Handler{
		"redirect": badhttp.RedirectHandler(302, "http://127.0.0.1:1/login?token=s3cr3t"),
		"hang":     badhttp.HangHandler(),
		"trickle":  badhttp.TrickleHandler(50*time.Millisecond, `{"status":"success"}`),
		"reset":    badhttp.ResetHandler(),
		"garbage":  badhttp.GarbageHandler(),
		"enormous": badhttp.EnormousHandler(),
		"429":      badhttp.TooManyHandler("3600"),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &healthyThen{bad: bad}
			srv := badhttp.Serve(t, h)
			src, err := prometheus.New(prometheus.Options{Address: srv.URL, Timeout: 500 * time.Millisecond, MaxBody: 1 << 20,
				BearerToken: "tok-s3cr3t", Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			env := newSim(t)
			r := newRunner(t, env, src)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := r.Start(ctx, plan(t, `error_rate{version="{{.Version}}"}`))
			require.NoError(t, err, "the backend answers at preflight")
			h.broken.Store(true)
			start := time.Now()
			st, err = r.Run(ctx, st.ID)
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 25*time.Second, "never hangs past its timeouts")
			assert.Equal(t, rollout.PhaseRolledBack, st.Phase, "never promoted on bad data")
			assert.Contains(t, st.Rollback.Reason, "inconclusive")
			routes, err := env.Router.GetRoutes(ctx, target)
			require.NoError(t, err)
			assert.Equal(t, progressive.AllStable(), routes)
			rec, err := r.Record(ctx, st.ID)
			require.NoError(t, err)
			for _, m := range rec.Observations {
				assert.NotEqual(t, "pass", string(m.Outcome), "no measurement of a broken backend passes: %s", m.Reason)
				assert.NotContains(t, m.Reason+m.Error, "s3cr3t")
			}
			t.Logf("%s: rolled back after %s: %s", name, time.Since(start).Round(time.Millisecond), st.Rollback.Reason)
		})
	}
}
