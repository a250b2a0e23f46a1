package analysis

import (
	"fmt"
	"math"
	"strings"

	"github.com/agentops/progressive"
)

// Class is Kayenta's per-metric classification of a measurement.
type Class string

const (
	// ClassPass: no regression in the harmful direction.
	ClassPass Class = "pass"
	// ClassHigh: the canary is higher than allowed.
	ClassHigh Class = "high"
	// ClassLow: the canary is lower than allowed.
	ClassLow Class = "low"
	// ClassNoData: missing samples, NaN, an unreachable backend, or no
	// measurement at all.
	ClassNoData Class = "nodata"
)

// code is the class as stored in Measurement.Details[DetailClass].
func (c Class) code() float64 {
	switch c {
	case ClassHigh:
		return 1
	case ClassLow:
		return -1
	}
	return 0
}

// Classify returns the class of m, a measurement of check c:
//
//   - an inconclusive measurement, or one whose status is no data or NaN (also
//     when the NoData policy counted it as a failure), is ClassNoData;
//   - a pass is ClassPass;
//   - a failure is ClassHigh or ClassLow: a judge says which in
//     Details[DetailClass] (1 high, -1 low); a threshold check by the bound it
//     crossed (its Compared value for a baseline check, else its Value); any other
//     failure is ClassHigh.
func Classify(c progressive.Check, m Measurement) Class {
	switch {
	case m.Status == progressive.StatusNoData || m.Status == progressive.StatusNaN:
		return ClassNoData
	case m.Outcome == OutcomePass:
		return ClassPass
	case m.Outcome != OutcomeFail:
		return ClassNoData
	}
	if code, ok := m.Details[DetailClass]; ok && code < 0 {
		return ClassLow
	}
	if _, ok := m.Details[DetailClass]; ok {
		return ClassHigh
	}
	v := m.Value
	if m.Compared != nil {
		v = *m.Compared
	}
	if c.Min != nil && v < *c.Min {
		return ClassLow
	}
	return ClassHigh
}

// Default score thresholds, Kayenta's.
const (
	DefaultScorePass     = 95.0
	DefaultScoreMarginal = 75.0
)

// ScoreOptions configure Score. Zero values take the defaults.
type ScoreOptions struct {
	// Pass is the lowest score that passes, in [0, 100]. Default 95.
	Pass float64
	// Marginal is the lowest score that is marginal rather than failing, at most
	// Pass. Default 75.
	Marginal float64
	// Weights override the checks' ParamWeight by check name (threshold checks
	// have no judge parameters: this is how they get a weight other than 1).
	Weights map[string]float64
	// Critical names checks that are critical in addition to those whose judge
	// parameters say ParamCritical 1.
	Critical []string
}

// ScoreVerdict is the conclusion of a scorecard.
type ScoreVerdict string

const (
	// ScorePass: the score reaches the pass threshold and no critical check failed.
	ScorePass ScoreVerdict = "pass"
	// ScoreMarginal: between the marginal and the pass thresholds. Kayenta leaves
	// what to do to the caller; a careful one holds for a person.
	ScoreMarginal ScoreVerdict = "marginal"
	// ScoreFail: below the marginal threshold, or a critical check failed.
	ScoreFail ScoreVerdict = "fail"
	// ScoreNoData: the checks without data could change the verdict (or a critical
	// one has none). Missing data is never a pass.
	ScoreNoData ScoreVerdict = "nodata"
)

// MetricScore is one check's line of a scorecard.
type MetricScore struct {
	Check    string  `json:"check"`
	Class    Class   `json:"class"`
	Weight   float64 `json:"weight"`
	Critical bool    `json:"critical,omitempty"`
	Reason   string  `json:"reason,omitempty"`
}

// Scorecard is Score's result.
type Scorecard struct {
	// Score is 100 × (weight of passing checks) / (total weight), counting checks
	// without data as not passing: the score that missing data cannot inflate.
	Score float64 `json:"score"`
	// Best is the score if every check without data had passed; Score == Best when
	// every check has data.
	Best    float64       `json:"best"`
	Verdict ScoreVerdict  `json:"verdict"`
	Metrics []MetricScore `json:"metrics"`
	// Reason explains the verdict in one sentence.
	Reason string `json:"reason"`
}

