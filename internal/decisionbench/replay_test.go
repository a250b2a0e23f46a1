package decisionbench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kinds is the sequence of (kind, weight) of a replay, for compact assertions.
type kw struct {
	At     time.Duration
	Kind   DecisionKind
	Weight float64
}

func kinds(ds []Decision, skipMeasure bool) []kw {
	var out []kw
	for _, d := range ds {
		if skipMeasure && d.Kind == KindMeasure {
			continue
		}
		out = append(out, kw{d.At, d.Kind, d.Weight})
	}
	return out
}

// flaggerChecks are the benchmark's Flagger checks at the guide's thresholds.
func flaggerChecks() []FlaggerMetric {
	return []FlaggerMetric{{Name: "request-success-rate", Min: Float(99)}, {Name: "latency-p95", Max: Float(500)}}
}

// healthy answers every query with a passing value.
func healthyStream(q Query) Measurement {
	if q.Metric == 0 {
		return Measurement{Value: 99.5}
	}
	return Measurement{Value: 120}
}

func TestFlaggerHealthyPromotesAfterOnePassingAnalysisPerStep(t *testing.T) {
	// scheduler.go:449-458 (tick 1 routes the first step without a check),
	// 570-613 (advance on a passing analysis), 617-636 (promote at max weight),
	// 381-389 and 393-409 (finalise in two more ticks).
	got := ReplayFlagger(FlaggerConfig{StepWeights: []int{10, 50}, Metrics: flaggerChecks()}, healthyStream)
	m := time.Minute
	assert.Equal(t, []kw{
		{0, KindStart, 0}, {1 * m, KindAdvance, 10}, {2 * m, KindAdvance, 50},
		{3 * m, KindPromote, 50}, {4 * m, KindFinalize, 0}, {5 * m, KindSucceed, 0},
	}, kinds(got, false))

	// The tutorial's stepWeight 10, maxWeight 50: five steps, promotion at tick 6.
	got = ReplayFlagger(FlaggerConfig{StepWeight: 10, MaxWeight: 50, Threshold: 5, Metrics: flaggerChecks()}, healthyStream)
	require.Len(t, got, 9)
	assert.Equal(t, kw{6 * m, KindPromote, 50}, kinds(got, false)[6])
	// stepWeight 20 to maxWeight 50 overshoots to 60 before promoting (the cap is 100, scheduler.go:595-598).
	got = ReplayFlagger(FlaggerConfig{StepWeight: 20, MaxWeight: 50}, healthyStream)
	assert.Equal(t, kw{3 * m, KindAdvance, 60}, kinds(got, false)[3])
	assert.Equal(t, KindPromote, got[4].Kind)
}

func TestFlaggerCountsFailedChecksOverTheRolloutAndRollsBackTheTickAfter(t *testing.T) {
	m := time.Minute
	// Threshold 2; the analyses of ticks 3 and 6 fail (the error rate is over
	// 1%), the others pass. The count is not reset by the passing ticks between
	// (scheduler.go:340-346 is the only reset), so the second failure reaches
	// the threshold and tick 7 rolls back before measuring (scheduler.go:430-438).
	failAt := map[int]bool{3: true, 6: true}
	var queried []int
	stream := func(q Query) Measurement {
		if q.Metric == 0 {
			queried = append(queried, q.Tick)
			if failAt[q.Tick] {
				return Measurement{Value: 97}
			}
		}
		return healthyStream(q)
	}
	got := ReplayFlagger(FlaggerConfig{Threshold: 2, StepWeight: 10, MaxWeight: 50, Metrics: flaggerChecks()}, stream)
	assert.Equal(t, []kw{
		{0, KindStart, 0}, {1 * m, KindAdvance, 10}, {2 * m, KindAdvance, 20}, {3 * m, KindHold, 20},
		{4 * m, KindAdvance, 30}, {5 * m, KindAdvance, 40}, {6 * m, KindHold, 40}, {7 * m, KindRollback, 0},
	}, kinds(got, false))
	assert.Equal(t, []int{2, 3, 4, 5, 6}, queried, "tick 1 runs no check, tick 7 rolls back before measuring")

	// Threshold 1 (the default): the first failure rolls back at the next tick.
	got = ReplayFlagger(FlaggerConfig{StepWeights: []int{10, 50}, Metrics: flaggerChecks()}, stream)
	assert.Equal(t, kw{4 * m, KindRollback, 0}, kinds(got, false)[4])
}

