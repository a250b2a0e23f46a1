package stats

import (
	"fmt"
	"math"
)

// Decision is the state of a sequential test.
type Decision int

const (
	// Continue: not enough evidence yet; keep observing.
	Continue Decision = iota
	// AcceptH0: the canary's error rate is not elevated by the minimum
	// relative effect of interest (healthy).
	AcceptH0
	// RejectH0: the canary's error rate is elevated (regression).
	RejectH0
)

var decisionNames = []string{"continue", "accept_h0", "reject_h0"}

func (d Decision) String() string { return enumString(decisionNames, int(d), "Decision") }

// MarshalText encodes the decision as "continue", "accept_h0" or
// "reject_h0".
func (d Decision) MarshalText() ([]byte, error) {
	return enumMarshal(decisionNames, int(d), "Decision")
}

// UnmarshalText accepts the names written by MarshalText.
func (d *Decision) UnmarshalText(b []byte) error {
	return enumUnmarshal(decisionNames, b, "Decision", (*int)(d))
}

// Terminal reports whether the test has stopped.
func (d Decision) Terminal() bool { return d == AcceptH0 || d == RejectH0 }

// Defaults of RateSPRTConfig.
const (
	DefaultSPRTAlpha               = 0.01
	DefaultSPRTBeta                = 0.05
	DefaultSPRTMinRelativeIncrease = 1.5
)

// RateSPRTConfig parameterises RateSPRT. Zero fields take the defaults.
type RateSPRTConfig struct {
	// Alpha bounds the probability of RejectH0 when the canary is healthy
	// (a false rollback), whatever the number of looks. Default 0.01.
	Alpha float64 `json:"alpha"`
	// Beta bounds the probability of AcceptH0 when the canary's error rate
	// is MinRelativeIncrease times the baseline's (a missed regression).
	// Default 0.05.
	Beta float64 `json:"beta"`
	// MinRelativeIncrease is the smallest ratio r = canary rate / baseline
	// rate worth detecting, > 1. Default 1.5.
	MinRelativeIncrease float64 `json:"min_relative_increase"`
	// OneSided disables the acceptance threshold: the test never decides
	// AcceptH0 and only ever rejects (a power-one test), so a canary is
	// watched for as long as the caller keeps feeding ticks, and the caller's
	// time budget ends a test that found nothing. Alpha bounds false
	// rejections exactly as in the two-sided test; Beta is unused.
	OneSided bool `json:"one_sided,omitempty"`
}

// WithDefaults returns c with zero fields replaced by the defaults.
func (c RateSPRTConfig) WithDefaults() RateSPRTConfig {
	if c.Alpha == 0 {
		c.Alpha = DefaultSPRTAlpha
	}
	if c.Beta == 0 {
		c.Beta = DefaultSPRTBeta
	}
	if c.MinRelativeIncrease == 0 {
		c.MinRelativeIncrease = DefaultSPRTMinRelativeIncrease
	}
	return c
}

// Validate checks a configuration after defaults are applied.
func (c RateSPRTConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return invalidf("alpha %v not in (0, 1)", c.Alpha)
	case !(c.Beta > 0 && c.Beta < 1):
		return invalidf("beta %v not in (0, 1)", c.Beta)
	case !(c.MinRelativeIncrease > 1) || math.IsInf(c.MinRelativeIncrease, 0):
		return invalidf("minimum relative increase %v must be a finite ratio > 1", c.MinRelativeIncrease)
	}
	return nil
}

// Bounds returns the decision thresholds on the log-likelihood ratio:
// lower = ln(beta) and upper = ln(1/alpha).
func (c RateSPRTConfig) Bounds() (lower, upper float64) {
	c = c.WithDefaults()
	return math.Log(c.Beta), -math.Log(c.Alpha)
}

