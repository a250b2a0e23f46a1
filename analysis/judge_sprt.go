package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis/stats"
)

// Parameters of SPRTJudge (progressive.JudgeSpec.Params), besides ParamWeight and
// ParamCritical.
const (
	// SPRTAlpha bounds the probability that a canary whose error rate is not above
	// the baseline's is ever failed by this check in one analysis, however many
	// times it is measured. Default 0.01.
	SPRTAlpha = "alpha"
	// SPRTMinRatio is the ratio of error rates (canary / baseline) the test is
	// tuned to detect, > 1. Default 2: detection is fastest near it, larger
	// regressions are caught sooner still, smaller ones more slowly.
	SPRTMinRatio = "minRatio"
	// SPRTFastRatio, when above minRatio, adds a second test tuned to that ratio
	// (say 5): the canary fails when either test finds a regression, each at
	// alpha/2, so alpha still bounds false alarms (a union bound) while a strong
	// regression is caught as soon as the test tuned to it can tell, and a
	// weaker one by the minRatio test. 0 (the default) runs the minRatio test
	// alone. Not with SPRTAccept.
	SPRTFastRatio = "fastRatio"
	// SPRTAccept, when 1, lets the test also stop as healthy (Wald's acceptance
	// boundary ln(beta)): the check then passes for the rest of the analysis
	// without reading more. Default 0: the test watches until the analysis ends,
	// so a regression that the data shows only later is still caught.
	SPRTAccept = "accept"
	// SPRTBeta bounds the probability of accepting a canary whose error rate is
	// minRatio times the baseline's, when SPRTAccept is 1. Default 0.05.
	SPRTBeta = "beta"
	// SPRTStep is the span one sample of the queries covers, in seconds (the
	// window of the rate or increase in the query). Default 60.
	SPRTStep = "step"
	// SPRTLookback, in seconds, makes the test of an analysis start that long
	// before the analysis did, so that it also weighs the minutes of the previous
	// steps of the rollout (the test handles a canary share that changes from
	// minute to minute). Default 0: only the analysis's own minutes. Keep it
	// within the rollout: a window that reaches back to an earlier canary mixes
	// that canary's errors in, unless the queries select by {{.Version}}.
	SPRTLookback = "lookback"
	// SPRTScale turns a query's value into a count: count = value × scale. Default
	// 1 for queries that return counts; 60 for per-second rates over 1-minute
	// windows (the simulator's request_rate).
	SPRTScale = "scale"
	// SPRTRatio says what the check's query returns: 0 (default) the number of
	// errors in the step (times scale); a positive value, the error ratio in
	// units where that value is 100% (1 for a fraction, 100 for a percentage, as
	// the simulator's error_rate), turned into counts with the requests.
	SPRTRatio = "ratio"
)

var sprtParams = append([]paramDef{
	{SPRTAlpha, stats.DefaultSPRTAlpha, between(0, 0.5)},
	{SPRTMinRatio, 2, above(1)},
	{SPRTFastRatio, 0, func(v float64) string {
		if v != 0 && v <= 1 {
			return "must be 0 (off) or above 1"
		}
		return ""
	}},
	{SPRTAccept, 0, oneOf(0, 1)},
	{SPRTBeta, stats.DefaultSPRTBeta, between(0, 0.5)},
	{SPRTStep, 60, above(0)},
	{SPRTLookback, 0, atLeast(0)},
	{SPRTScale, 1, above(0)},
	{SPRTRatio, 0, atLeast(0)},
}, scoreParams...)

