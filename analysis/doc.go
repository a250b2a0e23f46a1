// Package analysis turns metric observations into verdicts: the engine that decides
// whether a canary may go on, must go back, or cannot be judged.
//
// # The story
//
// An analysis step of a rollout soaks the canary for a while and watches a few
// checks (progressive.Check): "the error rate stays under 1%", "p99 latency is at
// most 20% worse than stable", "CPU under 80%, as a warning only". The runner calls
// Begin when the step starts, then Tick whenever TickResult.NextDue comes, until the
// verdict is no longer VerdictRunning:
//
//	st := engine.Begin(checks, now, now.Add(step.Duration))
//	for {
//		res, err := engine.Tick(ctx, checks, vars, &st, clock.Now())
//		// persist st; record res.Measurements; on err roll back (configuration)
//		if res.Verdict.Done() { break }
//		// sleep until res.NextDue
//	}
//
// The Engine keeps no analysis state: State is plain JSON-serializable data that the
// runner persists after every Tick, so a process that restarts mid-analysis resumes
// with the same counters, the same due times and the same judges' state, and reaches
// the same verdicts as if it had never stopped. Time is always passed in (now), so a
// test drives a week of analysis in virtual time.
//
// Before the rollout moves any traffic, Engine.Validate reports every problem of the
// checks with its field path (checks[1].query), and Engine.Preflight runs every
// query once, so that a typo in PromQL fails the rollout before a single user sees
// the canary.
//
// # Measurements
//
// Tick measures every check that is due (NextDue <= now), at most once per Tick,
// and then makes it due again one Interval later (Check.WithDefaults: 1m).
//
// # Each weight is judged on its own traffic
//
// A measurement is evidence only about the traffic its query looked at. A
// rate(...[10s]) taken a moment after the canary went from 10% to 20% describes
// the 10% canary, and a simulator that answers instantly at the new weight
// cannot show it; Prometheus can. So every check has a window (Window: the
// longest range selector of its rendered query plus its offset, Check.Window when
// set, the interval when the query has none), and:
//
//   - a check is first due once its window lies entirely after the step began
//     (FirstMeasurement: the larger of InitialDelay and the window). The runner
//     begins an analysis step when the previous step's write was read back, so a
//     10s window with a 10s interval is first measured at T+10s;
//   - the end of the soak is always measured: a measurement never falls due after
//     the deadline when the previous one came before it, and the step passes only
//     on measurements taken at or after the deadline. A step whose soak is shorter
//     than its window lasts as long as the window (rollout.Explain says so).
//
// # Warm-up and sample size
//
// A fresh canary has no 5xx series until its first error: a ratio written as
// Flagger writes it (errors / requests) is empty until then, exactly like a canary
// that serves nothing. Missing data is never a pass, but a canary that has not yet
// produced a series is not an outage either. During a check's warm-up
// (Check.WarmUp, default three windows, counted from State.LiveSince: the runner's
// first analysis step of the rollout, so a later weight gets none) no data is
// OutcomeWaiting: it neither passes nor counts toward the inconclusive limit, and
// the step cannot pass on it. After the warm-up, no data counts as the NoData
// policy says. Lint recognises such ratios and says how to write them
// (or on() vector(0)); package metrics already does.
//
// Low traffic turns a threshold into a coin toss: at 70 requests one error reads
// 1.4%, over a 1% threshold. A check with Samples names the request count behind
// its value and the least that can support its threshold
// (progressive.MinSamplesFor); with fewer, the measurement waits during the
// warm-up and is inconclusive after it, never a pass and never a failure.
// rollout.Lint and Explain warn, from Plan.Traffic, where a weight cannot reach
// that count, and rollout.Runner.DryRun from the rate it measures.
//
// A threshold check renders its query for the canary role and asks its
// MetricSource for the value at now (progressive.Query with Role canary and Target
// {Namespace, Service}). A value outside [Min, Max] fails; +Inf and -Inf compare as
// numbers. A baseline check (Check.Baseline) queries both roles at the same instant
// and judges canary/stable (ratio: 0/0 is 1, x/0 is +Inf) or canary-stable
// (difference) against the same bounds. A statistical check (Check.Judge) is
// measured by the Judge registered for its kind in Options.Judges.
//
// # Missing data is never a pass
//
// An empty result (progressive.StatusNoData), NaN (StatusNaN, or a value that is
// NaN, or a ratio that comes out NaN such as Inf/Inf), or a missing stable side
// counts as the check's NoData policy says: inconclusive (the default) or fail. No
// path through this package turns missing data into a pass, judges included.
//
// Errors from a source are of two kinds. One that wraps progressive.ErrInvalid (the
// backend rejected the query) is a configuration error: Tick returns it, naming the
// check, leaves the state as it was, and the runner rolls back saying why. Any other
// error (unreachable, timeout, 5xx) is a fact about the backend, not the canary: the
// measurement is inconclusive and its Error holds the text. The end of ctx is not a
// measurement at all: Tick returns the context's error and changes nothing.
//
// # Counting
//
// Each CheckState counts its check's measurements:
//
//   - a pass increments Passes and resets both ConsecutiveFailures and
//     ConsecutiveInconclusives;
//   - a fail of a fail-severity check increments Failures and ConsecutiveFailures
//     and resets ConsecutiveInconclusives (a conclusive result ends an inconclusive
//     streak);
//   - a fail of a warn-severity check increments Warnings only: warnings show in the
//     record and in the verdict's reason, and never fail the analysis;
//   - an inconclusive measurement increments Inconclusives and
//     ConsecutiveInconclusives, and neither resets nor increments
//     ConsecutiveFailures: a gap in the data does not hide a failing streak.
//
// # Verdicts
//
// After measuring, Tick decides, looking only at fail-severity checks:
//
//   - VerdictFail when a check has more Failures than its FailureLimit (so a
//     FailureLimit of 0 fails on the first failed measurement, Argo Rollouts'
//     default), or, when ConsecutiveFailureLimit is positive, when it failed that
//     many times in a row. Such a check is Done and not measured again.
//   - otherwise VerdictInconclusive when a check was inconclusive InconclusiveLimit
//     times in a row (default 3). What follows (roll back or hold) is the plan's
//     OnInconclusive policy, decided by the runner.
//   - otherwise VerdictPass when now has reached the deadline and every check has
//     been measured at least once and its latest measurement passed. A check whose
//     latest measurement was inconclusive (or a tolerated failure) keeps the
//     analysis running past the deadline, until it passes, or crosses a limit. A
//     check whose InitialDelay reaches past the deadline is waited for.
//   - otherwise VerdictRunning; TickResult.NextDue says when to call again.
//
// TickResult.Reason names the checks and their numbers ("check "error-rate" failed
// 2 of 4 measurements, more than its failure limit 1; last: error-rate 2.31 > max
// 1"), for the decision record. Verdicts Fail and Inconclusive are final: a later
// Tick on the same state returns them again without measuring.
//
// # Query templates
//
// Check queries are text/template templates rendered by Render with the variables
// {{.Namespace}}, {{.Service}}, {{.Version}} (the canary's or the stable release),
// {{.Role}} ("canary" or "stable") and {{.Interval}} (the check's interval as a
// Prometheus duration with a single unit, see FormatDuration). Any other variable is
// an error, reported by ValidateTemplates before the rollout starts.
//
// # Judges
//
// A Judge is a small interface: it gets the check, both rendered queries, the
// source (and the source as a progressive.RangeQuerier when it is one), now, the
// start of the analysis and its own previous state, and returns one Measurement and
// its new state. The engine stores the state in CheckState.Judge, so sequential
// tests survive restarts, and counts the outcome like any other. An unknown kind is
// a configuration error that names the known ones (ValidateJudges).
//
// # JSON
//
// State and CheckState are plain structs with camelCase JSON. A Measurement may
// carry NaN or ±Inf, which encoding/json cannot write; Measurement's own JSON
// methods write them as the strings "NaN", "+Inf" and "-Inf", so a decision record
// never fails to marshal.
package analysis
