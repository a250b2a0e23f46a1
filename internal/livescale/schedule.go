package livescale

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// StepTimes is what the Recorder saw of one step of one rollout: the times of
// its step-started and step-completed events and of its first measured event.
type StepTimes struct {
	Kind                                 progressive.StepKind
	Started, Completed, FirstMeasurement time.Time
}

// Timeline is what the Recorder saw of one rollout.
type Timeline struct {
	Steps []StepTimes
	// Succeeded is the time of the succeeded event; RollbackReason is set when
	// a rollback started instead.
	Succeeded      time.Time
	RollbackReason string
	// Errors are the messages of error events (transient failures retried).
	Errors []string
}

// Recorder is a rollout.Observer that keeps, per rollout, when each step
// started, completed and was first measured, and the canary weight the router
// last reported (the share of requests promtest's App sends to the canary).
// Observers run synchronously inside Reconcile, so it only takes a mutex and
// appends.
type Recorder struct {
	mu        sync.Mutex
	timelines map[string]*Timeline
	weights   map[string]float64
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{timelines: map[string]*Timeline{}, weights: map[string]float64{}}
}

var _ rollout.Observer = (*Recorder)(nil)

// Observe implements rollout.Observer.
func (r *Recorder) Observe(_ context.Context, e rollout.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tl := r.timelines[e.Rollout]
	if tl == nil {
		tl = &Timeline{}
		r.timelines[e.Rollout] = tl
	}
	step := func() *StepTimes {
		for len(tl.Steps) <= e.Step {
			tl.Steps = append(tl.Steps, StepTimes{})
		}
		s := &tl.Steps[e.Step]
		if s.Kind == "" {
			s.Kind = e.StepKind
		}
		return s
	}
	switch e.Type {
	case rollout.EventStepStarted:
		if s := step(); s.Started.IsZero() {
			s.Started = e.Time
		}
	case rollout.EventStepCompleted:
		if s := step(); s.Completed.IsZero() {
			s.Completed = e.Time
		}
	case rollout.EventMeasured:
		if s := step(); s.FirstMeasurement.IsZero() {
			s.FirstMeasurement = e.Time
		}
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			r.weights[e.Rollout] = e.Routes.CanaryWeight
		}
	case rollout.EventSucceeded:
		tl.Succeeded = e.Time
	case rollout.EventRollbackStarted:
		if tl.RollbackReason == "" {
			tl.RollbackReason = e.Message
		}
	case rollout.EventError:
		tl.Errors = append(tl.Errors, e.Message)
	}
}

// Weight is the canary weight the router last reported for rollout id.
func (r *Recorder) Weight(id string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.weights[id]
}

// Timeline returns a copy of what was seen of rollout id.
func (r *Recorder) Timeline(id string) Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	tl := r.timelines[id]
	if tl == nil {
		return Timeline{}
	}
	out := *tl
	out.Steps = slices.Clone(tl.Steps)
	out.Errors = slices.Clone(tl.Errors)
	return out
}

// Readiness is when the cluster reached the state a waiting step waits for,
// as a watch saw it: the canary's pods ready (deploy) and the promoted stable
// pods ready (promote). Zero when never seen.
type Readiness struct {
	CanaryReady, PromotedReady time.Time
}

// StepLag is one step of one rollout against its plan.
type StepLag struct {
	Rollout string
	// Step is the step's index; len(plan.Steps) is the end of the rollout (the
	// succeeded event).
	Step int
	Kind progressive.StepKind
	// After is the kind of the step before, whose planned end Planned is.
	After progressive.StepKind
	// Planned is when the plan says the step should start: the previous step's
	// planned end. Actual is when it started (its step-started event).
	Planned, Actual time.Time
	Lag             time.Duration
	// Basis says what Planned was derived from: "instant" (the previous step
	// takes no time), "analysis" (the previous step's start plus the larger of
	// its soak and its first measurement's delay), "ready" (when the watch saw
	// the pods the previous step waits for become ready), "first-measurement"
	// (a measurement against its step's start plus its window).
	Basis string
}

