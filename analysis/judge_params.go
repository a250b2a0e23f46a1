package analysis

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// Judge kinds of this package, for progressive.JudgeSpec.Kind and Options.Judges.
const (
	// KindMannWhitney selects MannWhitneyJudge: a Kayenta-style comparison of the
	// canary's and the baseline's samples over a window.
	KindMannWhitney = "mann-whitney"
	// KindSPRT selects SPRTJudge: a sequential test of the canary's error rate
	// against the baseline's, looked at every tick.
	KindSPRT = "sprt"
)

// Parameters every judge of this package accepts. They do not change the
// check's own verdict: Score reads them to weigh checks into a Kayenta-style total.
const (
	// ParamWeight is the check's weight in Score (default 1, must be >= 0).
	ParamWeight = "weight"
	// ParamCritical, when 1, makes Score fail the whole judgement when this
	// check fails, whatever the total (default 0).
	ParamCritical = "critical"
)

// paramDef declares one judge parameter: its default and what a valid value is.
type paramDef struct {
	name string
	def  float64
	// valid returns "" for a valid value, otherwise the reason it is not.
	valid func(v float64) string
}

// scoreParams are accepted by every judge for Score.
var scoreParams = []paramDef{
	{ParamWeight, 1, atLeast(0)},
	{ParamCritical, 0, oneOf(0, 1)},
}

// readParams applies defaults and reports every unknown name (with the known ones,
// to catch typos such as "confidance") and every invalid value. The error is a
// *progressive.ValidationError whose fields are parameter names.
func readParams(params map[string]float64, defs []paramDef) (map[string]float64, error) {
	out := make(map[string]float64, len(defs))
	for _, d := range defs {
		out[d.name] = d.def
	}
	bad := false
	for name, v := range params {
		if _, ok := out[name]; !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			bad = true
			continue
		}
		for _, d := range defs {
			if d.name == name && d.valid(v) != "" {
				bad = true
			}
		}
		out[name] = v
	}
	if !bad {
		return out, nil
	}
	// Report every problem, in a stable order.
	var p progressive.Problems
	known := make([]string, len(defs))
	for i, d := range defs {
		known[i] = d.name
	}
	slices.Sort(known)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		v := params[name]
		i := slices.IndexFunc(defs, func(d paramDef) bool { return d.name == name })
		switch {
		case i < 0:
			p.Add(name, v, "unknown parameter; known: %s", strings.Join(known, ", "))
		case math.IsNaN(v) || math.IsInf(v, 0):
			p.Add(name, v, "must be a finite number")
		default:
			if why := defs[i].valid(v); why != "" {
				p.Add(name, v, "%s", why)
			}
		}
	}
	return out, p.Err()
}

func atLeast(lo float64) func(float64) string {
	return func(v float64) string {
		if v < lo {
			return fmt.Sprintf("must be at least %g", lo)
		}
		return ""
	}
}

func above(lo float64) func(float64) string {
	return func(v float64) string {
		if v <= lo {
			return fmt.Sprintf("must be above %g", lo)
		}
		return ""
	}
}

func between(lo, hi float64) func(float64) string {
	return func(v float64) string {
		if v <= lo || v >= hi {
			return fmt.Sprintf("must be strictly between %g and %g", lo, hi)
		}
		return ""
	}
}

func inRange(lo, hi float64) func(float64) string {
	return func(v float64) string {
		if v < lo || v > hi {
			return fmt.Sprintf("must be between %g and %g", lo, hi)
		}
		return ""
	}
}

func oneOf(vals ...float64) func(float64) string {
	return func(v float64) string {
		if slices.Contains(vals, v) {
			return ""
		}
		s := make([]string, len(vals))
		for i, x := range vals {
			s[i] = formatNumber(x)
		}
		return "must be one of " + strings.Join(s, ", ")
	}
}

func wholeNumber(lo float64) func(float64) string {
	return func(v float64) string {
		if v < lo || v != math.Trunc(v) {
			return fmt.Sprintf("must be a whole number of at least %g", lo)
		}
		return ""
	}
}

// paramsOf returns the judge's params of a check, never nil.
func paramsOf(c progressive.Check) map[string]float64 {
	if c.Judge == nil {
		return nil
	}
	return c.Judge.Params
}

// invalidParams wraps a parameter problem of a check as a configuration error.
func invalidParams(c progressive.Check, err error) error {
	return fmt.Errorf("check %q: judge %q params: %w", c.Name, c.Judge.Kind, err)
}

// seconds converts a parameter in seconds to a duration.
func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// window returns the samples of q at start+step, start+2*step, ... up to end (a
// sample at t summarises the step before t, so nothing before start is read).
func window(ctx context.Context, rq progressive.RangeQuerier, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	first := start.Add(step)
	if first.After(end) {
		return nil, nil
	}
	q.Time = end
	return rq.QueryRange(ctx, q, first, end, step)
}

// values returns the sample values.
func values(s []progressive.Sample) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = x.Value
	}
	return out
}

// signed writes v with an explicit sign: +12, -3.5, +Inf.
func signed(v float64) string {
	if v > 0 && !math.IsInf(v, 1) {
		return "+" + formatNumber(v)
	}
	return formatNumber(v)
}

// percent writes a fraction as a percentage with three significant digits:
// 0.1 -> 10%, 1.0123 -> 101%.
func percent(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return formatNumber(v)
	}
	return fmt.Sprintf("%.3g%%", v*100)
}