// SPRTJudge is the "sprt" judge: a sequential probability ratio test of the canary's
// error rate against the baseline's (stats.RateSPRT), fed with the counts of every
// step since its last measurement. Its false-alarm guarantee holds however often it
// is looked at, so it runs at every tick: a strong regression fails the check at
// the first tick where the evidence suffices, and neither noise nor a weak
// regression is likely to fail it by chance (at most SPRTAlpha per analysis when the
// canary is no worse than the baseline).
//
// # What the queries return
//
// The check's Query is the errors query: rendered for each role it returns, per
// step, the errors served (SPRTRatio 0, e.g.
// sum(increase(http_requests_total{code=~"5..",version="{{.Version}}"}[1m]))) or the
// error ratio (SPRTRatio > 0, e.g. the simulator's error_rate in percent). Requests
// maps the rendered errors query to the requests query for the same role, target and
// step (RequestsExpr for sources whose expressions are series names, such as the
// simulator; RequestsReplace to edit PromQL). Values times SPRTScale are counts,
// rounded to whole numbers. Both queries go through the engine's source of the check.
//
// # Samples and state
//
// With a progressive.RangeQuerier source, each measurement reads the samples at
// every SPRTStep after the last one it consumed, up to now: a tick the runner missed
// (a restart, an outage of the metrics backend) is caught up, and no step is counted
// twice. Without one, each measurement reads the four values at now, at most once
// per step. The test's state (log-likelihood ratio, cumulative counts, the last
// instant consumed) is the judge's state, stored by the engine in CheckState.Judge:
// a restarted runner resumes the test exactly. The test is the analysis step's own;
// the next analysis step starts a new one, which can also weigh the minutes before
// it (SPRTLookback).
//
// The decision benchmark's configuration (decisionbench.StatisticalChecks: alpha
// 0.004 per analysis, minRatio 2, fastRatio 5, lookback 15m) rolls back an x5
// regression of a 10% canary at 100 req/s at the first minute in most runs, keeps
// false rollbacks of the guide's two-step canary under 1%, and promotes no x2
// regression from 100 req/s up.
//
// An instant counts when the baseline served requests then; the canary's requests
// are 0 when its series is absent. A measurement whose new samples have no canary
// request, or none at all, is no data (the check's NoData policy applies; it never
// passes). Otherwise: regression (log-likelihood ratio ≥ ln(1/alpha)) fails with
// class high; otherwise the check passes, meaning "no regression found so far".
// Only errors carry evidence: at low traffic the analysis deadline can come before
// a weak regression is found, and the canary then passes; the decision benchmark
// (internal/decisionbench) measures how often.
//
// The measurement's Value is the canary's error ratio over the analysis so far
// (errors / requests), Baseline the baseline's; Details hold the log-likelihood
// ratio and its bounds, the cumulative counts, the samples read and DetailClass.
type SPRTJudge struct {
	// Requests returns the requests query that goes with a rendered errors query
	// (same role, target and time). Required.
	Requests func(errors progressive.Query) progressive.Query
}

var (
	_ Judge          = SPRTJudge{}
	_ ParamValidator = SPRTJudge{}
)

// RequestsExpr returns a SPRTJudge.Requests that asks for expr instead of the errors
// expression, for the same role and target: enough for sources whose expressions
// name series, such as provider/sim ("request_rate").
func RequestsExpr(expr string) func(progressive.Query) progressive.Query {
	return func(q progressive.Query) progressive.Query {
		q.Expr = expr
		return q
	}
}

// RequestsReplace returns a SPRTJudge.Requests that edits the rendered errors
// expression with strings.NewReplacer(oldnew...): for PromQL, dropping the status
// filter (`,code=~"5.."`, "") turns the errors into the requests.
func RequestsReplace(oldnew ...string) func(progressive.Query) progressive.Query {
	r := strings.NewReplacer(oldnew...)
	return func(q progressive.Query) progressive.Query {
		q.Expr = r.Replace(q.Expr)
		return q
	}
}

// ValidateParams reports unknown parameters and invalid values, and a judge
// without Requests.
func (j SPRTJudge) ValidateParams(params map[string]float64) error {
	var p progressive.Problems
	v, err := readParams(params, sprtParams)
	p.Merge("", err)
	if err == nil {
		p.Merge("", sprtCombination(v))
	}
	if j.Requests == nil {
		p.Add("requests", nil, "the sprt judge has no Requests function to find the requests query; set SPRTJudge.Requests")
	}
	return p.Err()
}

// sprtCombination checks the parameters that depend on each other.
func sprtCombination(p map[string]float64) error {
	var pr progressive.Problems
	if f := p[SPRTFastRatio]; f != 0 && f <= p[SPRTMinRatio] {
		pr.Add(SPRTFastRatio, f, "must be above minRatio (%s)", formatNumber(p[SPRTMinRatio]))
	}
	if p[SPRTFastRatio] != 0 && p[SPRTAccept] == 1 {
		pr.Add(SPRTFastRatio, p[SPRTFastRatio], "cannot be combined with accept 1")
	}
	return pr.Err()
}

// sprtState is what the judge keeps between measurements (see its JSON form in
// judge_sprt_state.go).
type sprtState struct {
	Test stats.RateSPRT
	// Fast is the test tuned to SPRTFastRatio, when there is one.
	Fast *stats.RateSPRT
	// Through is the instant of the last sample consumed.
	Through time.Time
	// Samples counts the sample instants consumed.
	Samples int
}

