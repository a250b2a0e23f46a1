package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
)

// series finds the metric name{labels} among what g gathers.
func series(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (*dto.Metric, bool) {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m, true
		}
	}
	return nil, false
}

func gauge(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := series(t, g, name, labels)
	require.True(t, ok, "no series %s%v", name, labels)
	return m.GetGauge().GetValue()
}

func counter(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := series(t, g, name, labels)
	if !ok {
		return 0
	}
	return m.GetCounter().GetValue()
}

func histCount(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	m, ok := series(t, g, name, labels)
	if !ok {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

func newRegistered(t testing.TB, opts telemetry.MetricsOptions) (*telemetry.Metrics, *prometheus.Registry) {
	t.Helper()
	m, err := telemetry.NewMetrics(opts)
	require.NoError(t, err)
	// A pedantic registry also checks that what Collect sends matches Describe.
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, m.Register(reg))
	return m, reg
}

func TestMetricsFollowAHealthyCanary(t *testing.T) {
	m, reg := newRegistered(t, telemetry.MetricsOptions{})
	run := newSimRun(t, false, m)
	id := map[string]string{"rollout": run.id, "namespace": "shop", "target": "checkout"}
	with := func(kv ...string) map[string]string {
		l := map[string]string{}
		for k, v := range id {
			l[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}

	// Stop while the canary takes 50% and its analysis has measured.
	var measured bool
	run.until(func(rollout.Result) bool {
		w, ok := series(t, reg, "progressive_rollout_canary_weight", id)
		_, m := series(t, reg, "progressive_rollout_check_value", with("check", "error-rate"))
		measured = m
		return ok && w.GetGauge().GetValue() == 50 && m
	})
	require.True(t, measured)
	assert.Equal(t, 50.0, gauge(t, reg, "progressive_rollout_canary_weight", id))
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollout_phase", with("phase", "progressing")))
	assert.Equal(t, 0.0, gauge(t, reg, "progressive_rollout_phase", with("phase", "succeeded")))
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollouts", map[string]string{"phase": "progressing"}))
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollout_info", with("release", "v2", "image", "shop/checkout:v2")))
	value := gauge(t, reg, "progressive_rollout_check_value", with("check", "error-rate", "role", "canary"))
	assert.False(t, math.IsNaN(value), "the canary has traffic: a number, not NaN")
	assert.Less(t, value, 1.0, "the healthy canary's error rate is below its threshold")
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollout_check_threshold", with("check", "error-rate", "role", "canary", "bound", "max")))
	_, hasMin := series(t, reg, "progressive_rollout_check_threshold", with("bound", "min"))
	assert.False(t, hasMin, "the check has no min: no series claims one")

	res := run.finish()
	require.Equal(t, rollout.PhaseSucceeded, res.Phase)
	rec := run.record()

	// Ended, within the grace: the series tell how it ended.
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollout_phase", with("phase", "succeeded")))
	assert.Equal(t, 0.0, gauge(t, reg, "progressive_rollout_phase", with("phase", "progressing")))
	assert.Equal(t, 0.0, gauge(t, reg, "progressive_rollouts", map[string]string{"phase": "progressing"}))
	assert.Equal(t, 1.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "promoted"}))
	assert.Equal(t, float64(rec.Impact.StepsCompleted), counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "advance"}))
	assert.Zero(t, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "rollback"}))
	assert.Equal(t, uint64(1), histCount(t, reg, "progressive_rollout_duration_seconds", map[string]string{"outcome": "promoted"}))
	d, _ := series(t, reg, "progressive_rollout_duration_seconds", map[string]string{"outcome": "promoted"})
	assert.Equal(t, time.Duration(rec.Impact.Duration).Seconds(), d.GetHistogram().GetSampleSum(), "measured on the runner's clock: virtual minutes")
	// Two analysis steps (at 10% and 50%; 100% is the promotion) of 10
	// minutes each, timed by the events.
	a, ok := series(t, reg, "progressive_rollout_step_duration_seconds", map[string]string{"kind": "analyze", "result": "completed"})
	require.True(t, ok)
	assert.Equal(t, uint64(2), a.GetHistogram().GetSampleCount())
	assert.InDelta(t, 2*600.0, a.GetHistogram().GetSampleSum(), 2*60, "two soaks of about 10m")
	assert.Zero(t, histCount(t, reg, "progressive_rollout_time_to_detect_seconds", nil), "nothing was detected")

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus' conventions")
}

