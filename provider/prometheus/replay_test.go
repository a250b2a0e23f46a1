package prometheus_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/prometheus"
)

// The recorded incident: an hour of checkout's metrics from replayStart, every
// 10s. Stable serves 100 requests/s with 0.2% errors throughout. The canary serves
// 20 requests/s, with 0.2% errors until errorsFrom (then 5%) and a p95 around
// 175ms until slowFrom (then around 940ms).
var (
	replayStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	errorsFrom  = replayStart.Add(30 * time.Minute)
	slowFrom    = replayStart.Add(45 * time.Minute)
)

const replayStep = 10 * time.Second

// history writes the incident as OpenMetrics text for promtool.
func history() string {
	var b strings.Builder
	steps := int(time.Hour / replayStep)
	ts := func(i int) time.Time { return replayStart.Add(time.Duration(i) * replayStep) }
	labels := func(version string) string {
		return fmt.Sprintf(`namespace="shop",service="checkout",version=%q`, version)
	}

	b.WriteString("# TYPE http_requests counter\n")
	for _, side := range []struct {
		version string
		perStep float64
		errPct  func(time.Time) float64
	}{
		{"stable", 1000, func(time.Time) float64 { return 0.2 }},
		{"v2", 200, func(t time.Time) float64 {
			if t.After(errorsFrom) {
				return 5
			}
			return 0.2
		}},
	} {
		var ok, failed float64
		var okLines, failedLines strings.Builder
		for i := range steps + 1 {
			t := ts(i)
			if i > 0 {
				e := side.perStep * side.errPct(t) / 100
				failed += e
				ok += side.perStep - e
			}
			fmt.Fprintf(&okLines, "http_requests_total{%s,code=\"200\"} %g %d\n", labels(side.version), ok, t.Unix())
			fmt.Fprintf(&failedLines, "http_requests_total{%s,code=\"500\"} %g %d\n", labels(side.version), failed, t.Unix())
		}
		b.WriteString(okLines.String())
		b.WriteString(failedLines.String())
	}

	// Per step, the share of the canary's 200 requests in each bucket.
	buckets := []string{"0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	fast := []float64{0.3, 0.6, 0.1, 0, 0, 0, 0}
	slow := []float64{0, 0, 0, 0.2, 0.8, 0, 0}
	b.WriteString("# TYPE http_request_duration_seconds histogram\n")
	counts := make([]float64, len(buckets))
	var sum, count float64
	for i := range steps + 1 {
		t := ts(i)
		if i > 0 {
			shares, mean := fast, 0.08
			if t.After(slowFrom) {
				shares, mean = slow, 0.9
			}
			for j, s := range shares {
				counts[j] += 200 * s
			}
			count += 200
			sum += 200 * mean
		}
		cum := 0.0
		for j, le := range buckets {
			cum += counts[j]
			fmt.Fprintf(&b, "http_request_duration_seconds_bucket{%s,le=%q} %g %d\n", labels("v2"), le, cum, t.Unix())
		}
		fmt.Fprintf(&b, "http_request_duration_seconds_count{%s} %g %d\n", labels("v2"), count, t.Unix())
		fmt.Fprintf(&b, "http_request_duration_seconds_sum{%s} %g %d\n", labels("v2"), sum, t.Unix())
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// TestReplayIncident analyses a recorded incident at fixed instants in the past:
// the same verdicts, at the same minute, on every run.
func TestReplayIncident(t *testing.T) {
	data := promtest.Backfill(t, history())
	prom := promtest.Start(t, promtest.Options{DataDir: data})
	src, err := prometheus.New(prometheus.Options{Address: prom.URL})
	require.NoError(t, err)
	engine, err := analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return src, nil },
		Logger:  slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	vars := analysis.Vars{Namespace: "shop", Service: "checkout", CanaryVersion: "v2", StableVersion: "stable"}

	// replay ticks every minute from begin until the verdict is final and
	// returns the verdict, when it came, and the measurements.
	replay := func(t *testing.T, checks []progressive.Check, begin, deadline time.Time) (analysis.TickResult, time.Time, []analysis.Measurement) {
		t.Helper()
		require.NoError(t, engine.Preflight(t.Context(), checks, vars, begin))
		st := engine.Begin(checks, begin, deadline)
		var all []analysis.Measurement
		for now := begin; !now.After(deadline.Add(5 * time.Minute)); now = now.Add(time.Minute) {
			res, err := engine.Tick(t.Context(), checks, vars, &st, now)
			require.NoError(t, err)
			all = append(all, res.Measurements...)
			if res.Verdict.Done() {
				return res, now, all
			}
		}
		t.Fatal("no verdict")
		return analysis.TickResult{}, time.Time{}, nil
	}

	t.Run("error rate", func(t *testing.T) {
		checks := []progressive.Check{metrics.ErrorRate(1)}
		res, at, ms := replay(t, checks, replayStart.Add(20*time.Minute), replayStart.Add(50*time.Minute))
		assert.Equal(t, analysis.VerdictFail, res.Verdict)
		// The window (t-1m, t] holds only incident samples from 12:31 on.
		assert.Equal(t, errorsFrom.Add(time.Minute), at, "the first minute whose window is all incident")
		assert.Contains(t, res.Reason, "error-rate 5 > max 1")
		// Measured from 12:21, once the 1m window lies after the start, to 12:31.
		require.Len(t, ms, 11)
		assert.Equal(t, replayStart.Add(21*time.Minute), ms[0].Time)
		for _, m := range ms[:10] {
			assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
			assert.InDelta(t, 0.2, m.Value, 1e-9)
		}
	})

	t.Run("latency", func(t *testing.T) {
		checks := []progressive.Check{metrics.LatencyP95(500)}
		res, at, ms := replay(t, checks, replayStart.Add(35*time.Minute), replayStart.Add(55*time.Minute))
		assert.Equal(t, analysis.VerdictFail, res.Verdict)
		assert.Equal(t, slowFrom.Add(time.Minute), at)
		assert.InDelta(t, 175, ms[0].Value, 1e-6, "p95 before the incident, interpolated in the 100-250ms bucket")
		assert.InDelta(t, 968.75, ms[len(ms)-1].Value, 1e-6, "p95 during it, in the 500ms-1s bucket")
	})

	t.Run("a healthy hour passes", func(t *testing.T) {
		// The recording has no CPU series: the warning-only CPU check has no data,
		// which never holds up or fails the verdict of the others.
		checks := metrics.Monitor(nil, metrics.Kubernetes{})
		res, at, _ := replay(t, checks, replayStart.Add(5*time.Minute), replayStart.Add(25*time.Minute))
		assert.Equal(t, analysis.VerdictPass, res.Verdict, res.Reason)
		assert.Equal(t, replayStart.Add(25*time.Minute), at)
	})

	t.Run("range query for a judge", func(t *testing.T) {
		c := metrics.ErrorRate(1)
		expr, err := analysis.Render(c, vars, progressive.Canary)
		require.NoError(t, err)
		samples, err := src.QueryRange(t.Context(), progressive.Query{Expr: expr},
			errorsFrom.Add(-5*time.Minute), errorsFrom.Add(5*time.Minute), time.Minute)
		require.NoError(t, err)
		require.Len(t, samples, 11)
		for i, s := range samples {
			want := 0.2
			if s.Time.After(errorsFrom) {
				want = 5
			}
			assert.InDelta(t, want, s.Value, 1e-9, "sample %d at %s", i, s.Time)
			assert.Equal(t, errorsFrom.Add(time.Duration(i-5)*time.Minute), s.Time.UTC())
		}
		// Before the recording there is nothing: no samples, no error.
		samples, err = src.QueryRange(t.Context(), progressive.Query{Expr: expr}, replayStart.Add(-2*time.Hour), replayStart.Add(-time.Hour), time.Minute)
		require.NoError(t, err)
		assert.Empty(t, samples)
		// An instant query there is no data, never a pass.
		res, err := src.Query(t.Context(), progressive.Query{Expr: expr, Time: replayStart.Add(-time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, progressive.StatusNoData, res.Status)
	})
}
