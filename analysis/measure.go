package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agentops/progressive"
)

// source resolves a check's metric source; every failure is a configuration error.
func (e *Engine) source(c progressive.Check) (progressive.MetricSource, error) {
	src, err := e.sources(c.Metrics)
	if err == nil && src == nil {
		err = errors.New("no source returned")
	}
	switch {
	case err == nil:
		return src, nil
	case errors.Is(err, progressive.ErrInvalid):
		return nil, fmt.Errorf("check %q: metric source %q: %w", c.Name, c.Metrics, err)
	default:
		return nil, fmt.Errorf("check %q: metric source %q: %w: %w", c.Name, c.Metrics, progressive.ErrInvalid, err)
	}
}

// query renders the check's query for one role, evaluated at now.
func (e *Engine) query(c progressive.Check, vars Vars, role progressive.Role, now time.Time) (progressive.Query, error) {
	expr, err := e.tmpl.render(c, vars, role)
	if err != nil {
		return progressive.Query{}, err
	}
	return progressive.Query{
		Name:   c.Name,
		Expr:   expr,
		Target: progressive.Target{Namespace: vars.Namespace, Name: vars.Service},
		Role:   role,
		Time:   now,
	}, nil
}

// measure takes one measurement of c (with defaults applied). It returns the
// judge's new state (judgeState unchanged for non-judge checks and on errors) and
// an error only for what stops the analysis: configuration errors and the end of
// ctx.
//
// warming says the check is within its warm-up: no data and too few samples wait
// (OutcomeWaiting) instead of counting.
func (e *Engine) measure(ctx context.Context, c progressive.Check, judgeState json.RawMessage, vars Vars, startedAt, now time.Time, warming bool) (Measurement, json.RawMessage, error) {
	src, err := e.source(c)
	if err != nil {
		return Measurement{}, judgeState, err
	}
	canary, err := e.query(c, vars, progressive.Canary, now)
	if err != nil {
		return Measurement{}, judgeState, err
	}
	m := Measurement{Check: c.Name, Time: now, Query: canary.Expr, Severity: c.Severity, Value: math.NaN()}
	if c.Judge != nil {
		return e.judge(ctx, c, m, src, canary, judgeState, vars, startedAt, now, warming)
	}

	res, err := src.Query(ctx, canary)
	if err != nil {
		if err := stopping(ctx, c, progressive.Canary, err); err != nil {
			return Measurement{}, judgeState, err
		}
		unavailable(&m, "", err)
		return m, judgeState, nil
	}
	m.Status = res.Status
	cv, ok, why := usable(res)
	if ok {
		m.Value = cv
	}
	if !ok {
		what := "no data ("
		if c.Baseline != nil {
			what = "no data for canary ("
		}
		noData(&m, c, what+why+")", warming)
		return m, judgeState, nil
	}
	if c.Samples != nil {
		enough, err := e.samples(ctx, c, src, vars, now, &m, warming)
		if err != nil || !enough {
			return m, judgeState, err
		}
	}
	if c.Baseline == nil {
		judgeBounds(&m, c, c.Name, cv, "")
		return m, judgeState, nil
	}

	stable, err := e.query(c, vars, progressive.Stable, now)
	if err != nil {
		return Measurement{}, judgeState, err
	}
	sres, err := src.Query(ctx, stable)
	if err != nil {
		if err := stopping(ctx, c, progressive.Stable, err); err != nil {
			return Measurement{}, judgeState, err
		}
		unavailable(&m, "stable query: ", err)
		return m, judgeState, nil
	}
	sv, ok, why := usable(sres)
	if !ok {
		noData(&m, c, "no data for stable ("+why+")", warming)
		return m, judgeState, nil
	}
	m.Baseline = &sv
	compared := compare(c.Baseline.Mode, cv, sv)
	m.Compared = &compared
	suffix := fmt.Sprintf(" (canary %s, stable %s)", formatNumber(cv), formatNumber(sv))
	if math.IsNaN(compared) {
		noData(&m, c, fmt.Sprintf("no data (%s of canary and stable is NaN)%s", c.Baseline.Mode, suffix), false)
		return m, judgeState, nil
	}
	judgeBounds(&m, c, c.Name+" "+string(c.Baseline.Mode), compared, suffix)
	return m, judgeState, nil
}

