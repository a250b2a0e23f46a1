package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis/stats"
)

// Values of the "direction" parameter of MannWhitneyJudge.
const (
	// DirectionIncrease: only a higher canary is a regression (latency, errors).
	DirectionIncrease = 1.0
	// DirectionDecrease: only a lower canary is a regression (throughput, success rate).
	DirectionDecrease = -1.0
	// DirectionEither: a shift either way is a regression.
	DirectionEither = 0.0
)

// Parameters of MannWhitneyJudge (progressive.JudgeSpec.Params), besides ParamWeight
// and ParamCritical. Durations are in seconds, because Params are numbers.
const (
	// MWConfidence is the confidence level of the test and of the effect's
	// interval, in (0.5, 1). Default 0.98 (Kayenta's).
	MWConfidence = "confidence"
	// MWDirection is DirectionIncrease (default), DirectionDecrease or DirectionEither.
	MWDirection = "direction"
	// MWAllowedIncrease is the relative shift above the baseline's median that
	// is tolerated: 0.1 means the canary may be up to 10% higher. Default 0.1.
	MWAllowedIncrease = "allowedIncrease"
	// MWAllowedDecrease is the tolerated relative shift below it. Default 0.1.
	MWAllowedDecrease = "allowedDecrease"
	// MWWindow is the length of the compared window ending at the measurement, in
	// seconds; 0 (the default) compares everything since the analysis started.
	// The window never reaches back before the start of the analysis.
	MWWindow = "window"
	// MWStep is the spacing of the samples, in seconds. Default 60.
	MWStep = "step"
	// MWMinSamples is the number of samples each side needs after cleaning;
	// fewer is no data. Default 5, the fewest with which an exact one-sided test
	// can reach 98% confidence on both sides (4 already can for one side).
	MWMinSamples = "minSamples"
	// MWNonFinite says what a NaN or infinite sample does: 0 (default) drops it,
	// 1 makes the whole measurement no data.
	MWNonFinite = "nonFinite"
	// MWOutliers removes outliers before the test: 0 keeps them (default; the
	// rank test is robust to them already), 1 drops values outside Tukey's fences
	// (MWIQRFactor), 2 trims quantiles (MWTrimLower, MWTrimUpper). Each side is
	// cleaned on its own.
	MWOutliers  = "outliers"
	MWIQRFactor = "iqrFactor" // Tukey's k; default 1.5
	MWTrimLower = "trimLower" // fraction trimmed at the low end, in [0, 0.5)
	MWTrimUpper = "trimUpper" // fraction trimmed at the high end, in [0, 0.5)
)

var mannWhitneyParams = append([]paramDef{
	{MWConfidence, 0.98, between(0.5, 1)},
	{MWDirection, DirectionIncrease, oneOf(DirectionIncrease, DirectionDecrease, DirectionEither)},
	{MWAllowedIncrease, 0.1, atLeast(0)},
	{MWAllowedDecrease, 0.1, inRange(0, 1)},
	{MWWindow, 0, atLeast(0)},
	{MWStep, 60, above(0)},
	{MWMinSamples, 5, wholeNumber(2)},
	{MWNonFinite, 0, oneOf(0, 1)},
	{MWOutliers, 0, oneOf(0, 1, 2)},
	{MWIQRFactor, 1.5, above(0)},
	{MWTrimLower, 0, func(v float64) string {
		if v < 0 || v >= 0.5 {
			return "must be in [0, 0.5)"
		}
		return ""
	}},
	{MWTrimUpper, 0, func(v float64) string {
		if v < 0 || v >= 0.5 {
			return "must be in [0, 0.5)"
		}
		return ""
	}},
}, scoreParams...)