// Score combines the latest measurement of each check into a Kayenta-style weighted
// score, for programs that want one number over several metrics.
//
// Each check is one metric, classified by Classify from its latest measurement in
// measurements (the last one with its name; none is ClassNoData). Its weight is its
// judge's ParamWeight (default 1; ScoreOptions.Weights overrides), and it is critical
// when its judge's ParamCritical is 1 or ScoreOptions.Critical names it. Checks of
// every severity take part. Then:
//
//   - a critical check that is high or low makes the verdict ScoreFail, whatever the
//     total (Kayenta's critical metrics);
//   - Score counts checks without data as failing and Best as passing; each is
//     mapped to pass (>= Pass), marginal (>= Marginal) or fail. When both give the
//     same verdict, that is the verdict: data that is missing could not have
//     changed it. Otherwise, or when a critical check has no data and the verdict
//     is not already a failure, the verdict is ScoreNoData.
//
// This differs from Kayenta, which leaves checks without data out of the total: here
// missing data can never be what makes a canary pass. A zero total weight has no
// score (NaN) and the verdict ScoreNoData.
//
// The engine does not call Score: in an analysis each fail-severity check decides on
// its own, so every check is in effect critical. To let the weighted total decide
// instead, give the non-critical checks severity warn (their failures are then
// recorded, never fatal), keep the critical ones at severity fail, and call Score
// on the measurements of each Tick (TickResult.Measurements, accumulated).
func Score(checks []progressive.Check, measurements []Measurement, opts ScoreOptions) (Scorecard, error) {
	pass, marginal := opts.Pass, opts.Marginal
	if pass == 0 {
		pass = DefaultScorePass
	}
	if marginal == 0 {
		marginal = DefaultScoreMarginal
	}
	var p progressive.Problems
	if math.IsNaN(pass) || pass < 0 || pass > 100 {
		p.Add("pass", pass, "must be between 0 and 100")
	}
	if math.IsNaN(marginal) || marginal < 0 || marginal > pass {
		p.Add("marginal", marginal, "must be between 0 and pass (%g)", pass)
	}
	for name, w := range opts.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			p.Add("weights["+name+"]", w, "must be a finite number of at least 0")
		}
	}
	latest := make(map[string]Measurement, len(checks))
	for _, m := range measurements {
		latest[m.Check] = m
	}
	critical := make(map[string]bool, len(opts.Critical))
	for _, name := range opts.Critical {
		critical[name] = true
	}

	card := Scorecard{Metrics: make([]MetricScore, 0, len(checks))}
	var total, passed, missing float64
	var failedCritical, missingCritical []string
	for i, c := range checks {
		params := map[string]float64{ParamWeight: 1, ParamCritical: 0}
		for _, d := range scoreParams {
			v, ok := paramsOf(c)[d.name]
			if !ok {
				continue
			}
			why := d.valid(v)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				why = "must be a finite number"
			}
			if why != "" {
				p.Add(fmt.Sprintf("checks[%d].judge.params.%s", i, d.name), v, "%s", why)
				continue
			}
			params[d.name] = v
		}
		ms := MetricScore{Check: c.Name, Weight: params[ParamWeight], Critical: params[ParamCritical] == 1 || critical[c.Name]}
		if w, ok := opts.Weights[c.Name]; ok {
			ms.Weight = w
		}
		if m, ok := latest[c.Name]; ok {
			ms.Class, ms.Reason = Classify(c.WithDefaults(), m), m.Reason
		} else {
			ms.Class, ms.Reason = ClassNoData, "no measurement"
		}
		total += ms.Weight
		switch ms.Class {
		case ClassPass:
			passed += ms.Weight
		case ClassNoData:
			missing += ms.Weight
			if ms.Critical {
				missingCritical = append(missingCritical, c.Name)
			}
		default:
			if ms.Critical {
				failedCritical = append(failedCritical, c.Name)
			}
		}
		card.Metrics = append(card.Metrics, ms)
	}
	if err := p.Err(); err != nil {
		return Scorecard{}, err
	}
	if total == 0 {
		card.Score, card.Best, card.Verdict = math.NaN(), math.NaN(), ScoreNoData
		card.Reason = "no check has any weight"
		return card, nil
	}
	card.Score = 100 * passed / total
	card.Best = 100 * (passed + missing) / total
	of := func(s float64) ScoreVerdict {
		switch {
		case s >= pass:
			return ScorePass
		case s >= marginal:
			return ScoreMarginal
		}
		return ScoreFail
	}
	lo, hi := of(card.Score), of(card.Best)
	thresholds := fmt.Sprintf("pass %s, marginal %s", formatNumber(pass), formatNumber(marginal))
	switch {
	case len(failedCritical) > 0:
		card.Verdict = ScoreFail
		card.Reason = fmt.Sprintf("critical check(s) %s failed (score %s)", strings.Join(failedCritical, ", "), formatNumber(card.Score))
	case hi == ScoreFail:
		card.Verdict = ScoreFail
		card.Reason = fmt.Sprintf("score %s is below marginal %s even if every check without data passed", formatNumber(card.Best), formatNumber(marginal))
	case len(missingCritical) > 0:
		card.Verdict = ScoreNoData
		card.Reason = fmt.Sprintf("critical check(s) %s have no data (score %s to %s; %s)",
			strings.Join(missingCritical, ", "), formatNumber(card.Score), formatNumber(card.Best), thresholds)
	case lo != hi:
		card.Verdict = ScoreNoData
		card.Reason = fmt.Sprintf("score %s to %s depending on the checks without data, which spans %s and %s (%s)",
			formatNumber(card.Score), formatNumber(card.Best), lo, hi, thresholds)
	default:
		card.Verdict = lo
		card.Reason = fmt.Sprintf("score %s: %s (%s)", formatNumber(card.Score), lo, thresholds)
	}
	return card, nil
}
