package analysis

import (
	"regexp"
	"strconv"
	"time"

	"github.com/agentops/progressive"
)

// A measurement is only evidence about the traffic its query looked at. A
// rate(x[10s]) taken a moment after the canary went from 10% to 20% describes the
// 10% canary; the engine therefore needs to know how far back each query looks
// (its window) to place every measurement after the change it judges.

// rangeSelector matches a PromQL range or subquery selector: [30s], [1m30s],
// [5m:30s], [ 1h ]. Subqueries look back their range; their resolution does not
// widen it.
var rangeSelector = regexp.MustCompile(`\[\s*([0-9]+(?:ms|[smhdwy]))+\s*(?::\s*(?:[0-9]+(?:ms|[smhdwy]))*\s*)?\]`)

// rangeDuration finds the duration inside one selector match.
var rangeDuration = regexp.MustCompile(`^\[\s*((?:[0-9]+(?:ms|[smhdwy]))+)`)

// offsetModifier matches "offset 5m" (and a negative offset, which looks forward
// and so does not widen the window).
var offsetModifier = regexp.MustCompile(`\boffset\s+(-?)((?:[0-9]+(?:ms|[smhdwy]))+)`)

// promDurationPart is one number-unit pair of a Prometheus duration.
var promDurationPart = regexp.MustCompile(`([0-9]+)(ms|[smhdwy])`)

// QueryWindow reports how far back a rendered PromQL query looks: its longest
// range selector (or subquery range) plus its longest positive offset. ok is false
// when the query has no range selector: an instant query of a gauge, or a language
// other than PromQL. The parse is lexical (it does not know strings from
// selectors), which errs on the side of a longer window, the safe side: a longer
// window only delays the first measurement.
func QueryWindow(expr string) (time.Duration, bool) {
	var longest time.Duration
	found := false
	for _, sel := range rangeSelector.FindAllString(expr, -1) {
		m := rangeDuration.FindStringSubmatch(sel)
		if m == nil {
			continue
		}
		if d, ok := parsePromDuration(m[1]); ok {
			found = true
			longest = max(longest, d)
		}
	}
	if !found {
		return 0, false
	}
	var offset time.Duration
	for _, m := range offsetModifier.FindAllStringSubmatch(expr, -1) {
		if m[1] == "-" {
			continue
		}
		if d, ok := parsePromDuration(m[2]); ok {
			offset = max(offset, d)
		}
	}
	return longest + offset, true
}

// parsePromDuration parses a Prometheus duration such as 1h30m, 90s or 500ms.
func parsePromDuration(s string) (time.Duration, bool) {
	units := map[string]time.Duration{
		"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	}
	parts := promDurationPart.FindAllStringSubmatch(s, -1)
	if len(parts) == 0 {
		return 0, false
	}
	var d time.Duration
	consumed := 0
	for _, p := range parts {
		n, err := strconv.ParseInt(p[1], 10, 64)
		if err != nil || n > int64(1<<62)/int64(units[p[2]]) {
			return 0, false
		}
		d += time.Duration(n) * units[p[2]]
		consumed += len(p[0])
	}
	return d, consumed == len(s)
}

// Window is how far back one measurement of c looks: c.Window when set,
// otherwise the window of its query rendered with vars (QueryWindow), otherwise
// the check's interval. A query that does not render falls back to the interval;
// Validate reports the template itself.
func Window(c progressive.Check, vars Vars) time.Duration {
	return windowOf(c, func() (string, error) { return Render(c, vars, progressive.Canary) })
}

// windowOf is Window with the rendering left to the caller (the Engine renders
// through its template cache).
func windowOf(c progressive.Check, render func() (string, error)) time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	if expr, err := render(); err == nil {
		if d, ok := QueryWindow(expr); ok {
			return d
		}
	}
	return c.WithDefaults().Interval
}

// WarmUp is how long after the analysis' warm-up anchor (State.LiveSince) missing
// data and too few samples make c wait instead of counting: c.WarmUp when
// positive, none when negative, DefaultWarmUpWindows windows otherwise.
func WarmUp(c progressive.Check, window time.Duration) time.Duration {
	switch {
	case c.WarmUp > 0:
		return c.WarmUp
	case c.WarmUp < 0:
		return 0
	}
	return progressive.DefaultWarmUpWindows * window
}

// FirstMeasurement is how long after an analysis step starts c is first measured:
// the larger of its InitialDelay and its window, so that the first measurement
// looks only at traffic that reached the step's weight.
func FirstMeasurement(c progressive.Check, vars Vars) time.Duration {
	return max(c.InitialDelay, Window(c, vars))
}

// sampleVars are the variables templates are rendered with when the rollout's own
// are not at hand (Begin, Validate): windows depend on the check, not on names.
func sampleVars() Vars {
	return Vars{Namespace: "namespace", Service: "service", CanaryVersion: "canary", StableVersion: "stable"}
}
