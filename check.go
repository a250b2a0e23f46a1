package progressive

import (
	"math"
	"time"
)

// Severity decides what a failing check does.
type Severity string

const (
	// SeverityFail rolls the rollout back when the check fails (the default).
	SeverityFail Severity = "fail"
	// SeverityWarn records a warning and never rolls back (the seed's CPU > 80%).
	SeverityWarn Severity = "warn"
)

// NoDataPolicy decides what an empty result or NaN counts as. Neither choice is a pass.
type NoDataPolicy string

const (
	// NoDataInconclusive counts missing data as inconclusive (the default): the
	// rollout cannot advance on it, and InconclusiveLimit consecutive ones end the
	// analysis as inconclusive.
	NoDataInconclusive NoDataPolicy = "inconclusive"
	// NoDataFail counts missing data as a failed measurement.
	NoDataFail NoDataPolicy = "fail"
)

// BaselineMode says how canary and baseline values are compared.
type BaselineMode string

const (
	// BaselineRatio compares canary / baseline against the thresholds (1.2 means
	// 20% worse). 0/0 counts as 1; x/0 with x > 0 as +Inf.
	BaselineRatio BaselineMode = "ratio"
	// BaselineDifference compares canary - baseline against the thresholds.
	BaselineDifference BaselineMode = "difference"
)

// Baseline turns a check into a comparison of the canary against the stable version
// measured by the same query at the same instant.
type Baseline struct {
	Mode BaselineMode `json:"mode"`
}

// Defaults applied by Check.WithDefaults.
const (
	DefaultCheckInterval     = time.Minute
	DefaultInconclusiveLimit = 3
)

// Check is one metric condition a rollout must satisfy.
type Check struct {
	Name string `json:"name"`
	// Query is a template in the metric source's language. It may use
	// {{.Namespace}}, {{.Service}}, {{.Version}} (stable or canary release label),
	// {{.Role}} ("stable" or "canary") and {{.Interval}} (as a duration like 1m).
	Query string `json:"query"`
	// Metrics names the MetricSource; empty means the runner's only one.
	Metrics string `json:"metrics,omitempty"`
	// Min and Max bound the value (or the ratio or difference for a baseline check).
	// A value outside is a failed measurement.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Baseline, when set, compares the canary with the stable version.
	Baseline *Baseline `json:"baseline,omitempty"`
	// Interval between measurements. Default 1m.
	Interval time.Duration `json:"interval,omitempty"`
	// InitialDelay before the first measurement of an analysis step.
	InitialDelay time.Duration `json:"initialDelay,omitempty"`
	// FailureLimit is how many failed measurements an analysis tolerates; one more
	// fails the check. Zero fails on the first (Argo Rollouts' default).
	FailureLimit int `json:"failureLimit,omitempty"`
	// ConsecutiveFailureLimit, when positive, also fails the check after that many
	// failed measurements in a row, whatever FailureLimit allows.
	ConsecutiveFailureLimit int `json:"consecutiveFailureLimit,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements in a row (no data,
	// NaN, an unreachable backend) end the analysis as inconclusive. Default 3.
	InconclusiveLimit int `json:"inconclusiveLimit,omitempty"`
	// Severity: fail (default) or warn.
	Severity Severity `json:"severity,omitempty"`
	// NoData: inconclusive (default) or fail.
	NoData NoDataPolicy `json:"noData,omitempty"`
	// Judge, when set, replaces the thresholds with a statistical comparison of
	// canary and baseline samples; see the analysis package.
	Judge *JudgeSpec `json:"judge,omitempty"`
}

// JudgeSpec selects a statistical judge by kind and passes its parameters through.
// The analysis package documents the kinds it knows and their parameters.
type JudgeSpec struct {
	Kind   string             `json:"kind"`
	Params map[string]float64 `json:"params,omitempty"`
}

// Float returns a pointer to v, for Check.Min and Check.Max.
func Float(v float64) *float64 { return &v }

// WithDefaults fills the zero fields that have documented defaults.
func (c Check) WithDefaults() Check {
	if c.Interval == 0 {
		c.Interval = DefaultCheckInterval
	}
	if c.InconclusiveLimit == 0 {
		c.InconclusiveLimit = DefaultInconclusiveLimit
	}
	if c.Severity == "" {
		c.Severity = SeverityFail
	}
	if c.NoData == "" {
		c.NoData = NoDataInconclusive
	}
	return c
}

// Validate reports every problem of the check.
func (c Check) Validate() error {
	var p Problems
	if c.Name == "" {
		p.Add("name", nil, "must not be empty")
	}
	if c.Query == "" {
		p.Add("query", nil, "must not be empty")
	}
	if c.Judge == nil && c.Min == nil && c.Max == nil {
		p.Add("max", nil, "a threshold check needs min, max or both")
	}
	for _, b := range []struct {
		field string
		v     *float64
	}{{"min", c.Min}, {"max", c.Max}} {
		if b.v != nil && math.IsNaN(*b.v) {
			p.Add(b.field, *b.v, "must be a number")
		}
	}
	if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
		p.Add("min", *c.Min, "must not exceed max %g", *c.Max)
	}
	if c.Baseline != nil && c.Baseline.Mode != BaselineRatio && c.Baseline.Mode != BaselineDifference {
		p.Add("baseline.mode", string(c.Baseline.Mode), "must be %q or %q", BaselineRatio, BaselineDifference)
	}
	if c.Interval < 0 {
		p.Add("interval", c.Interval.String(), "must be positive")
	}
	if c.InitialDelay < 0 {
		p.Add("initialDelay", c.InitialDelay.String(), "must not be negative")
	}
	if c.FailureLimit < 0 {
		p.Add("failureLimit", c.FailureLimit, "must not be negative")
	}
	if c.ConsecutiveFailureLimit < 0 {
		p.Add("consecutiveFailureLimit", c.ConsecutiveFailureLimit, "must not be negative")
	}
	if c.InconclusiveLimit < 0 {
		p.Add("inconclusiveLimit", c.InconclusiveLimit, "must not be negative")
	}
	switch c.Severity {
	case "", SeverityFail, SeverityWarn:
	default:
		p.Add("severity", string(c.Severity), "must be %q or %q", SeverityFail, SeverityWarn)
	}
	switch c.NoData {
	case "", NoDataInconclusive, NoDataFail:
	default:
		p.Add("noData", string(c.NoData), "must be %q or %q", NoDataInconclusive, NoDataFail)
	}
	if c.Judge != nil && c.Judge.Kind == "" {
		p.Add("judge.kind", nil, "must not be empty")
	}
	return p.Err()
}