// RateSPRT is a sequential probability ratio test comparing the error rate
// of a canary with that of the baseline, fed with per-tick counts. It may be
// checked after every tick: the probability of a false RejectH0 stays below
// Alpha however often it is looked at and however long it runs.
//
// Model. Within a tick, errors are rare events at rate λc per canary request
// and λb per baseline request. Given the tick's total number of errors
// e = ec + eb, the canary's share ec is Binomial(e, p) with
// p = r·s / (r·s + 1 - s), where s = canaryTotal/(canaryTotal+baselineTotal)
// is the canary's traffic share in that tick and r = λc/λb. The baseline
// rate cancels out: the test is unaffected by load swings, diurnal error
// rates or traffic-split changes between ticks. H0 is r = 1 (p = s), H1 is
// r = MinRelativeIncrease. The tick's log-likelihood ratio is
//
//	Δ = ec·ln r − e·ln(1 + (r−1)·s)
//
// and LLR is the sum over ticks.
//
// Thresholds. Under H0 exp(LLR) is a non-negative martingale, so by Ville's
// inequality P(LLR ever reaches ln(1/α)) <= α: that is the upper threshold,
// valid under optional stopping and continuous monitoring. Symmetrically
// exp(-LLR) is a martingale under H1 and the lower threshold ln(β) bounds
// the probability of accepting H0 when r = MinRelativeIncrease by β. These
// are slightly wider than Wald's approximate ln((1-β)/α) and ln(β/(1-α)),
// and guaranteed rather than approximate. Canary rates below the baseline
// (r < 1) make rejection even less likely; between 1 and
// MinRelativeIncrease either decision may be reached (indifference zone).
//
// If errors are counted per request (Bernoulli) rather than as Poisson
// events, the canary's conditional share is hypergeometric rather than
// binomial; it is dominated by the binomial in the convex order
// (Hoeffding, 1963), so exp(LLR) is then a supermartingale and the α
// guarantee still holds.
//
// Only errors carry evidence: with no errors the test keeps returning
// Continue, and at a canary share s each error moves the LLR by at most
// ln r. The runner's time or traffic budget decides what happens to a test
// that never stops (with no evidence of a regression, promotion is
// reasonable, since α is controlled only for rejection).
//
// The zero value is ready to use with the default configuration. All fields
// are exported and JSON-tagged so a runner can persist the state between
// ticks and resume it. Once a terminal decision is reached the test is
// closed: further updates are ignored and return the final verdict. A
// RateSPRT is not safe for concurrent use.
type RateSPRT struct {
	// Config holds the parameters; zero fields mean defaults.
	Config RateSPRTConfig `json:"config"`
	// LLR is the accumulated log-likelihood ratio ln(L(H1)/L(H0)).
	LLR float64 `json:"llr"`
	// LowerBound (ln β) and UpperBound (ln 1/α) are the thresholds, derived
	// from Config on every update and stored for explanations.
	LowerBound float64 `json:"lower_bound"`
	UpperBound float64 `json:"upper_bound"`
	// Ticks is the number of updates applied.
	Ticks int64 `json:"ticks"`
	// Cumulative counts over the applied ticks.
	CanaryErrors   int64 `json:"canary_errors"`
	CanaryTotal    int64 `json:"canary_total"`
	BaselineErrors int64 `json:"baseline_errors"`
	BaselineTotal  int64 `json:"baseline_total"`
	// Decision is the current decision; terminal decisions are final.
	Decision Decision `json:"decision"`
	// DecidedAtTick is the tick at which a terminal decision was reached.
	DecidedAtTick int64 `json:"decided_at_tick,omitempty"`
}

// NewRateSPRT returns a test with cfg (zero fields take defaults) or an
// error if cfg is invalid.
func NewRateSPRT(cfg RateSPRTConfig) (*RateSPRT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &RateSPRT{Config: cfg.WithDefaults()}
	s.LowerBound, s.UpperBound = s.Config.Bounds()
	return s, nil
}

// RateVerdict is the outcome of one update, with what is needed to explain
// it.
type RateVerdict struct {
	// Decision after this update.
	Decision Decision `json:"decision"`
	// LLR after this update and Delta, this update's contribution.
	LLR   float64 `json:"llr"`
	Delta float64 `json:"delta"`
	// LowerBound and UpperBound are the thresholds ln β and ln(1/α).
	LowerBound float64 `json:"lower_bound"`
	UpperBound float64 `json:"upper_bound"`
	// Tick is the number of ticks applied so far.
	Tick int64 `json:"tick"`
	// OneSided reports that the test cannot accept (RateSPRTConfig.OneSided).
	OneSided bool `json:"one_sided,omitempty"`
}