func TestFlaggerTreatsErrorsNoDataAndNaNAsFailedChecks(t *testing.T) {
	for name, r := range map[string]Measurement{
		"query error": {Err: true},
		"no data":     {NoData: true},
		"NaN":         {Value: math.NaN()},
		"below min":   {Value: 98.9},
	} {
		t.Run(name, func(t *testing.T) {
			var latencyQueried bool
			got := ReplayFlagger(FlaggerConfig{Threshold: 3, StepWeights: []int{10, 50}, Metrics: flaggerChecks()}, func(q Query) Measurement {
				if q.Metric == 1 {
					latencyQueried = true
					return Measurement{Value: 120}
				}
				return r
			})
			// Ticks 2, 3, 4 fail; tick 5 rolls back.
			ks := kinds(got, false)
			require.Len(t, ks, 6)
			for i := 2; i <= 4; i++ {
				assert.Equal(t, KindHold, ks[i].Kind)
			}
			assert.Equal(t, kw{5 * time.Minute, KindRollback, 0}, ks[5])
			assert.False(t, latencyQueried, "the analysis stops at the first failing metric")
		})
	}
}

func TestFlaggerDefaults(t *testing.T) {
	assert.Equal(t, time.Minute, FlaggerConfig{}.interval())
	assert.Equal(t, 10*time.Second, FlaggerConfig{Interval: time.Second}.interval())
	assert.Equal(t, 1, FlaggerConfig{}.threshold())
	assert.Equal(t, 100, FlaggerConfig{StepWeight: 5}.maxWeight())
	assert.Equal(t, 50, FlaggerConfig{StepWeights: []int{5, 50}, MaxWeight: 80}.maxWeight())
	// Without a step Flagger never routes the canary: the replay only starts.
	got := ReplayFlagger(FlaggerConfig{Horizon: time.Hour}, healthyStream)
	assert.Equal(t, []kw{{0, KindStart, 0}}, kinds(got, false))
}

// argoChecks are the benchmark's Argo metrics at the guide's thresholds.
func argoChecks(interval time.Duration, failureLimit int) []ArgoMetric {
	return []ArgoMetric{
		{Name: "error-rate", Interval: interval, FailureLimit: failureLimit, SuccessCondition: &Condition{"<=", 1}},
		{Name: "latency-p95", Interval: interval, FailureLimit: failureLimit, SuccessCondition: &Condition{"<=", 500}},
	}
}

func seedSteps() []ArgoStep {
	return []ArgoStep{{SetWeight: 10, Pause: 15 * time.Minute}, {SetWeight: 50, Pause: 15 * time.Minute}}
}

func argoHealthy(q Query) Measurement {
	if q.Metric == 0 {
		return Measurement{Value: 0.5}
	}
	return Measurement{Value: 120}
}

func TestArgoHealthyRunsTheStepsAndPromotes(t *testing.T) {
	got := ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(time.Minute, 0)}, argoHealthy)
	assert.Equal(t, []kw{{0, KindStart, 0}, {0, KindAdvance, 10}, {15 * time.Minute, KindAdvance, 50}, {30 * time.Minute, KindPromote, 100}},
		kinds(got, true))
	n := 0
	for _, d := range got {
		if d.Kind == KindMeasure {
			n++
			assert.Equal(t, ArgoSuccessful, d.Phase)
		}
	}
	assert.Equal(t, 2*31, n, "both metrics at 0, 1m, ..., 30m: the one due when the last pause ends is taken before the promotion")
}

func TestArgoRetriesAnErrorAfterTenSecondsAndAbortsOnTheFifth(t *testing.T) {
	// An outage of the metrics backend from 5m: the measurement at 5m errors,
	// is retried 10s later (analysis.go:233-235), and the fifth error in a row
	// exceeds consecutiveErrorLimit 4 (defaults.go:37, analysis.go:681-686):
	// abort 40s after the first error, not after five intervals.
	outage := func(q Query) Measurement {
		if q.At >= 5*time.Minute && q.At < 10*time.Minute {
			return Measurement{Err: true}
		}
		return argoHealthy(q)
	}
	got := ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(time.Minute, 0)[:1]}, outage)
	last := got[len(got)-1]
	assert.Equal(t, KindRollback, last.Kind)
	assert.Equal(t, 5*time.Minute+40*time.Second, last.At)
	assert.Equal(t, ArgoError, last.Phase)
	var errorsAt []time.Duration
	for _, d := range got {
		if d.Kind == KindMeasure && d.Phase == ArgoError {
			errorsAt = append(errorsAt, d.At-5*time.Minute)
		}
	}
	assert.Equal(t, []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second}, errorsAt)

	// An error followed by a success resets the consecutive count
	// (analysis.go:386-390): a 30s outage costs nothing, and the next
	// measurement comes an interval after the successful retry.
	short := func(q Query) Measurement {
		if q.At >= 5*time.Minute && q.At < 5*time.Minute+30*time.Second {
			return Measurement{Err: true}
		}
		return argoHealthy(q)
	}
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(time.Minute, 0)[:1]}, short)
	assert.Equal(t, KindPromote, got[len(got)-1].Kind)
	var at []time.Duration
	for _, d := range got {
		if d.Kind == KindMeasure && d.At >= 5*time.Minute && d.At <= 7*time.Minute {
			at = append(at, d.At)
		}
	}
	assert.Equal(t, []time.Duration{5 * time.Minute, 5*time.Minute + 10*time.Second, 5*time.Minute + 20*time.Second,
		5*time.Minute + 30*time.Second, 6*time.Minute + 30*time.Second}, at)
}

