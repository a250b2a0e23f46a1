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
	// SeverityWarn records a warning and never rolls back (the guide's CPU > 80%).
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
	// DefaultWarmUpWindows is the default WarmUp in windows of the check.
	DefaultWarmUpWindows = 3
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
	// InitialDelay before the first measurement of an analysis step. The first
	// measurement also waits for the check's Window: a measurement only counts
	// when everything it looks back at lies after the step started, so the larger
	// of InitialDelay and Window applies.
	InitialDelay time.Duration `json:"initialDelay,omitempty"`
	// Window is how far back one measurement looks. Default: the longest range
	// selector of the rendered query plus its offset ("rate(x[30s])" looks back
	// 30s, "rate(x[1m] offset 1m)" 2m), or Interval when the query has none. Set
	// it for a source whose windows the engine cannot read from the query.
	Window time.Duration `json:"window,omitempty"`
	// WarmUp is how long after the rollout's first analysis began a check may see
	// no data, or fewer samples than Samples.Min, without it counting against the
	// canary: such a measurement is "waiting for data", neither a pass nor
	// inconclusive, and the step cannot pass on it. A fresh canary's error series
	// often exists only after its first error. After WarmUp, no data counts as the
	// NoData policy says and too few samples as inconclusive. Default: three
	// windows (DefaultWarmUpWindows); negative turns it off.
	WarmUp time.Duration `json:"warmUp,omitempty"`
	// Samples, when set, names the request count behind one measurement and the
	// least that can support the threshold: at 70 requests one error reads 1.4%,
	// over a 1% threshold although nothing is wrong.
	Samples *SampleSize `json:"samples,omitempty"`
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

// SampleSize is a check's minimum sample size.
type SampleSize struct {
	// Query is a template like Check.Query (same variables) that renders to the
	// number of requests the measurement's value was computed from, over the
	// same window: sum(increase(http_requests_total{...}[{{.Interval}}])).
	Query string `json:"query"`
	// Min is the least number of samples that makes a measurement count. For a
	// ratio threshold, one event among Min samples should not cross it:
	// MinSamplesFor gives that number.
	Min float64 `json:"min"`
}

// MinSamplesFor is the least sample count at which a single bad event reads
// strictly below max, where scale is what the query multiplies the ratio by (100
// for a percentage, 1 for a fraction): one error in 100 requests reads exactly
// 1%, so a "max 1%" check needs 101 requests before one error stops being a
// coin toss at the threshold. It returns 0 when max is not a positive number.
func MinSamplesFor(max, scale float64) float64 {
	if max <= 0 || scale <= 0 || math.IsInf(max, 0) || math.IsNaN(max) {
		return 0
	}
	return math.Floor(scale/max) + 1
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
	checkName(&p, "name", c.Name, true)
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
		switch {
		case b.v != nil && math.IsNaN(*b.v):
			p.Add(b.field, *b.v, "must be a number")
		case b.v != nil && math.IsInf(*b.v, 0):
			p.Add(b.field, *b.v, "must be finite: an infinite bound never fails; leave it unset instead")
		}
	}
	if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
		p.Add("min", *c.Min, "must not exceed max %g", *c.Max)
	}
	if c.Baseline != nil && c.Baseline.Mode != BaselineRatio && c.Baseline.Mode != BaselineDifference {
		p.Add("baseline.mode", string(c.Baseline.Mode), "must be %q or %q", BaselineRatio, BaselineDifference)
	}
	switch {
	case c.Interval < 0:
		p.Add("interval", c.Interval.String(), "must be positive")
	case c.Interval > 0 && c.Interval < MinCheckInterval:
		p.Add("interval", c.Interval.String(), "must be at least %s: shorter turns the analysis into a busy loop of queries and state writes", MinCheckInterval)
	case c.Interval > MaxCheckInterval:
		p.Add("interval", c.Interval.String(), "must be at most %s", MaxCheckInterval)
	}
	if c.InitialDelay < 0 {
		p.Add("initialDelay", c.InitialDelay.String(), "must not be negative")
	} else if c.InitialDelay > MaxInitialDelay {
		p.Add("initialDelay", c.InitialDelay.String(), "must be at most %s", MaxInitialDelay)
	}
	if c.Window < 0 {
		p.Add("window", c.Window.String(), "must not be negative")
	} else if c.Window > MaxWindow {
		p.Add("window", c.Window.String(), "must be at most %s", MaxWindow)
	}
	if c.WarmUp > MaxWindow {
		p.Add("warmUp", c.WarmUp.String(), "must be at most %s", MaxWindow)
	}
	for _, l := range []struct {
		field string
		v     int
	}{{"failureLimit", c.FailureLimit}, {"consecutiveFailureLimit", c.ConsecutiveFailureLimit}, {"inconclusiveLimit", c.InconclusiveLimit}} {
		if l.v > MaxCountLimit {
			p.Add(l.field, l.v, "must be at most %d", MaxCountLimit)
		}
	}
	if s := c.Samples; s != nil {
		if s.Query == "" {
			p.Add("samples.query", nil, "must not be empty")
		}
		if !(s.Min > 0) || math.IsInf(s.Min, 0) {
			p.Add("samples.min", s.Min, "must be a positive number")
		}
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
