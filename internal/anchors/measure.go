package anchors

import (
	"time"

	"github.com/agentops/progressive/internal/livecanary"
)

// Requests is how a contender's API requests are told apart in the audit
// log: by user agent and namespace.
type Requests struct {
	// UserAgent is the tool's user-agent prefix ("flagger/").
	UserAgent string
	// Namespace is the run's namespace.
	Namespace string
	// Interval is the tool's analysis interval, the length of an idle tick.
	Interval time.Duration
	// Extra are requests made for the tool outside the audit log's reach
	// (progressive's rollout.Runner.Start, made in the harness' process),
	// added to RequestsPerRollout.
	Extra int
}

// Measure fills in what every contender measures the same way from the run's
// weights, times and the audit log: BackOnStableAt, and the API requests per
// advancing tick, per idle tick and per rollout. Call it once Weights,
// StartedAt, EndedAt and RegressedAt are set; sc is the run's scenario.
//
//   - Advancing tick: the requests between the first and the last weight
//     increase, divided by the increases between them. Tools tick
//     periodically, so each such span holds one tick's worth: everything a
//     tool does to hold one step and move to the next (its reads, the
//     weight's write, its status and event writes).
//   - Idle tick (only when the canary has no traffic, sc.Canary.NoTraffic:
//     every tick measures nothing and changes nothing): the requests while
//     the canary weight held one non-zero value for at least two intervals,
//     per Interval; 1 s at each end is left out, the weight's own write and
//     what follows it. Elsewhere a hold is a tool's promotion or its
//     counting of failed checks, not idle.
//   - Per rollout: every request from StartedAt to 1 s after EndedAt,
//     plus Extra, divided by the rollouts (sc.Rollouts, at least 1).
//
// The requests of all the run's rollouts are counted together (one
// namespace): with several rollouts the ticks' figures are per run, not per
// rollout.
func (a *Anchors) Measure(run *Run, req Requests, sc Scenario) {
	rollouts := max(sc.Rollouts, 1)
	run.BackOnStableAt = BackOnStable(run.Weights, run.RegressedAt)
	f := RequestFilter{UserAgent: req.UserAgent, Namespace: req.Namespace}
	if first, last, n := increases(run.Weights); n >= 2 {
		f.From, f.To = first.Add(time.Nanosecond), last
		run.AdvancingTickRequests = float64(a.Audit.Count(f)) / float64(n-1)
	}
	if from, to, ok := longestHold(run.Weights, 2*req.Interval); ok && req.Interval > 0 && sc.Canary.NoTraffic {
		f.From, f.To = from.Add(time.Second), to.Add(-time.Second)
		run.IdleTickRequests = float64(a.Audit.Count(f)) / (f.To.Sub(f.From).Seconds() / req.Interval.Seconds())
	}
	if !run.StartedAt.IsZero() && !run.EndedAt.IsZero() {
		f.From, f.To = run.StartedAt, run.EndedAt.Add(time.Second)
		run.RequestsPerRollout = float64(a.Audit.Count(f)+req.Extra) / float64(rollouts)
	}
}

// BackOnStable is when changes first showed the canary at 0% after it had
// been above, at or after from (zero: from the start); zero if never.
func BackOnStable(changes []livecanary.WeightChange, from time.Time) time.Time {
	above := false
	for _, c := range changes {
		if c.Weight > 0 {
			above = true
			continue
		}
		if above && !c.At.Before(from) {
			return c.At
		}
	}
	return time.Time{}
}

// increases returns when the weight first rose above 0, when it last rose,
// and how many rises there were in all.
func increases(changes []livecanary.WeightChange) (first, last time.Time, n int) {
	for i := 1; i < len(changes); i++ {
		if changes[i].Weight > changes[i-1].Weight {
			if n == 0 {
				first = changes[i].At
			}
			last = changes[i].At
			n++
		}
	}
	return first, last, n
}

// longestHold is the longest span at least min long during which the weight
// held one non-zero value (ended by the next change or, for the last
// weight, not counted: the run's end is not a tick boundary).
func longestHold(changes []livecanary.WeightChange, min time.Duration) (from, to time.Time, ok bool) {
	for i := 0; i+1 < len(changes); i++ {
		if changes[i].Weight == 0 {
			continue
		}
		d := changes[i+1].At.Sub(changes[i].At)
		if d >= min && d > to.Sub(from) {
			from, to, ok = changes[i].At, changes[i+1].At, true
		}
	}
	return from, to, ok
}

// FirstAbove is when changes first showed a weight above 0 (zero if never).
func FirstAbove(changes []livecanary.WeightChange) time.Time {
	for _, c := range changes {
		if c.Weight > 0 {
			return c.At
		}
	}
	return time.Time{}
}
