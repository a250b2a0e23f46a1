package decisionbench

import (
	"fmt"
	"math"
	"time"
)

// This file holds the replay API: the models of Flagger's and Argo Rollouts'
// decision rules, driven by a scripted metric stream, returning the sequence of
// decisions the tool would make. The benchmark's Flagger and Argo rules run the
// same two functions on the simulated world; internal/anchors compares them with
// the live controllers on the same stream. Every behaviour cites the line of the
// anchor's source that it encodes (the package doc lists them all).

// Measurement is the answer to one query of one metric.
type Measurement struct {
	// Value is the first sample of the result. NaN is a series whose value is
	// NaN, as 0/0 when a rate's denominator is zero.
	Value float64
	// NoData: the query returned no series at all (an empty vector), as when
	// the canary has never served a request and its counters do not exist.
	NoData bool
	// Err: the query itself failed (backend unreachable, HTTP 5xx, timeout).
	Err bool
}

// Query is one query a model makes of the stream.
type Query struct {
	// Tick numbers the queries of one metric. Flagger: the analysis tick (tick
	// 0 detects the new revision, tick 1 routes the first step, analyses run
	// from tick 2). Argo: the metric's measurement, 0 for the first, retries
	// after an error included.
	Tick int
	// Metric is the index of the metric in the config's Metrics.
	Metric int
	// At is when the query runs, since the model's time origin (Flagger: the
	// tick that detected the revision; Argo: the rollout's first step).
	At time.Duration
	// Weight is the canary's traffic weight, in percent, while the query runs.
	Weight float64
}

// Stream answers a model's queries: the scripted metric stream.
type Stream func(Query) Measurement

// DecisionKind is what a tool did at one instant.
type DecisionKind string

const (
	// KindStart: the rollout began with the canary at weight 0 (Flagger: the
	// tick that detected the revision and scaled the canary up; Argo: the
	// rollout's start).
	KindStart DecisionKind = "start"
	// KindAdvance: the canary's weight was raised to Weight (Flagger: after a
	// passing analysis, or the first step; Argo: a setWeight step).
	KindAdvance DecisionKind = "advance"
	// KindHold: Flagger's analysis failed at this tick; the weight stays and
	// the failed-checks counter grew ("Halt advancement").
	KindHold DecisionKind = "hold"
	// KindMeasure: Argo completed one measurement of Metric; Phase is its
	// phase (Successful, Failed, Inconclusive, Error).
	KindMeasure DecisionKind = "measure"
	// KindPromote: the new version was made the stable one (Flagger: phase
	// Promoting, the primary gets the canary's spec while the canary still
	// takes Weight; Argo: every step done, fully promoted, Weight 100).
	KindPromote DecisionKind = "promote"
	// KindFinalize: Flagger routed all traffic to the promoted primary
	// (phase Finalising); Weight 0.
	KindFinalize DecisionKind = "finalize"
	// KindSucceed: Flagger scaled the canary to zero (phase Succeeded).
	KindSucceed DecisionKind = "succeed"
	// KindRollback: traffic went back to stable (Flagger: phase Failed; Argo:
	// the rollout aborted); Weight 0.
	KindRollback DecisionKind = "rollback"
	// KindPause: Argo paused the rollout on an inconclusive analysis; it waits
	// for a person, so the replay ends.
	KindPause DecisionKind = "pause"
)

// Decision is one decision of a replay.
type Decision struct {
	At   time.Duration
	Kind DecisionKind
	// Weight is the canary's weight after the decision.
	Weight float64
	// Tick is Flagger's tick number; for Argo's measurements, the metric's
	// measurement number (Query.Tick); 0 otherwise.
	Tick int
	// Metric and Phase describe an Argo measurement (KindMeasure); Metric also
	// names the metric that failed a Flagger analysis or ended an Argo run.
	Metric string
	Phase  string
	// Reason is the tool's message, paraphrased.
	Reason string
}

