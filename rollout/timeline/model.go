package timeline

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// Threshold is a check's bounds as the picture draws them. A nil bound is not
// drawn.
type Threshold struct {
	Min *float64
	Max *float64
}

// model is the record reduced to what the picture draws: times, exposure
// levels, per-check series and decisions. Building it first keeps the drawing
// code free of record quirks, and keeps both in one deterministic order.
type model struct {
	title    string
	subtitle string
	start    time.Time
	end      time.Time
	// exposureLabel says what exposure measures: canary weight or flag percent.
	exposureLabel string
	exposure      []level
	checks        []checkSeries
	decisions     []rollout.Decision
}

// level is an exposure value that holds from at until the next level.
type level struct {
	at    time.Time
	value float64
}

type checkSeries struct {
	name      string
	threshold Threshold
	// baseline is true when the thresholds judge canary against stable, so
	// they apply to compared, not to the values drawn in the main panel.
	baseline bool
	// warnOnly checks are recorded but never roll back; the panel says so, as
	// a line over its threshold means less for them.
	warnOnly bool
	points   []analysis.Measurement
}

// Records written before decisions carried their weights (Decision.CanaryWeight,
// FlagPercent) and the solution its checks as values (Solution.CheckSpecs) say
// them only in sentences, which the runner wrote itself (rollout/steps.go,
// rollout/explain.go). For those records alone the picture reads the sentences
// back; TestOldRecordStillDraws keeps one such record.
var (
	routesCanary = regexp.MustCompile(`/ ([0-9.eE+-]+)% canary`)
	flagPercent  = regexp.MustCompile(` to ([0-9.eE+-]+)% of users`)
	// boundRE reads one bound of a check description ("error-rate <= 1 every 1m").
	boundRE = regexp.MustCompile(`(>=|<=) ([0-9.eE+-]+|[+-]?Inf)`)
)

func build(rec rollout.DecisionRecord, opts Options) model {
	m := model{
		title:    opts.Title,
		subtitle: subtitle(rec),
	}
	if m.title == "" {
		m.title = defaultTitle(rec)
	}
	m.start, m.end = span(rec)
	m.exposureLabel, m.exposure = exposure(rec, m.start)
	m.checks = checks(rec, opts)
	m.decisions = append([]rollout.Decision(nil), rec.Decisions...)
	// A stable sort keeps the record's own order among decisions made at the
	// same instant (start, deploy, ready), which is the order they happened in.
	sort.SliceStable(m.decisions, func(i, j int) bool { return m.decisions[i].Time.Before(m.decisions[j].Time) })
	return m
}

func defaultTitle(rec rollout.DecisionRecord) string {
	service := rec.Context.Service
	if service == "" {
		service = rec.ID
	}
	if service == "" {
		service = "rollout"
	}
	if v := rec.Context.Release.String(); v != "" {
		return service + " to " + v
	}
	return service
}

func subtitle(rec rollout.DecisionRecord) string {
	im := rec.Impact
	parts := []string{}
	if rec.Context.Strategy != "" {
		parts = append(parts, rec.Context.Strategy)
	}
	if im.Outcome != "" {
		parts = append(parts, string(im.Outcome))
	}
	if im.Duration > 0 {
		parts = append(parts, "after "+im.Duration.Readable())
	}
	if im.MaxCanaryWeight > 0 {
		parts = append(parts, "canary up to "+num(im.MaxCanaryWeight)+"%")
	}
	if im.TimeToDetect != nil {
		parts = append(parts, "detected within "+im.TimeToDetect.Readable())
	}
	return strings.Join(parts, ", ")
}

// span is the time range the picture covers: the rollout's start to its end,
// widened to every decision and measurement so nothing falls off the edge. A
// record without any time gets a one-minute range so the axes still draw.
func span(rec rollout.DecisionRecord) (time.Time, time.Time) {
	var start, end time.Time
	see := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if start.IsZero() || t.Before(start) {
			start = t
		}
		if end.IsZero() || t.After(end) {
			end = t
		}
	}
	see(rec.Impact.StartedAt)
	see(rec.Impact.FinishedAt)
	see(rec.Impact.RecoveredAt)
	for _, d := range rec.Decisions {
		see(d.Time)
	}
	for _, o := range rec.Observations {
		see(o.Time)
	}
	if start.IsZero() {
		start = time.Unix(0, 0).UTC()
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	return start, end
}

// exposure returns the canary weight over time from the decisions, or, for a
// rollout that routes no traffic, the flag percentage. The level starts at
// zero. A decision carrying the value (Decision.CanaryWeight, FlagPercent)
// gives it; one without, from an older record, is read from the sentence of
// its route or flag decision, and a finalize, rollback or abort returns the
// level to zero.
func exposure(rec rollout.DecisionRecord, start time.Time) (string, []level) {
	for _, kind := range []struct {
		label, action string
		value         func(rollout.Decision) *float64
		re            *regexp.Regexp
	}{
		{"canary weight (%)", "route", func(d rollout.Decision) *float64 { return d.CanaryWeight }, routesCanary},
		{"flag exposure (% of users)", "flag", func(d rollout.Decision) *float64 { return d.FlagPercent }, flagPercent},
	} {
		var out []level
		for _, d := range rec.Decisions {
			v, ok := decisionLevel(d, kind.value(d), kind.action, kind.re)
			switch {
			case ok:
				out = append(out, level{at: d.Time, value: v})
			case structured(d):
				// The decision says what it changed, and it was not this.
			case d.Action == "finalize" || d.Action == string(rollout.OutcomeRolledBack) || d.Action == string(rollout.OutcomeAborted):
				if len(out) > 0 && out[len(out)-1].value != 0 {
					out = append(out, level{at: d.Time, value: 0})
				}
			}
		}
		if len(out) > 0 {
			if out[0].at.After(start) {
				out = append([]level{{at: start, value: 0}}, out...)
			}
			return kind.label, out
		}
	}
	return "canary weight (%)", nil
}