// judge takes the measurement of a statistical check.
func (e *Engine) judge(ctx context.Context, c progressive.Check, m Measurement, src progressive.MetricSource,
	canary progressive.Query, judgeState json.RawMessage, vars Vars, startedAt, now time.Time, warming bool) (Measurement, json.RawMessage, error) {
	j := e.judges[c.Judge.Kind]
	if j == nil {
		return Measurement{}, judgeState, fmt.Errorf("check %q: unknown judge kind %q; %s: %w",
			c.Name, c.Judge.Kind, knownJudges(e.judges), progressive.ErrInvalid)
	}
	stable, err := e.query(c, vars, progressive.Stable, now)
	if err != nil {
		return Measurement{}, judgeState, err
	}
	rq, _ := src.(progressive.RangeQuerier)
	jm, newState, err := j.Measure(ctx, JudgeInput{
		Check:     c,
		Canary:    canary,
		Stable:    stable,
		Source:    src,
		Range:     rq,
		Now:       now,
		StartedAt: startedAt,
		State:     judgeState,
	})
	if err != nil {
		if err := stopping(ctx, c, "", err); err != nil {
			return Measurement{}, judgeState, err
		}
		unavailable(&m, "judge "+c.Judge.Kind+": ", err)
		return m, judgeState, nil
	}
	jm.Check, jm.Time, jm.Severity = c.Name, now, c.Severity
	if jm.Query == "" {
		jm.Query = canary.Expr
	}
	switch {
	case jm.Status == progressive.StatusNoData || jm.Status == progressive.StatusNaN:
		// Missing samples never pass, whatever the judge concluded.
		if jm.Outcome != OutcomeFail {
			reason := jm.Reason
			if reason == "" {
				reason = "no data (" + describeStatus(jm.Status) + ")"
			}
			noData(&jm, c, reason, warming)
		}
	case jm.Outcome == OutcomePass, jm.Outcome == OutcomeFail, jm.Outcome == OutcomeInconclusive:
	default:
		jm.Reason = fmt.Sprintf("judge %q returned the unknown outcome %q: %s", c.Judge.Kind, jm.Outcome, jm.Reason)
		jm.Outcome = OutcomeInconclusive
	}
	return jm, newState, nil
}

// stopping returns the error that stops the analysis, or nil when err is a
// measurement problem (an inconclusive measurement).
func stopping(ctx context.Context, c progressive.Check, role progressive.Role, err error) error {
	what := "check " + fmt.Sprintf("%q", c.Name)
	if role != "" {
		what += " (" + string(role) + " query)"
	}
	switch {
	case errors.Is(err, progressive.ErrInvalid):
		return fmt.Errorf("%s: %w", what, err)
	case ctx.Err() != nil:
		return fmt.Errorf("analysis: %s interrupted: %w", what, context.Cause(ctx))
	}
	return nil
}

// unavailable makes m an inconclusive measurement for a source error. The status is
// cleared when the canary query itself failed.
func unavailable(m *Measurement, prefix string, err error) {
	if prefix == "" {
		m.Status = ""
	}
	m.Outcome = OutcomeInconclusive
	m.Error = err.Error()
	if progressive.IsTransient(err) {
		m.Reason = prefix + "backend unreachable: " + err.Error()
	} else {
		m.Reason = prefix + "query failed: " + err.Error()
	}
}

// usable returns the result's value when it is one (a number, ±Inf included),
// otherwise why not. NaN is never usable, whatever the status says.
func usable(r progressive.Result) (float64, bool, string) {
	switch {
	case r.Status == progressive.StatusValue && !math.IsNaN(r.Value):
		return r.Value, true, ""
	case r.Status == progressive.StatusValue:
		return 0, false, describeStatus(progressive.StatusNaN)
	}
	return 0, false, describeStatus(r.Status)
}

func describeStatus(s progressive.ResultStatus) string {
	switch s {
	case progressive.StatusNoData:
		return "empty result"
	case progressive.StatusNaN:
		return "NaN result"
	}
	return fmt.Sprintf("unknown result status %q", s)
}