func TestMetricsOfARollback(t *testing.T) {
	m, reg := newRegistered(t, telemetry.MetricsOptions{})
	run := newSimRun(t, true, m)
	res := run.finish()
	require.Equal(t, rollout.PhaseRolledBack, res.Phase)
	rec := run.record()
	require.NotNil(t, rec.Impact.TimeToDetect)

	id := map[string]string{"rollout": run.id}
	assert.Equal(t, 1.0, gauge(t, reg, "progressive_rollout_phase", map[string]string{"rollout": run.id, "phase": "rolled-back"}))
	assert.Equal(t, 0.0, gauge(t, reg, "progressive_rollout_canary_weight", id), "traffic is back on stable")
	value := gauge(t, reg, "progressive_rollout_check_value", map[string]string{"rollout": run.id, "check": "error-rate", "role": "canary"})
	assert.Greater(t, value, 1.0, "the value that failed the check is the one reported")
	assert.Equal(t, 1.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "rollback"}))
	assert.Equal(t, 1.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "rolled-back"}))
	assert.Equal(t, uint64(1), histCount(t, reg, "progressive_rollout_step_duration_seconds", map[string]string{"kind": "analyze", "result": "rolled-back"}))
	detect, ok := series(t, reg, "progressive_rollout_time_to_detect_seconds", nil)
	require.True(t, ok)
	assert.Equal(t, uint64(1), detect.GetHistogram().GetSampleCount())
	assert.Equal(t, time.Duration(*rec.Impact.TimeToDetect).Seconds(), detect.GetHistogram().GetSampleSum(), "the record's time to detect")
	assert.Equal(t, uint64(1), histCount(t, reg, "progressive_rollout_time_to_recover_seconds", nil))
	assert.Equal(t, uint64(1), histCount(t, reg, "progressive_rollout_duration_seconds", map[string]string{"outcome": "rolled-back"}))
}

func TestMetricsCountProviderErrorsByKind(t *testing.T) {
	m, reg := newRegistered(t, telemetry.MetricsOptions{})
	run := newSimRun(t, false, m)
	// Two transient router failures are retried; then a refusal (not
	// retryable) rolls the rollout back.
	run.env.Router.FailNextWrites(2, fmt.Errorf("apiserver busy: %w", progressive.ErrTransient))
	run.until(func(rollout.Result) bool {
		return counter(t, reg, "progressive_rollout_provider_errors_total", map[string]string{"kind": "transient"}) >= 2
	})
	assert.Equal(t, 2.0, counter(t, reg, "progressive_rollout_provider_errors_total", map[string]string{"kind": "transient", "step": "setWeight"}))
	assert.Equal(t, 2.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "retry"}))
	run.env.Router.FailNextWrites(1, fmt.Errorf("route refused: %w", progressive.ErrInvalid))
	res := run.finish()
	require.Equal(t, rollout.PhaseRolledBack, res.Phase)
	assert.Equal(t, 1.0, counter(t, reg, "progressive_rollout_provider_errors_total", map[string]string{"kind": "invalid", "step": "setWeight"}))
}

func TestMetricsForgetEndedRolloutsAfterTheGrace(t *testing.T) {
	clk := testingclock.NewFakeClock(start)
	m, reg := newRegistered(t, telemetry.MetricsOptions{Grace: 5 * time.Minute, Clock: clk})
	perRollout := []string{"progressive_rollout_phase", "progressive_rollout_info", "progressive_rollout_canary_weight",
		"progressive_rollout_check_value", "progressive_rollout_check_threshold"}
	count := func() int {
		n, err := testutil.GatherAndCount(reg, perRollout...)
		require.NoError(t, err)
		return n
	}
	for i := range 3 {
		newSimRunNamed(t, fmt.Sprintf("checkout-%d", i), i == 2, m).finish()
	}
	require.Equal(t, 3, m.Tracked())
	before := count()
	assert.Greater(t, before, 3*6, "each rollout has its phase, info, weight and check series")

	clk.Step(4 * time.Minute)
	assert.Equal(t, before, count(), "within the grace the series stay")
	clk.Step(time.Minute)
	assert.Zero(t, count(), "after the grace a scrape drops them, with no event needed")
	assert.Zero(t, m.Tracked())
	// Aggregates stay: they are not per rollout.
	assert.Equal(t, 2.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "promoted"}))
	assert.Equal(t, 0.0, gauge(t, reg, "progressive_rollouts", map[string]string{"phase": "progressing"}))
}

