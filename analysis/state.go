package analysis

import (
	"encoding/json"
	"time"
)

// CheckState holds the counters of one check during one analysis step. It is plain
// data: the runner persists it (inside State) after every Tick, and a process that
// restarts resumes the analysis exactly from it.
type CheckState struct {
	// Name of the check; Tick matches states to checks by position and name.
	Name string `json:"name"`
	// Measurements counts every measurement taken.
	Measurements int `json:"measurements"`
	// Passes counts passing measurements.
	Passes int `json:"passes"`
	// Failures counts failing measurements of a fail-severity check.
	Failures int `json:"failures"`
	// ConsecutiveFailures counts failures since the last pass. An inconclusive
	// measurement neither resets nor increments it: missing data does not hide a
	// failing streak.
	ConsecutiveFailures int `json:"consecutiveFailures"`
	// Inconclusives counts inconclusive measurements.
	Inconclusives int `json:"inconclusives"`
	// ConsecutiveInconclusives counts inconclusive measurements in a row; any
	// conclusive measurement (pass or fail) resets it.
	ConsecutiveInconclusives int `json:"consecutiveInconclusives"`
	// Warnings counts failing measurements of a warn-severity check.
	Warnings int `json:"warnings"`
	// Waiting counts measurements that found not enough data during the
	// check's warm-up (OutcomeWaiting); they touch no other counter.
	Waiting int `json:"waiting,omitempty"`
	// Last is the outcome of the latest measurement; empty before the first.
	Last Outcome `json:"last,omitempty"`
	// LastAt is when the latest measurement was taken. A step passes only on
	// measurements taken at or after its deadline, so that the end of the soak
	// is measured too.
	LastAt time.Time `json:"lastAt,omitzero"`
	// NextDue is when the check is measured next.
	NextDue time.Time `json:"nextDue"`
	// Done is set when a fail-severity check has failed (its failure limit or
	// consecutive failure limit was crossed); it is not measured again.
	Done bool `json:"done,omitempty"`
	// Judge is the state a statistical judge keeps between measurements (for
	// example the log-likelihood ratio of a sequential test).
	Judge json.RawMessage `json:"judge,omitempty"`
}

// State is the state of one analysis step: when it started, when it may pass, and
// the counters of each check, in the order of the checks.
type State struct {
	StartedAt time.Time `json:"startedAt"`
	Deadline  time.Time `json:"deadline"`
	// LiveSince anchors the checks' warm-up (progressive.Check.WarmUp): when the
	// canary began to be analysed in this rollout. The runner sets it to the start
	// of the rollout's first analysis step, so a later step gets no new warm-up;
	// zero means StartedAt.
	LiveSince time.Time    `json:"liveSince,omitzero"`
	Checks    []CheckState `json:"checks"`
}

// Verdict is the conclusion of an analysis after a Tick.
type Verdict string

const (
	// VerdictRunning means no conclusion yet: call Tick again at TickResult.NextDue.
	VerdictRunning Verdict = "running"
	// VerdictPass means the deadline has come and every fail-severity check's
	// latest measurement, taken at or after the deadline, passed.
	VerdictPass Verdict = "pass"
	// VerdictFail means a fail-severity check crossed its failure limit.
	VerdictFail Verdict = "fail"
	// VerdictInconclusive means a fail-severity check was inconclusive
	// InconclusiveLimit times in a row.
	VerdictInconclusive Verdict = "inconclusive"
)

// Done reports whether the verdict ends the analysis.
func (v Verdict) Done() bool { return v != VerdictRunning && v != "" }

// TickResult is what one Tick found.
type TickResult struct {
	// Verdict after the tick.
	Verdict Verdict
	// Measurements taken by this tick, in the order of the checks.
	Measurements []Measurement
	// NextDue is when Tick has something new to do while the verdict is running:
	// the earliest due measurement, or the deadline when that comes first. Zero
	// once the verdict is reached.
	NextDue time.Time
	// Reason explains the verdict, naming the checks and their numbers.
	Reason string
}