func (l StepLag) String() string {
	return fmt.Sprintf("%s step %d (%s): lag %s (planned %s from %s, started %s)", l.Rollout, l.Step, orString(string(l.Kind), "end"),
		l.Lag.Round(time.Millisecond), l.Planned.Format("15:04:05.000"), l.Basis, l.Actual.Format("15:04:05.000"))
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Schedule compares a rollout's timeline with its plan. It returns the lag of
// every step but the first (which starts when Start is called: nothing
// precedes it) and of the rollout's end, the lag of each analysis step's first
// measurement, and the problems that prevented a comparison (a step never
// seen, a readiness the watch never saw).
//
// The plan's time of a step is the planned end of the step before it:
//
//   - an instant step (setWeight, finalize) ends when it starts;
//   - an analysis ends at the larger of its deadline (start + Duration) and its
//     first measurement (start + analysis.FirstMeasurement: the window, or
//     InitialDelay); its first measurement is due at the latter;
//   - deploy and promote end when the pods they wait for are ready (ready),
//     and never before they started.
//
// Every plan time is anchored on the actual start of the step before, so a lag
// is counted once, at the step where it arose, not again at every step after.
// A step's actual start is its step-started event, which the runner emits
// after saving the state; the runner's own clock for the step (the state's
// StartedAt, from which the analysis' deadline and first measurement are
// computed) starts before that save. A slow save therefore shows as lag of
// the step, and as a first measurement that came "early" (a negative lag) by
// up to the save's duration.
func Schedule(id string, plan progressive.Plan, tl Timeline, ready Readiness, vars analysis.Vars) (lags, first []StepLag, problems []string) {
	n := len(plan.Steps)
	started := func(i int) time.Time {
		if i < len(tl.Steps) {
			return tl.Steps[i].Started
		}
		return time.Time{}
	}
	for i := 1; i <= n; i++ {
		prev := plan.Steps[i-1]
		prevStart := started(i - 1)
		actual := tl.Succeeded
		kind := progressive.StepKind("")
		if i < n {
			actual = started(i)
			kind = plan.Steps[i].Kind()
		}
		if prevStart.IsZero() {
			problems = append(problems, fmt.Sprintf("%s: step %d (%s) never started", id, i-1, prev.Kind()))
			break
		}
		if actual.IsZero() {
			problems = append(problems, fmt.Sprintf("%s: step %d (%s) never started", id, i, orString(string(kind), "end")))
			break
		}
		planned, basis := prevStart, "instant"
		switch prev.Kind() {
		case progressive.KindAnalyze:
			planned, basis = prevStart.Add(AnalysisDuration(plan, *prev.Analyze, vars)), "analysis"
			if fm := tl.Steps[i-1].FirstMeasurement; !fm.IsZero() {
				due := prevStart.Add(FirstMeasurementDelay(plan, *prev.Analyze, vars))
				first = append(first, StepLag{Rollout: id, Step: i - 1, Kind: prev.Kind(), After: prev.Kind(), Planned: due, Actual: fm, Lag: fm.Sub(due), Basis: "first-measurement"})
			} else {
				problems = append(problems, fmt.Sprintf("%s: step %d (analyze) completed without a measured event", id, i-1))
			}
		case progressive.KindDeploy, progressive.KindPromote:
			at := ready.CanaryReady
			if prev.Kind() == progressive.KindPromote {
				at = ready.PromotedReady
			}
			if at.IsZero() {
				problems = append(problems, fmt.Sprintf("%s: step %d (%s): the watch never saw its pods ready", id, i-1, prev.Kind()))
				continue
			}
			if at.After(planned) {
				planned = at
			}
			basis = "ready"
		}
		lags = append(lags, StepLag{Rollout: id, Step: i, Kind: kind, After: prev.Kind(), Planned: planned, Actual: actual, Lag: actual.Sub(planned), Basis: basis})
	}
	return lags, first, problems
}

// FirstMeasurementDelay is how long after an analysis step starts its first
// measurement is due: the largest analysis.FirstMeasurement of its checks.
func FirstMeasurementDelay(plan progressive.Plan, a progressive.AnalyzeStep, vars analysis.Vars) time.Duration {
	var d time.Duration
	for _, c := range plan.ChecksFor(a) {
		d = max(d, analysis.FirstMeasurement(c, vars))
	}
	return d
}

// AnalysisDuration is how long a healthy analysis step takes by its plan: the
// larger of its Duration (the deadline) and its first measurement's delay.
func AnalysisDuration(plan progressive.Plan, a progressive.AnalyzeStep, vars analysis.Vars) time.Duration {
	return max(a.Duration, FirstMeasurementDelay(plan, a, vars))
}

// Distribution summarises durations: nearest-rank percentiles.
type Distribution struct {
	N                  int
	P50, P90, P99, Max time.Duration
	Min, Mean          time.Duration
}

// Distribute computes the distribution of ds.
func Distribute(ds []time.Duration) Distribution {
	if len(ds) == 0 {
		return Distribution{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Distribution{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1], Min: s[0], Mean: sum / time.Duration(len(s))}
}

func (d Distribution) String() string {
	if d.N == 0 {
		return "n=0"
	}
	r := func(x time.Duration) string { return x.Round(time.Millisecond).String() }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s (min %s, mean %s)", d.N, r(d.P50), r(d.P90), r(d.P99), r(d.Max), r(d.Min), r(d.Mean))
}

// lagsOf returns the lags of ls.
func lagsOf(ls []StepLag) []time.Duration {
	out := make([]time.Duration, len(ls))
	for i, l := range ls {
		out[i] = l.Lag
	}
	return out
}

// ByKind distributes the lags of ls by the kind of the step before the one
// that started late ("after setWeight": the router's traffic change took that
// long; "after analyze": the analysis ended late; "after deploy": the step
// after the canary's pods were ready started late), in a stable order.
func ByKind(ls []StepLag) []KindDistribution {
	groups := map[string][]time.Duration{}
	for _, l := range ls {
		k := string(l.After)
		groups[k] = append(groups[k], l.Lag)
	}
	out := make([]KindDistribution, 0, len(groups))
	for k, ds := range groups {
		out = append(out, KindDistribution{Kind: k, Distribution: Distribute(ds)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// KindDistribution is the lag distribution of the steps after one kind.
type KindDistribution struct {
	Kind string
	Distribution
}

// Worst returns the n largest lags of ls, largest first.
func Worst(ls []StepLag, n int) []StepLag {
	s := slices.Clone(ls)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Lag > s[j].Lag })
	return s[:min(n, len(s))]
}

// Over returns the lags of ls above limit.
func Over(ls []StepLag, limit time.Duration) []StepLag {
	var out []StepLag
	for _, l := range ls {
		if l.Lag > limit {
			out = append(out, l)
		}
	}
	return out
}

// joinLags prints lags one per line.
func joinLags(ls []StepLag) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
	}
	return strings.Join(parts, "\n")
}