func TestMetricsStayBoundedOverManyRollouts(t *testing.T) {
	clk := testingclock.NewFakeClock(start)
	m, reg := newRegistered(t, telemetry.MetricsOptions{Grace: time.Minute, Clock: clk})
	ctx := context.Background()
	emit := func(id string, typ rollout.EventType, phase rollout.Phase, extra func(*rollout.Event)) {
		e := rollout.Event{Time: clk.Now(), Rollout: id, Type: typ, Phase: phase, Target: progressive.Target{Namespace: "ns", Name: id},
			StepKind: progressive.KindSetWeight}
		if extra != nil {
			extra(&e)
		}
		m.Observe(ctx, e)
	}
	// 1000 rollouts, one ending every second: at any time only those of the
	// last minute (plus the one in flight) may have series.
	for i := range 1000 {
		id := fmt.Sprintf("svc-%d", i)
		emit(id, rollout.EventStarted, rollout.PhaseProgressing, nil)
		emit(id, rollout.EventRoutesChanged, rollout.PhaseProgressing, func(e *rollout.Event) { e.Routes = &progressive.Routes{CanaryWeight: 10, StableWeight: 90} })
		emit(id, rollout.EventMeasured, rollout.PhaseProgressing, func(e *rollout.Event) {
			e.Measurements = []analysis.Measurement{{Check: "errors", Value: 0.1}}
			e.StepKind = "made-up-kind" // bounded to "other", not a label value per string
		})
		emit(id, rollout.EventSucceeded, rollout.PhaseSucceeded, nil)
		clk.Step(time.Second)
		require.LessOrEqual(t, m.Tracked(), 61)
	}
	n, err := testutil.GatherAndCount(reg, "progressive_rollout_phase")
	require.NoError(t, err)
	assert.LessOrEqual(t, n, 61*6)
	assert.Equal(t, 1000.0, counter(t, reg, "progressive_rollout_decisions_total", map[string]string{"decision": "promoted"}))
}

func TestMetricsRegistrationErrors(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, m.Register(reg))

	err = m.Register(reg)
	require.ErrorIs(t, err, progressive.ErrInvalid, "twice on one registry: an error, no panic")
	assert.Contains(t, err.Error(), `"progressive"`)

	other, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	require.NoError(t, err)
	err = other.Register(reg)
	require.ErrorIs(t, err, progressive.ErrInvalid, "a second collector with the same names")

	// A registry already holding one of the names with other labels.
	clash := prometheus.NewRegistry()
	require.NoError(t, clash.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "progressive_rollout_canary_weight", Help: "someone else's"})))
	err = other.Register(clash)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "Namespace")

	// Under a namespace of its own it fits next to the first.
	third, err := telemetry.NewMetrics(telemetry.MetricsOptions{Namespace: "canary2"})
	require.NoError(t, err)
	require.NoError(t, third.Register(reg))

	require.ErrorIs(t, m.Register(nil), progressive.ErrInvalid)
}

func TestMetricsOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		opts  telemetry.MetricsOptions
		field string
		value string
	}{
		{telemetry.MetricsOptions{Namespace: "my-ns"}, "Namespace", `"my-ns"`},
		{telemetry.MetricsOptions{Grace: -time.Second}, "Grace", `"-1s"`},
		{telemetry.MetricsOptions{StepBuckets: []float64{5, 1}}, "StepBuckets", "[5 1]"},
		{telemetry.MetricsOptions{DetectBuckets: []float64{}}, "DetectBuckets", "[]"},
		{telemetry.MetricsOptions{DurationBuckets: []float64{1, math.NaN()}}, "DurationBuckets", "NaN"},
	} {
		_, err := telemetry.NewMetrics(tc.opts)
		require.ErrorIs(t, err, progressive.ErrInvalid, tc.field)
		assert.Contains(t, err.Error(), tc.field)
		assert.Contains(t, err.Error(), tc.value)
	}
}

func TestErrorKind(t *testing.T) {
	for err, want := range map[error]string{
		nil: "",
		fmt.Errorf("x: %w", progressive.ErrTransient):                           telemetry.KindTransient,
		fmt.Errorf("x: %w", progressive.ErrInvalid):                             telemetry.KindInvalid,
		progressive.FieldError{Field: "f"}:                                      telemetry.KindInvalid,
		fmt.Errorf("x: %w", progressive.ErrNotFound):                            telemetry.KindNotFound,
		fmt.Errorf("x: %w", progressive.ErrUnsupported):                         telemetry.KindUnsupported,
		fmt.Errorf("x: %w", progressive.ErrConflict):                            telemetry.KindConflict,
		fmt.Errorf("x: %w", context.DeadlineExceeded):                           telemetry.KindTimeout,
		errors.New("boom"):                                                      telemetry.KindOther,
		fmt.Errorf("%w: %w", progressive.ErrTransient, progressive.ErrNotFound): telemetry.KindTransient,
	} {
		assert.Equal(t, want, telemetry.ErrorKind(err), "%v", err)
	}
}

// The help texts say what each series is; a reader of /metrics sees them.
func TestMetricsDescribeEverySeries(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	require.NoError(t, err)
	ch := make(chan *prometheus.Desc, 64)
	m.Describe(ch)
	close(ch)
	var names []string
	for d := range ch {
		names = append(names, d.String())
	}
	assert.Len(t, names, 12)
	assert.Contains(t, strings.Join(names, "\n"), "progressive_rollout_check_value")
}