// Keys of the Details of a MannWhitneyJudge measurement.
const (
	DetailClass = "class" // 1 high, -1 low, 0 pass (see Class)

	detailPHigh          = "pHigh"          // p-value of "canary above baseline + allowed increase"
	detailPLow           = "pLow"           // p-value of "canary below baseline - allowed decrease"
	detailAlpha          = "alpha"          // significance level of each tested side
	detailW              = "w"              // W of canary vs baseline (unshifted): #{c > b} + #{c = b}/2
	detailAUC            = "auc"            // W / (n1*n2): P(canary > baseline), 0.5 for no shift
	detailEffect         = "effect"         // Hodges-Lehmann shift, canary - baseline
	detailEffectLower    = "effectLower"    // lower bound of its interval (-Inf for one-sided upper)
	detailEffectUpper    = "effectUpper"    // upper bound (+Inf for one-sided lower)
	detailRelativeEffect = "relativeEffect" // effect / |baseline median|
	detailAllowedUp      = "allowedShiftUp"
	detailAllowedDown    = "allowedShiftDown"
	detailCanaryMedian   = "canaryMedian"
	detailBaselineMedian = "baselineMedian"
	detailCanaryN        = "canarySamples"
	detailBaselineN      = "baselineSamples"
	detailCanaryDropped  = "canaryDropped"
	detailBaselineDrop   = "baselineDropped"
)

// MannWhitneyJudge is the "mann-whitney" judge: per check, in the spirit of Netflix's
// Kayenta, it compares the canary's samples with the baseline's over a window by a
// Mann-Whitney U test and estimates the shift with Hodges-Lehmann and its
// confidence interval.
//
// # Samples
//
// The check's query is rendered for both roles and read through the source's
// progressive.RangeQuerier at MWStep spacing over the window (MWWindow, or since the
// analysis started), both sides at the same instants. A source that cannot return
// ranges is a configuration error. Each side is cleaned on its own (stats.Clean):
// NaN and ±Inf are dropped (or make the measurement no data, MWNonFinite), outliers
// are kept, fenced or trimmed (MWOutliers). Ties get midranks and the normal
// approximation with tie correction, as in R. A side with fewer than MWMinSamples
// samples left is no data: the measurement is inconclusive (or failed, under the
// check's NoData policy fail), never a pass; give the check an InitialDelay of at
// least MWMinSamples x MWStep so that its first measurement has enough.
//
// # Classes
//
// With α = 1 - confidence, m the baseline's median, and the allowed shifts
// up = allowedIncrease·|m| and down = allowedDecrease·|m| (zero when m is zero, so
// that the test alone decides):
//
//   - high: the canary is shifted above baseline + up, i.e. the one-sided test of
//     canary - up against baseline rejects at α (equivalently, the lower bound of
//     the Hodges-Lehmann interval is above up). Only when the direction is
//     increase or either.
//   - low: the canary is shifted below baseline - down at α. Only when the
//     direction is decrease or either.
//   - pass: neither. A shift in the harmless direction is a pass, as in Kayenta.
//   - no data: too few samples (above).
//
// With direction either, each side is tested at α/2 and the interval is two-sided.
// High and low fail the measurement; the engine counts it like any failure
// (FailureLimit, ConsecutiveFailureLimit). Testing shifted by the allowed effect is
// what keeps a significant but negligible difference (0.2 ms on 120 ms) from failing
// a canary, and what keeps repeated looks at a growing window from accumulating
// false alarms: a healthy canary is far from the boundary being tested.
//
// The measurement's Value is the canary's median, Baseline the baseline's, and
// Details hold the p-values, W and AUC, the effect and its interval (absolute and
// relative to m), the allowed shifts, the sample counts and what cleaning dropped,
// and DetailClass.
//
// # Scores
//
// A check is one metric, so the engine judges each such check on its own: any
// failing check of fail severity fails the analysis (all checks are critical). For a
// Kayenta-style weighted total over several metrics, give the checks ParamWeight and
// ParamCritical and combine their latest measurements with Score.
//
// The zero value works; set Cache (stats.NewDistCache) to keep the exact
// distributions of small samples between measurements.
type MannWhitneyJudge struct {
	Cache *stats.DistCache
}

var (
	_ Judge          = MannWhitneyJudge{}
	_ ParamValidator = MannWhitneyJudge{}
)

// ValidateParams reports unknown parameters and invalid values.
func (MannWhitneyJudge) ValidateParams(params map[string]float64) error {
	_, err := readParams(params, mannWhitneyParams)
	return err
}