func (d Decision) String() string {
	s := fmt.Sprintf("%s %s weight %g", d.At, d.Kind, d.Weight)
	if d.Metric != "" {
		s += " " + d.Metric
	}
	if d.Phase != "" {
		s += " " + d.Phase
	}
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// DefaultHorizon is how long a replay runs when the config sets no horizon: a
// model that neither promotes nor rolls back by then has held.
const DefaultHorizon = 2 * time.Hour

// ---------------------------------------------------------------------------
// Flagger

// Flagger's defaults (fluxcd/flagger v1.44.0).
const (
	// FlaggerDefaultInterval: pkg/apis/flagger/v1beta1/canary.go:33, applied
	// by GetAnalysisInterval at canary.go:638-640.
	FlaggerDefaultInterval = 60 * time.Second
	// FlaggerMinInterval: canary.go:647-649 raises a shorter interval to 10s.
	FlaggerMinInterval = 10 * time.Second
	// FlaggerDefaultThreshold: canary.go:655-659, a threshold of 0 means 1.
	FlaggerDefaultThreshold = 1
	// FlaggerTotalWeight: scheduler.go:53-56, and the default maxWeight
	// (scheduler.go:49-50).
	FlaggerTotalWeight = 100
)

// FlaggerConfig is a Canary's analysis (spec.analysis) as the model reads it.
// The zero value of each field behaves as Flagger's default.
type FlaggerConfig struct {
	// Interval is analysis.interval. 0: 60s; under 10s: 10s.
	Interval time.Duration
	// Threshold is analysis.threshold, the failed checks that roll back. 0: 1.
	Threshold int
	// StepWeight, StepWeights and MaxWeight are analysis.stepWeight,
	// .stepWeights and .maxWeight. StepWeight wins when set
	// (scheduler.go:60-61); with StepWeights the max weight is their last, at
	// most 100 (scheduler.go:43-45); MaxWeight 0 means 100 (scheduler.go:46-50).
	// With neither StepWeight nor StepWeights Flagger never routes traffic
	// to the canary (scheduler.go:493): the replay only starts.
	StepWeight  int
	StepWeights []int
	MaxWeight   int
	// Metrics are the checks of one analysis, in the order Flagger queries
	// them: built-in and in-line query metrics in spec order, then
	// MetricTemplate metrics in spec order (scheduler.go:765-773). No metrics:
	// every analysis passes.
	Metrics []FlaggerMetric
	// Horizon ends the replay. 0: DefaultHorizon.
	Horizon time.Duration
}

// FlaggerMetric is one metric check with its thresholdRange: a value below
// Min or above Max fails the analysis (scheduler_metrics.go:167-176 for
// request-success-rate, 239-248 in-line queries, 331-340 templates).
type FlaggerMetric struct {
	Name     string
	Min, Max *float64
}

func (c FlaggerConfig) interval() time.Duration {
	switch {
	case c.Interval == 0:
		return FlaggerDefaultInterval
	case c.Interval < FlaggerMinInterval:
		return FlaggerMinInterval
	}
	return c.Interval
}

func (c FlaggerConfig) threshold() int {
	if c.Threshold > 0 {
		return c.Threshold
	}
	return FlaggerDefaultThreshold
}

func (c FlaggerConfig) horizon() time.Duration {
	if c.Horizon > 0 {
		return c.Horizon
	}
	return DefaultHorizon
}

// maxWeight follows scheduler.go:41-51.
func (c FlaggerConfig) maxWeight() int {
	if n := len(c.StepWeights); n > 0 {
		return min(FlaggerTotalWeight, c.StepWeights[n-1])
	}
	if c.MaxWeight > 0 {
		return c.MaxWeight
	}
	return FlaggerTotalWeight
}

// nextStepWeight follows scheduler.go:58-88: the increment from weight.
func (c FlaggerConfig) nextStepWeight(weight int) int {
	if c.StepWeight > 0 || len(c.StepWeights) == 0 {
		return c.StepWeight
	}
	maxStep := FlaggerTotalWeight - weight
	if maxStep == 0 {
		return 1
	}
	if weight == 0 {
		return min(maxStep, c.StepWeights[0])
	}
	for i := 0; i < len(c.StepWeights)-1; i++ {
		if c.StepWeights[i] == weight {
			return min(maxStep, c.StepWeights[i+1]-weight)
		}
	}
	return maxStep
}

// String describes the config as the Canary's analysis settings.
func (c FlaggerConfig) String() string {
	s := fmt.Sprintf("interval %s, threshold %d", short(c.interval()), c.threshold())
	switch {
	case c.StepWeight > 0:
		s += fmt.Sprintf(", stepWeight %d, maxWeight %d", c.StepWeight, c.maxWeight())
	case len(c.StepWeights) > 0:
		s += fmt.Sprintf(", stepWeights %v", c.StepWeights)
	}
	return s
}

// ReplayFlagger runs Flagger's canary analysis (the progressive-traffic
// strategy of pkg/controller/scheduler.go, advanceCanary) on stream, one tick
// per analysis interval, and returns its decisions:
//
//   - tick 0 detects the new revision and scales the canary up (phase
//     Progressing, weight 0; scheduler.go:323 and checkCanaryStatus at
//     scheduler.go:908-930);
//   - at the start of every later tick in phase Progressing, a failed-checks
//     count that has reached the threshold rolls back (scheduler.go:430-438):
//     the tick after the failure that reached it;
//   - tick 1, at weight 0, runs no metric check (scheduler.go:449-458) and
//     routes the first step (scheduler.go:493-503, runCanary at 570-613);
//   - every later tick runs the analysis: the metrics in order, stopping at the
//     first that fails (scheduler_metrics.go:143-255, 271-350). A query error,
//     an empty result and NaN all fail the check: Flagger's Prometheus client
//     returns "no values found" for an empty result or NaN
//     (pkg/metrics/providers/prometheus.go:170-172) and the analysis halts on
//     any error (scheduler_metrics.go:154-162, 317-325). A failed analysis adds
//     one to the failed-checks count (scheduler.go:461-465), which nothing
//     resets during the rollout (only a new revision, scheduler.go:340-346),
//     and the weight stays (KindHold);
//   - a passing analysis below the max weight advances one step, capped at 100
//     (scheduler.go:570-613); at or above it, promotes (phase Promoting,
//     scheduler.go:617-636);
//   - the next tick routes all traffic to the primary (phase Finalising,
//     scheduler.go:381-389, runPromotionTrafficShift at 519-529), and the one
//     after scales the canary down (phase Succeeded, scheduler.go:393-409).
//
// A replay that reaches the horizon without a rollback or a promotion has held.
// Confirmation webhooks, mirroring, A/B and blue/green are not modelled, and
// the canary's pods are taken to be ready at every tick.
func ReplayFlagger(cfg FlaggerConfig, stream Stream) []Decision {
	interval, threshold, horizon := cfg.interval(), cfg.threshold(), cfg.horizon()
	maxWeight := cfg.maxWeight()
	out := []Decision{{At: 0, Kind: KindStart, Reason: "new revision detected, canary scaled up"}}
	const (
		progressing = iota
		promoting
		finalising
	)
	phase, weight, failed := progressing, 0, 0
	for tick := 1; time.Duration(tick)*interval <= horizon; tick++ {
		at := time.Duration(tick) * interval
		switch phase {
		case promoting:
			phase = finalising
			out = append(out, Decision{At: at, Tick: tick, Kind: KindFinalize, Reason: "all traffic routed to the primary"})
			continue
		case finalising:
			return append(out, Decision{At: at, Tick: tick, Kind: KindSucceed, Reason: "promotion completed, canary scaled to zero"})
		}
		if failed >= threshold {
			return append(out, Decision{At: at, Tick: tick, Kind: KindRollback,
				Reason: fmt.Sprintf("failed checks threshold reached %d", failed)})
		}
		if weight > 0 {
			if metric, why, ok := flaggerAnalysis(cfg.Metrics, stream, tick, at, weight); !ok {
				failed++
				out = append(out, Decision{At: at, Tick: tick, Kind: KindHold, Weight: float64(weight), Metric: metric,
					Reason: fmt.Sprintf("halt advancement: %s (failed checks %d)", why, failed)})
				continue
			}
		}
		step := cfg.nextStepWeight(weight)
		if step <= 0 {
			continue
		}
		if weight < maxWeight {
			weight = min(weight+step, FlaggerTotalWeight)
			out = append(out, Decision{At: at, Tick: tick, Kind: KindAdvance, Weight: float64(weight)})
			continue
		}
		phase = promoting
		out = append(out, Decision{At: at, Tick: tick, Kind: KindPromote, Weight: float64(weight),
			Reason: "max weight reached, primary updated to the canary's spec"})
	}
	return out
}

// flaggerAnalysis runs the metric checks of one tick in order, stopping at the
// first that fails; it returns the failing metric and why.
func flaggerAnalysis(metrics []FlaggerMetric, stream Stream, tick int, at time.Duration, weight int) (string, string, bool) {
	for i, m := range metrics {
		r := stream(Query{Tick: tick, Metric: i, At: at, Weight: float64(weight)})
		switch {
		case r.Err:
			return m.Name, "query failed", false
		case r.NoData || math.IsNaN(r.Value):
			return m.Name, "no values found", false
		case m.Min != nil && r.Value < *m.Min:
			return m.Name, fmt.Sprintf("%s %g < %g", m.Name, r.Value, *m.Min), false
		case m.Max != nil && r.Value > *m.Max:
			return m.Name, fmt.Sprintf("%s %g > %g", m.Name, r.Value, *m.Max), false
		}
	}
	return "", "", true
}

// ---------------------------------------------------------------------------
// Argo Rollouts

// Argo Rollouts' defaults (argoproj/argo-rollouts v1.10.2).
const (
	// ArgoErrorRetryInterval: analysis/analysis.go:30. A measurement that
	// errored is retried this long after it finished, whatever the metric's
	// interval (analysis.go:233-235, 736-737).
	ArgoErrorRetryInterval = 10 * time.Second
	// ArgoDefaultConsecutiveErrorLimit: utils/defaults/defaults.go:37, applied
	// at defaults.go:250-255.
	ArgoDefaultConsecutiveErrorLimit = 4
)

// ArgoConfig is a canary Rollout with a background analysis, as the model
// reads it. The zero value of each field behaves as Argo Rollouts' default.
type ArgoConfig struct {
	// Steps are the canary steps: each sets the weight and then, when Pause is
	// positive, pauses that long (pause: {duration}). After the last the
	// rollout is fully promoted (rollout/canary.go:307-344: setWeight and
	// timed pause steps complete on their own; the background analysis does
	// not hold them).
	Steps []ArgoStep
	// StartingStep is strategy.canary.analysis.startingStep: the background
	// analysis starts when the rollout reaches this step
	// (utils/replicaset/canary.go:435-444). 0: at once.
	StartingStep int
	// Metrics are the AnalysisTemplate's metrics.
	Metrics []ArgoMetric
	// Horizon ends the replay. 0: DefaultHorizon.
	Horizon time.Duration
}

// ArgoStep is a setWeight step, followed by a timed pause when Pause > 0.
type ArgoStep struct {
	SetWeight float64
	Pause     time.Duration
}

// ArgoMetric is one metric of an AnalysisTemplate. The zero value of each
// field behaves as Argo's default.
type ArgoMetric struct {
	Name string
	// Interval between measurements. 0: measured once (count defaults to 1
	// without an interval, pkg/apis/rollouts/v1alpha1/analysis_types.go:159-169).
	Interval time.Duration
	// InitialDelay before the first measurement (analysis.go:204-218).
	InitialDelay time.Duration
	// Count of measurements after which the metric is Successful
	// (analysis.go:224-228, 612-648); 0: unlimited with an interval.
	Count int
	// FailureLimit: the metric fails when failed measurements exceed it
	// (analysis.go:662-670). 0 (Argo's default): the first failure fails it;
	// negative: never.
	FailureLimit int
	// InconclusiveLimit: the metric is inconclusive when inconclusive
	// measurements exceed it (analysis.go:672-679). Default 0.
	InconclusiveLimit int
	// ConsecutiveErrorLimit: the metric errors when consecutive errors exceed
	// it (analysis.go:681-686). nil: 4.
	ConsecutiveErrorLimit *int
	// SuccessCondition and FailureCondition, when set, are "result[0] Op
	// Value". Neither: every measurement that returns is Successful
	// (utils/evaluate/evaluate.go:37-39).
	SuccessCondition, FailureCondition *Condition
}

// Condition is the expression "result[0] Op Value".
type Condition struct {
	// Op is one of <, <=, >, >=.
	Op    string
	Value float64
}

func (c Condition) String() string { return fmt.Sprintf("result[0] %s %g", c.Op, c.Value) }

// holds evaluates the condition the way Go's comparisons (and so expr's) do:
// every comparison with NaN is false.
func (c Condition) holds(v float64) bool {
	switch c.Op {
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	}
	return false
}

// Int returns a pointer to v, for ArgoMetric.ConsecutiveErrorLimit.
func Int(v int) *int { return &v }

// Float returns a pointer to v, for FlaggerMetric.Min and Max.
func Float(v float64) *float64 { return &v }

func (m ArgoMetric) consecutiveErrorLimit() int {
	if m.ConsecutiveErrorLimit != nil {
		return *m.ConsecutiveErrorLimit
	}
	return ArgoDefaultConsecutiveErrorLimit
}

// effectiveCount is analysis_types.go:159-169: Count, or 1 without an interval;
// 0 means unlimited.
func (m ArgoMetric) effectiveCount() int {
	if m.Count == 0 && m.Interval == 0 {
		return 1
	}
	return m.Count
}

// String describes the metric's settings.
func (m ArgoMetric) String() string {
	s := fmt.Sprintf("interval %s, failureLimit %d", short(m.Interval), m.FailureLimit)
	if m.InitialDelay > 0 {
		s += ", initialDelay " + short(m.InitialDelay)
	}
	if m.Count > 0 {
		s += fmt.Sprintf(", count %d", m.Count)
	}
	if m.InconclusiveLimit > 0 {
		s += fmt.Sprintf(", inconclusiveLimit %d", m.InconclusiveLimit)
	}
	if m.ConsecutiveErrorLimit != nil {
		s += fmt.Sprintf(", consecutiveErrorLimit %d", *m.ConsecutiveErrorLimit)
	}
	return s
}

// Argo's measurement and metric phases.
const (
	ArgoSuccessful   = "Successful"
	ArgoFailed       = "Failed"
	ArgoInconclusive = "Inconclusive"
	ArgoError        = "Error"
)

// argoPhase evaluates one measurement (utils/evaluate/evaluate.go:18-58,
// metricproviders/prometheus/prometheus.go:84-121).
func argoPhase(m ArgoMetric, r Measurement) string {
	switch {
	case r.Err:
		// prometheus.go:93-96: a failed query marks the measurement Error.
		return ArgoError
	case m.SuccessCondition == nil && m.FailureCondition == nil:
		// evaluate.go:37-39: no condition, always Successful.
		return ArgoSuccessful
	case r.NoData:
		// An empty vector has no result[0]: evaluating the condition fails,
		// and evaluate.go:23-33 marks the measurement Error
		// (utils/evaluate/evaluate_test.go:365-373).
		return ArgoError
	}
	success, fail := false, false
	if m.SuccessCondition != nil {
		success = m.SuccessCondition.holds(r.Value)
	}
	if m.FailureCondition != nil {
		fail = m.FailureCondition.holds(r.Value)
	}
	switch {
	case m.FailureCondition == nil:
		fail = !success // evaluate.go:40-42
	case m.SuccessCondition == nil:
		success = !fail // evaluate.go:43-45
	}
	switch {
	case fail:
		return ArgoFailed // evaluate.go:48-50
	case !success:
		return ArgoInconclusive // evaluate.go:52-54: NaN with both conditions
	}
	return ArgoSuccessful
}

// argoResult is a metric's MetricResult: the counters of analysis.go:385-405.
type argoResult struct {
	count, failed, inconclusive, consecutiveErrors int
	measurements                                   int
	next                                           time.Duration
	done                                           bool
}

// assess is assessMetricFailureInconclusiveOrError (analysis.go:658-687):
// later checks win, so Error beats Inconclusive beats Failed.
func (r argoResult) assess(m ArgoMetric) (phase, why string) {
	if m.FailureLimit >= 0 && r.failed > m.FailureLimit {
		phase, why = ArgoFailed, fmt.Sprintf("failed (%d) > failureLimit (%d)", r.failed, m.FailureLimit)
	}
	if r.inconclusive > m.InconclusiveLimit {
		phase, why = ArgoInconclusive, fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)", r.inconclusive, m.InconclusiveLimit)
	}
	if limit := m.consecutiveErrorLimit(); r.consecutiveErrors > limit {
		phase, why = ArgoError, fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d)", r.consecutiveErrors, limit)
	}
	return phase, why
}