// decisionLevel is the level a decision set: its structured value when it has
// one, else the number in the sentence of a decision of the given action.
func decisionLevel(d rollout.Decision, value *float64, action string, re *regexp.Regexp) (float64, bool) {
	if value != nil {
		return *value, finite(*value)
	}
	if structured(d) || d.Action != action {
		return 0, false
	}
	sub := re.FindStringSubmatch(d.Reason)
	if sub == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(sub[1], 64)
	if err != nil {
		return 0, false
	}
	return v, finite(v)
}

// structured reports whether a decision carries its exposure as values: then
// its sentence is not read.
func structured(d rollout.Decision) bool {
	return d.CanaryWeight != nil || d.FlagPercent != nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checks groups the observations by check, in the order the record's solution
// lists the checks, then any others in the order they were first measured.
func checks(rec rollout.DecisionRecord, opts Options) []checkSeries {
	byName := map[string]*checkSeries{}
	var order []string
	for _, o := range rec.Observations {
		s := byName[o.Check]
		if s == nil {
			s = &checkSeries{name: o.Check}
			byName[o.Check] = s
			order = append(order, o.Check)
		}
		s.points = append(s.points, o)
		if o.Compared != nil {
			s.baseline = true
		}
		if o.Severity == progressive.SeverityWarn {
			s.warnOnly = true
		}
	}
	rank, bounds := checkOrder(rec, order)
	sort.SliceStable(order, func(i, j int) bool {
		ri, oki := rank[order[i]]
		rj, okj := rank[order[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return false
	})
	out := make([]checkSeries, 0, len(order))
	for _, name := range order {
		s := byName[name]
		sort.SliceStable(s.points, func(i, j int) bool { return s.points[i].Time.Before(s.points[j].Time) })
		if t, ok := opts.Thresholds[name]; ok {
			s.threshold = t
		} else if t, ok := bounds[name]; ok {
			s.threshold = t
		}
		if spec, ok := specOf(rec, name); ok {
			s.baseline = s.baseline || spec.Baseline != nil
			s.warnOnly = s.warnOnly || spec.Severity == progressive.SeverityWarn
		}
		out = append(out, *s)
	}
	return out
}

// checkOrder ranks the measured checks by their place in the record's solution
// and gives each one's bounds: from Solution.CheckSpecs, or, in a record
// written before those existed, from the descriptions in Solution.Checks.
func checkOrder(rec rollout.DecisionRecord, names []string) (map[string]int, map[string]Threshold) {
	rank := map[string]int{}
	bounds := map[string]Threshold{}
	if len(rec.Solution.CheckSpecs) > 0 {
		for i, c := range rec.Solution.CheckSpecs {
			if _, dup := rank[c.Name]; dup {
				continue
			}
			rank[c.Name] = i
			bounds[c.Name] = Threshold{Min: finiteOrNil(c.Min), Max: finiteOrNil(c.Max)}
		}
		return rank, bounds
	}
	for i, desc := range rec.Solution.Checks {
		for _, name := range names {
			if _, done := rank[name]; !done && describes(desc, name) {
				rank[name] = i
				bounds[name] = parseBounds(desc)
			}
		}
	}
	return rank, bounds
}

// specOf finds a check of the record's solution by name.
func specOf(rec rollout.DecisionRecord, name string) (progressive.Check, bool) {
	for _, c := range rec.Solution.CheckSpecs {
		if c.Name == name {
			return c, true
		}
	}
	return progressive.Check{}, false
}

// finiteOrNil copies a bound; one that is not a finite number is not drawn
// (a plan refuses it, but a record is read from anywhere).
func finiteOrNil(v *float64) *float64 {
	if v == nil || !finite(*v) {
		return nil
	}
	c := *v
	return &c
}

// describes reports whether desc, a check description of the record's solution
// ("error-rate <= 1 every 1m, ..." or "ratio (canary/stable ratio) <= 1.2 ..."),
// is about the check name.
func describes(desc, name string) bool {
	return strings.HasPrefix(desc, name+" ")
}

// parseBounds reads the bounds from a check description. Only the part before
// " every " holds bounds; the rest is about intervals and limits.
func parseBounds(desc string) Threshold {
	head, _, _ := strings.Cut(desc, " every ")
	var t Threshold
	for _, sub := range boundRE.FindAllStringSubmatch(head, -1) {
		v, err := strconv.ParseFloat(sub[2], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		if sub[1] == ">=" {
			t.Min = &v
		} else {
			t.Max = &v
		}
	}
	return t
}

// unjudged reports whether a measurement could not tell: these are the gaps the
// picture shades.
func unjudged(m analysis.Measurement) bool {
	return m.Outcome == analysis.OutcomeInconclusive || m.Outcome == analysis.OutcomeWaiting || math.IsNaN(m.Value)
}
