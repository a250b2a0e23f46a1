package telemetry_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
)

// A real Prometheus scrapes the collector while a rollout runs on the
// simulator: the weight, phase and check-value series it stores are the
// rollout's, and after the grace they go stale there too.
func TestPrometheusScrapesTheRollout(t *testing.T) {
	graceClock := testingclock.NewFakeClock(time.Now())
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{Grace: time.Minute, Clock: graceClock})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, m.Register(reg))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	// Halfway: the canary takes 50% and its analysis has measured.
	run := newSimRun(t, false, m)
	run.until(func(rollout.Result) bool {
		w, ok := series(t, reg, "progressive_rollout_canary_weight", nil)
		_, measured := series(t, reg, "progressive_rollout_check_value", nil)
		return ok && w.GetGauge().GetValue() == 50 && measured
	})
	wantValue := gauge(t, reg, "progressive_rollout_check_value", map[string]string{"check": "error-rate", "role": "canary"})

	prom := promtest.Start(t, promtest.Options{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sel := `{rollout="` + run.id + `",namespace="shop",target="checkout"}`
	require.NoError(t, prom.WaitFor(ctx, "progressive_rollout_canary_weight"+sel, 30*time.Second))

	query := func(expr string) (int, float64) {
		t.Helper()
		n, v, err := prom.Query(ctx, expr, time.Time{})
		require.NoError(t, err, expr)
		if n == 0 {
			return 0, 0
		}
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "%s = %q", expr, v)
		return n, f
	}
	n, w := query("progressive_rollout_canary_weight" + sel)
	require.Equal(t, 1, n)
	assert.Equal(t, 50.0, w)
	n, p := query(`progressive_rollout_phase{rollout="` + run.id + `",phase="progressing"}`)
	require.Equal(t, 1, n)
	assert.Equal(t, 1.0, p)
	n, v := query(`progressive_rollout_check_value{rollout="` + run.id + `",check="error-rate",role="canary"}`)
	require.Equal(t, 1, n)
	assert.InDelta(t, wantValue, v, 1e-9, "the measured error rate, as the analysis saw it")
	n, limit := query(`progressive_rollout_check_threshold{rollout="` + run.id + `",check="error-rate",role="canary",bound="max"}`)
	require.Equal(t, 1, n)
	assert.Equal(t, 1.0, limit)
	// The series join on their labels: value under its limit, the healthy case.
	n, _ = query(`progressive_rollout_check_value{role="canary"} < on(rollout,check,role) group_left progressive_rollout_check_threshold{bound="max"}`)
	assert.Equal(t, 1, n, "value below max")
	n, active := query(`progressive_rollouts{phase="progressing"}`)
	require.Equal(t, 1, n)
	assert.Equal(t, 1.0, active)

	// The end: Prometheus sees the phase change within a few scrapes.
	require.Equal(t, rollout.PhaseSucceeded, run.finish().Phase)
	require.NoError(t, waitValue(ctx, prom, `progressive_rollout_phase{rollout="`+run.id+`",phase="succeeded"} == 1`, 20*time.Second))
	n, promoted := query(`progressive_rollout_decisions_total{decision="promoted"}`)
	require.Equal(t, 1, n)
	assert.Equal(t, 1.0, promoted)
	n, _ = query(`progressive_rollout_duration_seconds_count{outcome="promoted"}`)
	assert.Equal(t, 1, n)

	// After the grace the collector drops the series, and Prometheus marks
	// them stale at its next scrape: nothing of the rollout is left to query.
	graceClock.Step(time.Minute)
	require.NoError(t, waitNone(ctx, prom, `{rollout="`+run.id+`"}`, 20*time.Second))
	n, _ = query(`progressive_rollout_decisions_total{decision="promoted"}`)
	assert.Equal(t, 1, n, "the counters, not per rollout, stay")
}

// waitValue polls until expr (a filter) returns a series.
func waitValue(ctx context.Context, prom *promtest.Server, expr string, timeout time.Duration) error {
	return prom.WaitFor(ctx, expr, timeout)
}

// waitNone polls until expr returns no series.
func waitNone(ctx context.Context, prom *promtest.Server, expr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		n, _, err := prom.Query(ctx, expr, time.Time{})
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