// decided reports whether the tests have stopped.
func (st *sprtState) decided() bool {
	return st.Test.Decision.Terminal() || (st.Fast != nil && st.Fast.Decision.Terminal())
}

// update feeds one instant to the tests that are still open; once one has
// decided, the others are not updated, so every test stops at the same instant.
func (st *sprtState) update(tk tickCounts) error {
	if st.decided() {
		return nil
	}
	if _, err := st.Test.Update(tk.canaryErr, tk.canaryN, tk.baseErr, tk.baseN); err != nil {
		return err
	}
	if st.Fast != nil {
		if _, err := st.Fast.Update(tk.canaryErr, tk.canaryN, tk.baseErr, tk.baseN); err != nil {
			return err
		}
	}
	return nil
}

// tickCounts are the counts of one sample instant.
type tickCounts struct {
	at                                 time.Time
	canaryErr, canaryN, baseErr, baseN int64
}

// Measure feeds the new samples to the test and reports its decision.
func (j SPRTJudge) Measure(ctx context.Context, in JudgeInput) (Measurement, json.RawMessage, error) {
	c := in.Check
	p, err := readParams(paramsOf(c), sprtParams)
	if err != nil {
		return Measurement{}, nil, invalidParams(c, err)
	}
	if j.Requests == nil {
		return Measurement{}, nil, fmt.Errorf("check %q: the sprt judge has no Requests function: %w", c.Name, progressive.ErrInvalid)
	}
	st := sprtState{Through: in.StartedAt.Add(-seconds(p[SPRTLookback]))}
	if len(in.State) > 0 {
		if err := st.UnmarshalJSON(in.State); err != nil { // direct: no reflection, no second scan
			return Measurement{}, nil, fmt.Errorf("check %q: sprt state: %v: %w", c.Name, err, progressive.ErrInvalid)
		}
	} else {
		if err := sprtCombination(p); err != nil {
			return Measurement{}, nil, invalidParams(c, err)
		}
		alpha := p[SPRTAlpha]
		if p[SPRTFastRatio] != 0 {
			alpha /= 2
		}
		t, err := stats.NewRateSPRT(stats.RateSPRTConfig{
			Alpha:               alpha,
			Beta:                p[SPRTBeta],
			MinRelativeIncrease: p[SPRTMinRatio],
			OneSided:            p[SPRTAccept] == 0,
		})
		if err != nil {
			return Measurement{}, nil, invalidParams(c, err)
		}
		st.Test = *t
		if f := p[SPRTFastRatio]; f != 0 {
			fast, err := stats.NewRateSPRT(stats.RateSPRTConfig{Alpha: alpha, MinRelativeIncrease: f, OneSided: true})
			if err != nil {
				return Measurement{}, nil, invalidParams(c, err)
			}
			st.Fast = fast
		}
	}
	m := Measurement{Status: progressive.StatusValue, Value: math.NaN(), Details: map[string]float64{
		ParamWeight: p[ParamWeight], ParamCritical: p[ParamCritical],
	}}
	if st.decided() {
		// Closed: a rejected test stays rejected, an accepted one accepted.
		j.report(&m, c, st, 0, "")
		return m, in.State, nil
	}

	step := seconds(p[SPRTStep])
	var ticks []tickCounts
	var skipped int
	last := st.Through
	if in.Range != nil {
		ticks, skipped, last, err = j.rangeCounts(ctx, in, p, st.Through, step)
	} else if !in.Now.Before(st.Through.Add(step)) {
		ticks, skipped, err = j.instantCounts(ctx, in, p)
		if len(ticks)+skipped > 0 {
			last = in.Now
		}
	}
	if err != nil {
		return Measurement{}, nil, err
	}
	if last.After(st.Through) {
		st.Through = last
	}
	var newCanary, newBase int64
	for _, tk := range ticks {
		if !tk.at.After(in.StartedAt) && tk.canaryN == 0 {
			continue // looking back to before the canary served anything
		}
		if err := st.update(tk); err != nil {
			return Measurement{}, nil, fmt.Errorf("check %q: %w", c.Name, err)
		}
		st.Samples++
		newCanary += tk.canaryN
		newBase += tk.baseN
	}
	var note string
	if skipped > 0 {
		note = fmt.Sprintf("; %d instant(s) without usable counts skipped", skipped)
	}
	state, err := st.MarshalJSON()
	if err != nil {
		return Measurement{}, nil, fmt.Errorf("check %q: sprt state: %w", c.Name, err)
	}
	var why string
	switch {
	case len(ticks) == 0:
		why = fmt.Sprintf("no data (no new samples of errors and requests up to %s%s)", in.Now.Format(time.TimeOnly), note)
	case newCanary == 0:
		why = fmt.Sprintf("no data (the canary served no requests in %d new sample(s) up to %s%s)", len(ticks), in.Now.Format(time.TimeOnly), note)
	case newBase == 0:
		why = fmt.Sprintf("no data (the baseline served no requests in %d new sample(s) up to %s%s)", len(ticks), in.Now.Format(time.TimeOnly), note)
	}
	j.report(&m, c, st, len(ticks), note)
	if why != "" && m.Outcome != OutcomeFail {
		m.Status, m.Outcome, m.Reason = progressive.StatusNoData, OutcomeInconclusive, why
		delete(m.Details, DetailClass)
	}
	return m, state, nil
}