// argoWorse orders the completed phases from best to worst
// (utils/analysis/helpers.go:47-55).
func argoWorse(a, b string) bool {
	rank := map[string]int{ArgoSuccessful: 0, ArgoInconclusive: 3, ArgoError: 4, ArgoFailed: 5}
	return rank[b] > rank[a]
}

// ReplayArgo runs a canary Rollout's steps with a background AnalysisRun on
// stream and returns its decisions:
//
//   - the steps set the weight (KindAdvance) and pause; after the last the
//     rollout is fully promoted (KindPromote, weight 100) and the background
//     run is cancelled (rollout/analysis.go:73-84);
//   - the run starts at StartingStep; each metric is first measured after its
//     InitialDelay (analysis/analysis.go:204-222), then its interval after the
//     previous measurement finished, or ArgoErrorRetryInterval (10s) after a
//     measurement that errored (analysis.go:233-247, 735-753); metrics due at
//     the same instant are measured in the same reconcile (analysis.go:312-426);
//   - a measurement is Error when the query fails (prometheus.go:93-96) or the
//     result is empty and a condition reads result[0] (evaluate.go:23-33);
//     Failed when the success condition is false, NaN included, or the failure
//     condition true; Inconclusive when both conditions are set and neither
//     holds (evaluate.go:36-57);
//   - Successful, Failed and Inconclusive count toward count and reset the
//     consecutive errors; Error only adds to them (analysis.go:385-405);
//   - a metric is Failed when failed > failureLimit, Inconclusive when
//     inconclusive > inconclusiveLimit, Error when consecutive errors >
//     consecutiveErrorLimit (analysis.go:658-687), and Successful when it
//     reaches its count (analysis.go:612-648);
//   - once a metric has Failed, Errored or is Inconclusive the run terminates:
//     no further measurements (analysis.go:179, 200-203) and the run takes the
//     worst phase (analysis.go:560-567, utils/analysis/helpers.go:47-55, 84-101) at once (the
//     status update re-queues the run, analysis/controller.go:138-140);
//   - Failed or Error aborts the rollout, traffic back to stable
//     (rollout/analysis.go:379-385, rollout/trafficrouting.go:204-205);
//     Inconclusive pauses it for a person (rollout/analysis.go:377-378).
//
// A measurement due at the instant the last pause ends is taken before the
// promotion: the background run is cancelled only once the rollout is fully
// promoted (rollout/analysis.go:73-84), so its verdict can still abort it
// (seen live: internal/anchors TestValidateArgoModelRegressionAtLastStep).
// Query duration, pod readiness and reconcile
// latency are taken to be zero.
func ReplayArgo(cfg ArgoConfig, stream Stream) []Decision {
	horizon := cfg.Horizon
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	out := []Decision{{At: 0, Kind: KindStart, Reason: "rollout started"}}
	// The steps' timeline: when each step's weight applies, when the run
	// starts, when the rollout is promoted.
	type change struct {
		at     time.Duration
		weight float64
	}
	var changes []change
	var t, runStart time.Duration
	for i, s := range cfg.Steps {
		if i == cfg.StartingStep {
			runStart = t
		}
		changes = append(changes, change{t, s.SetWeight})
		t += s.Pause
	}
	if cfg.StartingStep >= len(cfg.Steps) {
		runStart = -1 // never: the rollout completes first
	}
	promoteAt := t
	weightAt := func(at time.Duration) float64 {
		w := 0.0
		for _, c := range changes {
			if c.at <= at {
				w = c.weight
			}
		}
		return w
	}
	results := make([]argoResult, len(cfg.Metrics))
	for i, m := range cfg.Metrics {
		results[i].next = runStart + m.InitialDelay
		results[i].done = runStart < 0
	}
	nextChange := 0
	emitChanges := func(until time.Duration) {
		for ; nextChange < len(changes) && changes[nextChange].at <= until; nextChange++ {
			c := changes[nextChange]
			out = append(out, Decision{At: c.at, Kind: KindAdvance, Weight: c.weight, Reason: "setWeight"})
		}
	}
	for {
		// The earliest due measurement.
		due := time.Duration(-1)
		for _, r := range results {
			if !r.done && (due < 0 || r.next < due) {
				due = r.next
			}
		}
		if due < 0 || due > promoteAt {
			if promoteAt > horizon {
				emitChanges(horizon)
				return out
			}
			emitChanges(promoteAt)
			return append(out, Decision{At: promoteAt, Kind: KindPromote, Weight: 100, Reason: "all steps completed, fully promoted"})
		}
		if due > horizon {
			emitChanges(horizon)
			return out
		}
		emitChanges(due)
		weight := weightAt(due)
		worst, worstMetric, worstWhy := "", "", ""
		for i, m := range cfg.Metrics {
			r := &results[i]
			if r.done || r.next != due {
				continue
			}
			phase := argoPhase(m, stream(Query{Tick: r.measurements, Metric: i, At: due, Weight: weight}))
			out = append(out, Decision{At: due, Kind: KindMeasure, Weight: weight, Tick: r.measurements, Metric: m.Name, Phase: phase})
			r.measurements++
			switch phase {
			case ArgoSuccessful:
				r.count++
				r.consecutiveErrors = 0
			case ArgoFailed:
				r.failed++
				r.count++
				r.consecutiveErrors = 0
			case ArgoInconclusive:
				r.inconclusive++
				r.count++
				r.consecutiveErrors = 0
			case ArgoError:
				r.consecutiveErrors++
			}
			if p, why := r.assess(m); p != "" {
				r.done = true
				if worst == "" || argoWorse(worst, p) {
					worst, worstMetric, worstWhy = p, m.Name, why
				}
				continue
			}
			if c := m.effectiveCount(); c > 0 && r.count >= c {
				r.done = true // Successful: count reached
				continue
			}
			switch {
			case phase == ArgoError:
				r.next = due + ArgoErrorRetryInterval
			case m.Interval > 0:
				r.next = due + m.Interval
			default:
				r.done = true
			}
		}
		switch worst {
		case ArgoFailed, ArgoError:
			return append(out, Decision{At: due, Kind: KindRollback, Metric: worstMetric, Phase: worst,
				Reason: fmt.Sprintf("analysis %s: %s", worst, worstWhy)})
		case ArgoInconclusive:
			return append(out, Decision{At: due, Kind: KindPause, Weight: weight, Metric: worstMetric, Phase: worst,
				Reason: fmt.Sprintf("analysis Inconclusive: %s", worstWhy)})
		}
	}
}