func TestArgoNoDataIsAnErrorAndNaNAFailure(t *testing.T) {
	// An empty result cannot be indexed: Error (evaluate.go:23-33), retried
	// every 10s; the canary that never serves aborts at 40s.
	got := ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(time.Minute, 0)},
		func(Query) Measurement { return Measurement{NoData: true} })
	last := got[len(got)-1]
	assert.Equal(t, kw{40 * time.Second, KindRollback, 0}, kw{last.At, last.Kind, last.Weight})
	assert.Equal(t, ArgoError, last.Phase)

	// NaN fails "result[0] <= 1" (evaluate.go:40-50): with failureLimit 0 the
	// first NaN aborts.
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(time.Minute, 0)},
		func(Query) Measurement { return Measurement{Value: math.NaN()} })
	last = got[len(got)-1]
	assert.Equal(t, kw{0, KindRollback, 0}, kw{last.At, last.Kind, last.Weight})
	assert.Equal(t, ArgoFailed, last.Phase)

	// With both conditions NaN is Inconclusive (evaluate.go:52-54) and
	// inconclusiveLimit 0 pauses the rollout at the first (analysis.go:672-679,
	// rollout/analysis.go:377-378).
	both := []ArgoMetric{{Name: "error-rate", Interval: time.Minute,
		SuccessCondition: &Condition{"<=", 1}, FailureCondition: &Condition{">", 1}}}
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: both}, func(q Query) Measurement {
		if q.At >= 3*time.Minute {
			return Measurement{Value: math.NaN()}
		}
		return Measurement{Value: 0.5}
	})
	last = got[len(got)-1]
	assert.Equal(t, kw{3 * time.Minute, KindPause, 10}, kw{last.At, last.Kind, last.Weight})
	// Without any condition every answer that returns passes, and an empty one too.
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: []ArgoMetric{{Name: "x", Interval: time.Minute}}},
		func(Query) Measurement { return Measurement{NoData: true} })
	assert.Equal(t, KindPromote, got[len(got)-1].Kind)
}

func TestArgoFailureLimitCountAndInitialDelay(t *testing.T) {
	bad := func(q Query) Measurement {
		if q.Metric == 0 {
			return Measurement{Value: 2.5}
		}
		return Measurement{Value: 120}
	}
	// The documentation's 5m interval with failureLimit 3: the fourth failed
	// measurement (0, 5m, 10m, 15m) fails the metric.
	got := ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: argoChecks(5*time.Minute, 3)}, bad)
	last := got[len(got)-1]
	assert.Equal(t, kw{15 * time.Minute, KindRollback, 0}, kw{last.At, last.Kind, last.Weight})
	// initialDelay 1m shifts every measurement by a minute.
	m := argoChecks(5*time.Minute, 3)
	for i := range m {
		m[i].InitialDelay = time.Minute
	}
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: m}, bad)
	assert.Equal(t, 16*time.Minute, got[len(got)-1].At)
	// count 3 with failureLimit 3: three measurements, then the metric is
	// Successful and no longer measured; the steps promote at 30m.
	m = argoChecks(time.Minute, 3)
	for i := range m {
		m[i].Count = 3
	}
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), Metrics: m}, bad)
	assert.Equal(t, kw{30 * time.Minute, KindPromote, 100}, kinds(got, true)[len(kinds(got, true))-1])
	assert.Len(t, got, 3+2*3+1)
	// startingStep 1: the run begins at the second step.
	got = ReplayArgo(ArgoConfig{Steps: seedSteps(), StartingStep: 1, Metrics: argoChecks(time.Minute, 0)}, bad)
	last = got[len(got)-1]
	assert.Equal(t, kw{15 * time.Minute, KindRollback, 0}, kw{last.At, last.Kind, last.Weight})
}