// report fills the measurement from the tests' state.
func (SPRTJudge) report(m *Measurement, c progressive.Check, st sprtState, newSamples int, note string) {
	t := st.Test
	v := t.Verdict()
	cr, br := rate(t.CanaryErrors, t.CanaryTotal), rate(t.BaselineErrors, t.BaselineTotal)
	m.Value = cr
	if !math.IsNaN(br) {
		m.Baseline = &br
	}
	ratio := math.NaN()
	if r, ok := t.ObservedRatio(); ok {
		ratio = r
	} else if t.CanaryErrors > 0 && t.BaselineTotal > 0 {
		ratio = math.Inf(1)
	}
	cfg := t.Config.WithDefaults()
	alpha := cfg.Alpha
	d := m.Details
	d["llr"], d["upperBound"], d["lowerBound"] = v.LLR, v.UpperBound, v.LowerBound
	d[SPRTMinRatio] = cfg.MinRelativeIncrease
	llr := fmt.Sprintf("log-likelihood ratio %s for a %sx error rate", formatNumber(round3(v.LLR)), formatNumber(cfg.MinRelativeIncrease))
	decision := t.Decision
	if st.Fast != nil {
		alpha *= 2
		fv := st.Fast.Verdict()
		d["llrFast"], d[SPRTFastRatio] = fv.LLR, st.Fast.Config.MinRelativeIncrease
		llr = fmt.Sprintf("log-likelihood ratios %s for a %sx and %s for a %sx error rate",
			formatNumber(round3(v.LLR)), formatNumber(cfg.MinRelativeIncrease),
			formatNumber(round3(fv.LLR)), formatNumber(st.Fast.Config.MinRelativeIncrease))
		if st.Fast.Decision == stats.RejectH0 {
			decision = stats.RejectH0
		}
	}
	llr += fmt.Sprintf(" over %d sample(s)", t.Ticks)
	d[SPRTAlpha] = alpha
	d["ticks"], d["newSamples"] = float64(t.Ticks), float64(newSamples)
	d["canaryErrors"], d["canaryRequests"] = float64(t.CanaryErrors), float64(t.CanaryTotal)
	d["baselineErrors"], d["baselineRequests"] = float64(t.BaselineErrors), float64(t.BaselineTotal)
	d["observedRatio"] = ratio
	counts := fmt.Sprintf("canary %d errors / %d requests (%s), baseline %d / %d (%s), ratio %s",
		t.CanaryErrors, t.CanaryTotal, percent(cr), t.BaselineErrors, t.BaselineTotal, percent(br), formatNumber(round3(ratio)))
	bound := fmt.Sprintf("ln(1/alpha) = %s", formatNumber(round3(v.UpperBound)))
	if st.Fast != nil {
		bound = fmt.Sprintf("ln(2/alpha) = %s", formatNumber(round3(v.UpperBound)))
	}
	switch decision {
	case stats.RejectH0:
		m.Outcome = OutcomeFail
		d[DetailClass] = ClassHigh.code()
		m.Reason = fmt.Sprintf("%s high: %s reached %s (alpha %s): regression; %s%s",
			c.Name, llr, bound, formatNumber(alpha), counts, note)
	case stats.AcceptH0:
		m.Outcome = OutcomePass
		d[DetailClass] = ClassPass.code()
		m.Reason = fmt.Sprintf("%s pass: %s reached ln(beta) = %s: accepted as healthy; %s%s",
			c.Name, llr, formatNumber(round3(v.LowerBound)), counts, note)
	default:
		m.Outcome = OutcomePass
		d[DetailClass] = ClassPass.code()
		m.Reason = fmt.Sprintf("%s pass: no regression found so far: %s, below %s; %s%s",
			c.Name, llr, bound, counts, note)
	}
}