// String explains the verdict in one sentence.
func (v RateVerdict) String() string {
	switch v.Decision {
	case RejectH0:
		return fmt.Sprintf("regression: log-likelihood ratio %.3f reached the rejection threshold ln(1/alpha) = %.3f at tick %d",
			v.LLR, v.UpperBound, v.Tick)
	case AcceptH0:
		return fmt.Sprintf("healthy: log-likelihood ratio %.3f reached the acceptance threshold ln(beta) = %.3f at tick %d",
			v.LLR, v.LowerBound, v.Tick)
	case Continue:
		if v.OneSided {
			return fmt.Sprintf("continue: log-likelihood ratio %.3f is below ln(1/alpha) = %.3f at tick %d",
				v.LLR, v.UpperBound, v.Tick)
		}
		fallthrough
	default:
		return fmt.Sprintf("continue: log-likelihood ratio %.3f is between ln(beta) = %.3f and ln(1/alpha) = %.3f at tick %d",
			v.LLR, v.LowerBound, v.UpperBound, v.Tick)
	}
}

// Update adds one tick of counts: errors and requests of the canary and of
// the baseline observed during the tick (increments, not cumulative
// counters). Counts must be non-negative with errors <= requests; on error
// the state is left unchanged. A tick where either side served no request
// carries no evidence (Delta = 0) but is counted.
func (s *RateSPRT) Update(canaryErrors, canaryTotal, baselineErrors, baselineTotal int64) (RateVerdict, error) {
	if err := s.Config.Validate(); err != nil {
		return RateVerdict{}, err
	}
	switch {
	case canaryErrors < 0 || canaryTotal < 0 || baselineErrors < 0 || baselineTotal < 0:
		return RateVerdict{}, invalidf("negative count (canary %d/%d, baseline %d/%d)",
			canaryErrors, canaryTotal, baselineErrors, baselineTotal)
	case canaryErrors > canaryTotal:
		return RateVerdict{}, invalidf("canary errors %d exceed requests %d", canaryErrors, canaryTotal)
	case baselineErrors > baselineTotal:
		return RateVerdict{}, invalidf("baseline errors %d exceed requests %d", baselineErrors, baselineTotal)
	}
	s.LowerBound, s.UpperBound = s.Config.Bounds()
	if s.Decision.Terminal() {
		return s.verdict(0), nil
	}
	r := s.Config.WithDefaults().MinRelativeIncrease
	var delta float64
	if e := canaryErrors + baselineErrors; e > 0 && canaryTotal > 0 && baselineTotal > 0 {
		share := float64(canaryTotal) / (float64(canaryTotal) + float64(baselineTotal))
		delta = float64(canaryErrors)*math.Log(r) - float64(e)*math.Log1p((r-1)*share)
	}
	s.Ticks++
	s.CanaryErrors += canaryErrors
	s.CanaryTotal += canaryTotal
	s.BaselineErrors += baselineErrors
	s.BaselineTotal += baselineTotal
	s.LLR += delta
	switch {
	case s.LLR >= s.UpperBound:
		s.Decision, s.DecidedAtTick = RejectH0, s.Ticks
	case s.LLR <= s.LowerBound && !s.Config.OneSided:
		s.Decision, s.DecidedAtTick = AcceptH0, s.Ticks
	}
	return s.verdict(delta), nil
}

// Verdict returns the current state as a verdict (Delta = 0).
func (s *RateSPRT) Verdict() RateVerdict {
	lo, hi := s.Config.Bounds()
	v := s.verdict(0)
	v.LowerBound, v.UpperBound = lo, hi
	return v
}

func (s *RateSPRT) verdict(delta float64) RateVerdict {
	return RateVerdict{
		Decision:   s.Decision,
		LLR:        s.LLR,
		Delta:      delta,
		LowerBound: s.LowerBound,
		UpperBound: s.UpperBound,
		Tick:       s.Ticks,
		OneSided:   s.Config.OneSided,
	}
}

// ObservedRatio returns the cumulative canary error rate divided by the
// baseline error rate, and false when it is undefined (no traffic on a side
// or no baseline error). It is descriptive; decisions come from the LLR.
func (s *RateSPRT) ObservedRatio() (float64, bool) {
	if s.CanaryTotal == 0 || s.BaselineTotal == 0 || s.BaselineErrors == 0 {
		return 0, false
	}
	rc := float64(s.CanaryErrors) / float64(s.CanaryTotal)
	rb := float64(s.BaselineErrors) / float64(s.BaselineTotal)
	return rc / rb, true
}