// Measure takes one measurement; it keeps no state between measurements.
func (j MannWhitneyJudge) Measure(ctx context.Context, in JudgeInput) (Measurement, json.RawMessage, error) {
	c := in.Check
	p, err := readParams(paramsOf(c), mannWhitneyParams)
	if err != nil {
		return Measurement{}, nil, invalidParams(c, err)
	}
	if in.Range == nil {
		return Measurement{}, nil, fmt.Errorf("check %q: judge %q needs the samples of a window, and metric source %q cannot return them (it is no progressive.RangeQuerier): %w",
			c.Name, KindMannWhitney, sourceName(in.Source), progressive.ErrInvalid)
	}
	step := seconds(p[MWStep])
	start := in.StartedAt
	if w := seconds(p[MWWindow]); w > 0 && in.Now.Add(-w).After(start) {
		start = in.Now.Add(-w)
	}
	canaryRaw, err := window(ctx, in.Range, in.Canary, start, in.Now, step)
	if err != nil {
		return Measurement{}, nil, fmt.Errorf("canary samples: %w", err)
	}
	baselineRaw, err := window(ctx, in.Range, in.Stable, start, in.Now, step)
	if err != nil {
		return Measurement{}, nil, fmt.Errorf("baseline samples: %w", err)
	}
	m := Measurement{Status: progressive.StatusValue, Value: math.NaN(), Details: map[string]float64{
		ParamWeight: p[ParamWeight], ParamCritical: p[ParamCritical],
	}}
	span := fmt.Sprintf("%s..%s every %s", start.Format(time.TimeOnly), in.Now.Format(time.TimeOnly), step)

	opts := stats.CleanOptions{
		NonFinite: stats.NonFinitePolicy(p[MWNonFinite]),
		Outliers:  stats.OutlierMethod(p[MWOutliers]),
		IQRFactor: p[MWIQRFactor],
		TrimLower: p[MWTrimLower],
		TrimUpper: p[MWTrimUpper],
	}
	canary, crep, cerr := clean(values(canaryRaw), opts)
	baseline, brep, berr := clean(values(baselineRaw), opts)
	if cerr != nil || berr != nil {
		m.Status = progressive.StatusNaN
		m.Outcome = OutcomeInconclusive
		m.Reason = fmt.Sprintf("no data (non-finite samples and nonFinite 1): %s", errors.Join(cerr, berr))
		return m, nil, nil
	}
	m.Details[detailCanaryN], m.Details[detailBaselineN] = float64(len(canary)), float64(len(baseline))
	m.Details[detailCanaryDropped], m.Details[detailBaselineDrop] = float64(crep.Dropped()), float64(brep.Dropped())
	if minN := int(p[MWMinSamples]); len(canary) < minN || len(baseline) < minN {
		m.Status = progressive.StatusNoData
		m.Outcome = OutcomeInconclusive
		m.Reason = fmt.Sprintf("no data (%d canary and %d baseline samples in %s%s; at least %d each are needed)",
			len(canary), len(baseline), span, droppedNote(crep, brep), minN)
		return m, nil, nil
	}

	cMed, bMed := median(canary), median(baseline)
	m.Value, m.Baseline = cMed, &bMed
	m.Details[detailCanaryMedian], m.Details[detailBaselineMedian] = cMed, bMed
	up, down := p[MWAllowedIncrease]*math.Abs(bMed), p[MWAllowedDecrease]*math.Abs(bMed)
	m.Details[detailAllowedUp], m.Details[detailAllowedDown] = up, down

	dir := p[MWDirection]
	alpha := 1 - p[MWConfidence]
	sideAlpha := alpha
	hlAlt := stats.Greater
	switch dir {
	case DirectionEither:
		sideAlpha, hlAlt = alpha/2, stats.TwoSided
	case DirectionDecrease:
		hlAlt = stats.Less
	}
	m.Details[detailAlpha] = sideAlpha

	plain, err := stats.MannWhitney(canary, baseline, stats.MannWhitneyOptions{Cache: j.Cache})
	if err != nil {
		return Measurement{}, nil, fmt.Errorf("check %q: %w", c.Name, err)
	}
	m.Details[detailW], m.Details[detailAUC] = plain.W, plain.AUC
	shift, err := stats.HodgesLehmann(canary, baseline, stats.ShiftOptions{ConfLevel: p[MWConfidence], Alternative: hlAlt, Cache: j.Cache})
	if err != nil {
		return Measurement{}, nil, fmt.Errorf("check %q: %w", c.Name, err)
	}
	m.Details[detailEffect], m.Details[detailEffectLower], m.Details[detailEffectUpper] = shift.Estimate, shift.Lower, shift.Upper
	rel := math.NaN()
	if bMed != 0 {
		rel = shift.Estimate / math.Abs(bMed)
	}
	m.Details[detailRelativeEffect] = rel

	class := ClassPass
	var pv float64
	var tested []string
	if dir != DirectionDecrease {
		r, err := stats.MannWhitney(canary, baseline, stats.MannWhitneyOptions{Alternative: stats.Greater, Mu: up, Cache: j.Cache})
		if err != nil {
			return Measurement{}, nil, fmt.Errorf("check %q: %w", c.Name, err)
		}
		m.Details[detailPHigh] = r.PValue
		pv = r.PValue
		tested = append(tested, fmt.Sprintf("higher than allowed %s: p=%s", signed(up), formatP(r.PValue)))
		if r.PValue < sideAlpha {
			class = ClassHigh
		}
	}
	if dir != DirectionIncrease {
		r, err := stats.MannWhitney(canary, baseline, stats.MannWhitneyOptions{Alternative: stats.Less, Mu: -down, Cache: j.Cache})
		if err != nil {
			return Measurement{}, nil, fmt.Errorf("check %q: %w", c.Name, err)
		}
		m.Details[detailPLow] = r.PValue
		if dir == DirectionDecrease || r.PValue < pv {
			pv = r.PValue
		}
		tested = append(tested, fmt.Sprintf("lower than allowed %s: p=%s", signed(-down), formatP(r.PValue)))
		if r.PValue < sideAlpha && class == ClassPass {
			class = ClassLow
		}
	}
	m.Details[DetailClass] = class.code()

	conf := formatNumber(100*p[MWConfidence]) + "%"
	effect := fmt.Sprintf("shift %s (%s CI [%s, %s]", signed(shift.Estimate), conf, signed(shift.Lower), signed(shift.Upper))
	if !math.IsNaN(rel) {
		effect += fmt.Sprintf(", %s of baseline", signedPercent(rel))
	}
	effect += ")"
	medians := fmt.Sprintf("canary median %s vs baseline %s over %d/%d samples%s",
		formatNumber(cMed), formatNumber(bMed), len(canary), len(baseline), droppedNote(crep, brep))
	test := fmt.Sprintf("Mann-Whitney W=%s, %s at alpha %s", formatNumber(plain.W), strings.Join(tested, "; "), formatNumber(sideAlpha))
	switch class {
	case ClassHigh:
		m.Outcome = OutcomeFail
		m.Reason = fmt.Sprintf("%s high: %s, more than allowed %s; %s; %s", c.Name, effect, signed(up), medians, test)
	case ClassLow:
		m.Outcome = OutcomeFail
		m.Reason = fmt.Sprintf("%s low: %s, more than allowed %s; %s; %s", c.Name, effect, signed(-down), medians, test)
	default:
		m.Outcome = OutcomePass
		m.Reason = fmt.Sprintf("%s pass: %s; %s; %s", c.Name, effect, medians, test)
	}
	return m, nil, nil
}

// clean applies stats.Clean; an empty result is not an error here (it is no data).
func clean(xs []float64, opts stats.CleanOptions) ([]float64, stats.CleanReport, error) {
	if len(xs) == 0 {
		return nil, stats.CleanReport{}, nil
	}
	out, rep, err := stats.Clean(xs, opts)
	if errors.Is(err, stats.ErrEmptySample) {
		return nil, rep, nil
	}
	return out, rep, err
}

func droppedNote(c, b stats.CleanReport) string {
	if c.Dropped() == 0 && b.Dropped() == 0 {
		return ""
	}
	return fmt.Sprintf(" (cleaning dropped %d canary and %d baseline samples)", c.Dropped(), b.Dropped())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stats.Quantile(s, 0.5)
}

func formatP(p float64) string {
	if p != 0 && p < 1e-4 {
		return fmt.Sprintf("%.2g", p)
	}
	return formatNumber(math.Round(p*1e4) / 1e4)
}

func signedPercent(v float64) string {
	if v > 0 {
		return "+" + percent(v)
	}
	return percent(v)
}

func sourceName(s progressive.MetricSource) string {
	if s == nil {
		return ""
	}
	return s.Name()
}