// noData applies the check's NoData policy: inconclusive or fail, never pass.
// During the warm-up it waits instead.
func noData(m *Measurement, c progressive.Check, reason string, warming bool) {
	if warming {
		m.Outcome = OutcomeWaiting
		m.Reason = reason + ", waiting for data (warm-up)"
		return
	}
	if c.NoData == progressive.NoDataFail {
		m.Outcome = OutcomeFail
		m.Reason = reason + ", counted as a failure (noData: fail)"
		return
	}
	m.Outcome = OutcomeInconclusive
	m.Reason = reason
}

// compare returns canary/stable (0/0 is 1, x/0 is ±Inf) or canary-stable.
func compare(mode progressive.BaselineMode, canary, stable float64) float64 {
	if mode == progressive.BaselineDifference {
		return canary - stable
	}
	if canary == 0 && stable == 0 {
		return 1
	}
	return canary / stable
}

// judgeBounds compares v with the check's Min and Max; ±Inf compare as numbers.
func judgeBounds(m *Measurement, c progressive.Check, label string, v float64, suffix string) {
	n := formatNumber(v)
	switch {
	case math.IsNaN(v):
		noData(m, c, "no data (NaN)"+suffix, false)
	case c.Max != nil && v > *c.Max:
		m.Outcome = OutcomeFail
		m.Reason = fmt.Sprintf("%s %s > max %s%s", label, n, formatNumber(*c.Max), suffix)
	case c.Min != nil && v < *c.Min:
		m.Outcome = OutcomeFail
		m.Reason = fmt.Sprintf("%s %s < min %s%s", label, n, formatNumber(*c.Min), suffix)
	case c.Min != nil && c.Max != nil:
		m.Outcome = OutcomePass
		m.Reason = fmt.Sprintf("%s %s within [%s, %s]%s", label, n, formatNumber(*c.Min), formatNumber(*c.Max), suffix)
	case c.Max != nil:
		m.Outcome = OutcomePass
		m.Reason = fmt.Sprintf("%s %s <= max %s%s", label, n, formatNumber(*c.Max), suffix)
	case c.Min != nil:
		m.Outcome = OutcomePass
		m.Reason = fmt.Sprintf("%s %s >= min %s%s", label, n, formatNumber(*c.Min), suffix)
	default:
		// Check.Validate rejects a threshold check without bounds; never pass one.
		m.Outcome = OutcomeInconclusive
		m.Reason = "no thresholds to compare " + label + " " + n + " with"
	}
}

// samples asks how many samples stand behind the canary value m holds. Too few
// (or none) make m wait during the warm-up and inconclusive after it: a handful
// of requests can neither pass nor fail a threshold. enough is false when m is
// final; err only for what stops the analysis.
func (e *Engine) samples(ctx context.Context, c progressive.Check, src progressive.MetricSource, vars Vars, now time.Time, m *Measurement, warming bool) (enough bool, err error) {
	q, err := e.query(progressive.Check{Name: c.Name, Query: c.Samples.Query, Interval: c.Interval}, vars, progressive.Canary, now)
	if err != nil {
		return false, fmt.Errorf("check %q: samples query: %w", c.Name, err)
	}
	res, err := src.Query(ctx, q)
	if err != nil {
		if err := stopping(ctx, c, progressive.Canary, err); err != nil {
			return false, fmt.Errorf("samples query: %w", err)
		}
		unavailable(m, "samples query: ", err)
		return false, nil
	}
	n, ok, _ := usable(res)
	if !ok {
		n = 0
	}
	m.Samples = &n
	if n >= c.Samples.Min {
		return true, nil
	}
	reason := fmt.Sprintf("not enough data: %s samples < min %s (value %s)", formatNumber(n), formatNumber(c.Samples.Min), formatNumber(m.Value))
	if warming {
		m.Outcome = OutcomeWaiting
		m.Reason = reason + ", waiting for data (warm-up)"
		return false, nil
	}
	m.Outcome = OutcomeInconclusive
	m.Reason = reason
	return false, nil
}