// rangeCounts reads the four series at every step after through.
func (j SPRTJudge) rangeCounts(ctx context.Context, in JudgeInput, p map[string]float64, through time.Time, step time.Duration) (ticks []tickCounts, skipped int, last time.Time, err error) {
	type series struct {
		name string
		q    progressive.Query
		out  map[int64]float64
	}
	all := []*series{
		{name: "canary errors", q: in.Canary},
		{name: "canary requests", q: j.Requests(in.Canary)},
		{name: "baseline errors", q: in.Stable},
		{name: "baseline requests", q: j.Requests(in.Stable)},
	}
	for _, s := range all {
		samples, err := window(ctx, in.Range, s.q, through, in.Now, step)
		if err != nil {
			return nil, 0, through, fmt.Errorf("%s: %w", s.name, err)
		}
		s.out = make(map[int64]float64, len(samples))
		for _, x := range samples {
			s.out[x.Time.UnixNano()] = x.Value
		}
	}
	// The baseline's requests anchor the instants: without them there is nothing to
	// compare with.
	instants := make([]int64, 0, len(all[3].out))
	for t := range all[3].out {
		instants = append(instants, t)
	}
	slices.Sort(instants)
	last = through
	for _, t := range instants {
		last = time.Unix(0, t).UTC()
		cn, cok := all[1].out[t]
		if !cok {
			cn = 0 // no canary series at that instant: no canary traffic
		}
		ce, ceok := all[0].out[t]
		tk, ok := counts(p, ce, ceok, cn, all[2].out[t], hasKey(all[2].out, t), all[3].out[t])
		if !ok {
			skipped++
			continue
		}
		tk.at = last
		ticks = append(ticks, tk)
	}
	return ticks, skipped, last, nil
}

func hasKey(m map[int64]float64, k int64) bool { _, ok := m[k]; return ok }

// instantCounts reads the four values at now.
func (j SPRTJudge) instantCounts(ctx context.Context, in JudgeInput, p map[string]float64) ([]tickCounts, int, error) {
	vals := make([]float64, 4)
	ok := make([]bool, 4)
	for i, q := range []progressive.Query{in.Canary, j.Requests(in.Canary), in.Stable, j.Requests(in.Stable)} {
		r, err := in.Source.Query(ctx, q)
		if err != nil {
			return nil, 0, err
		}
		vals[i], ok[i] = r.Value, r.Status == progressive.StatusValue || r.Status == progressive.StatusNaN
	}
	if !ok[3] {
		return nil, 0, nil
	}
	if !ok[1] {
		vals[1] = 0
	}
	tk, usable := counts(p, vals[0], ok[0], vals[1], vals[2], ok[2], vals[3])
	if !usable {
		return nil, 1, nil
	}
	tk.at = in.Now
	return []tickCounts{tk}, 0, nil
}

// counts turns one instant's values into counts; false when they are unusable
// (a request count that is not a non-negative number, errors missing or NaN
// while requests were served).
func counts(p map[string]float64, canaryErr float64, canaryErrOK bool, canaryReq, baseErr float64, baseErrOK bool, baseReq float64) (tickCounts, bool) {
	var tk tickCounts
	var ok bool
	if tk.canaryErr, tk.canaryN, ok = side(p, canaryErr, canaryErrOK, canaryReq); !ok {
		return tk, false
	}
	if tk.baseErr, tk.baseN, ok = side(p, baseErr, baseErrOK, baseReq); !ok {
		return tk, false
	}
	return tk, true
}

func side(p map[string]float64, errv float64, errOK bool, req float64) (int64, int64, bool) {
	scale := p[SPRTScale]
	n := math.Round(req * scale)
	if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
		return 0, 0, false
	}
	if n == 0 {
		return 0, 0, true
	}
	if !errOK || math.IsNaN(errv) || math.IsInf(errv, 0) || errv < 0 {
		return 0, 0, false
	}
	var e float64
	if ratio := p[SPRTRatio]; ratio > 0 {
		e = math.Round(n * errv / ratio)
	} else {
		e = math.Round(errv * scale)
	}
	return int64(min(e, n)), int64(n), true
}

func rate(errs, total int64) float64 {
	if total == 0 {
		return math.NaN()
	}
	return float64(errs) / float64(total)
}

func round3(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	return math.Round(v*1000) / 1000
}
