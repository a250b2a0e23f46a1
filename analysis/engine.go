package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// Options configure an Engine.
type Options struct {
	// Sources resolves a check's Metrics name ("" for the default source) to a
	// metric source. Required; the runner supplies it. An unknown name should be an
	// error that names the known ones; the engine treats any error from Sources as
	// a configuration error (it wraps progressive.ErrInvalid when it does not
	// already).
	Sources func(name string) (progressive.MetricSource, error)
	// Judges are the statistical judges by progressive.JudgeSpec.Kind. Threshold
	// and baseline checks need none. The map is copied by NewEngine.
	Judges map[string]Judge
	// Logger receives a debug record per measurement and one per
	// verdict. Default slog.Default(); pass slog.New(slog.DiscardHandler) to
	// silence it.
	Logger *slog.Logger
}

// Engine measures checks and turns their measurements into verdicts. It keeps no
// analysis state of its own (that lives in State, which the caller persists), so
// one Engine serves any number of analyses, concurrently.
type Engine struct {
	sources func(string) (progressive.MetricSource, error)
	judges  map[string]Judge
	log     *slog.Logger
	tmpl    templateCache
}

// NewEngine returns an engine. Sources is required.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Sources == nil {
		return nil, fmt.Errorf("analysis: Options.Sources is required: %w", progressive.ErrInvalid)
	}
	for kind, j := range opts.Judges {
		if j == nil {
			return nil, fmt.Errorf("analysis: Options.Judges[%q] is nil: %w", kind, progressive.ErrInvalid)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{
		sources: opts.Sources,
		judges:  maps.Clone(opts.Judges),
		log:     log,
	}, nil
}

// Validate reports every problem of checks at once, each under its field path
// (checks[1].query): the checks' own rules (progressive.Check.Validate), duplicate
// names, templates (ValidateTemplates), metric source names (Options.Sources) and
// judge kinds and parameters (ValidateJudges). The error is a
// *progressive.ValidationError and wraps progressive.ErrInvalid.
func (e *Engine) Validate(checks []progressive.Check) error {
	var p progressive.Problems
	validateChecks(&p, checks)
	p.Merge("", ValidateTemplates(checks))
	seen := map[string]bool{}
	for i, c := range checks {
		if seen[c.Metrics] {
			continue
		}
		seen[c.Metrics] = true
		if _, err := e.sources(c.Metrics); err != nil {
			p.Add(fmt.Sprintf("checks[%d].metrics", i), c.Metrics, "unknown metric source: %v", err)
		}
	}
	p.Merge("", ValidateJudges(checks, e.judges))
	return p.Err()
}

// validateChecks applies progressive.Check.Validate and rejects duplicate names,
// which State relies on.
func validateChecks(p *progressive.Problems, checks []progressive.Check) {
	seen := make(map[string]bool, len(checks))
	for i, c := range checks {
		f := fmt.Sprintf("checks[%d]", i)
		p.Merge(f, c.Validate())
		if c.Name != "" && seen[c.Name] {
			p.Add(f+".name", c.Name, "is used by another check")
		}
		seen[c.Name] = true
	}
}

// Begin starts an analysis at now that may pass at deadline. Every check is first
// due once its window lies entirely after now (FirstMeasurement: the larger of
// its InitialDelay and its Window), so that no measurement of this step looks at
// the traffic of the step before.
func (e *Engine) Begin(checks []progressive.Check, now, deadline time.Time) State {
	st := State{StartedAt: now, Deadline: deadline, Checks: make([]CheckState, len(checks))}
	for i, c := range checks {
		st.Checks[i] = CheckState{Name: c.Name, NextDue: now.Add(FirstMeasurement(c, sampleVars()))}
	}
	return st
}

// Catch-up of missed measurements (see Tick).
const (
	// CatchUpSlack is how late a measurement may be taken at the time of the
	// Tick rather than at its due time.
	CatchUpSlack = time.Second
	// MaxCatchUp bounds the missed measurements of one check a Tick takes
	// from history; after a longer gap the check goes on from now. It is
	// larger than the passing measurements rollout.Runner leaves unsaved, so
	// that a restart re-measures all of them.
	MaxCatchUp = 200
)

// Tick measures every check that is due (NextDue <= now, not Done), once each, in
// the order of the checks, updates st and returns the verdict.
//
// Tick applies its changes to st only when it succeeds. It returns an error, and
// leaves st as it was, for configuration errors (a check that does not validate, a
// query the backend rejects, an unknown source or judge: all wrap
// progressive.ErrInvalid, and the runner rolls back saying why), for a state that
// does not belong to checks, and when ctx ends. A transient error of a metric
// source is not an error of Tick: it is an inconclusive measurement.
//
// Once a Tick has returned VerdictFail or VerdictInconclusive, later Ticks on the
// same state return that verdict again without measuring.
func (e *Engine) Tick(ctx context.Context, checks []progressive.Check, vars Vars, st *State, now time.Time) (TickResult, error) {
	if st == nil {
		return TickResult{}, fmt.Errorf("analysis: nil state: %w", progressive.ErrInvalid)
	}
	var p progressive.Problems
	validateChecks(&p, checks)
	if err := p.Err(); err != nil {
		return TickResult{}, err
	}
	if err := matchState(checks, st); err != nil {
		return TickResult{}, err
	}
	defaulted := make([]progressive.Check, len(checks))
	for i, c := range checks {
		defaulted[i] = c.WithDefaults()
	}
	if v, reason := verdict(defaulted, st.Checks, st.Deadline, now, nil); v == VerdictFail || v == VerdictInconclusive {
		return TickResult{Verdict: v, Reason: reason}, nil
	}

	next := slices.Clone(st.Checks)
	var measured []Measurement
	last := make(map[string]string)
	// Due measurements are taken in the order they were due, across checks
	// (the order of the checks breaks ties), each check at most once at now.
	taken := make([]int, len(defaulted))
	atNow := make([]bool, len(defaulted))
	for {
		i := -1
		for j := range defaulted {
			cs := &next[j]
			if cs.Done || atNow[j] || cs.NextDue.After(now) {
				continue
			}
			if i < 0 || cs.NextDue.Before(next[i].NextDue) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		c, cs := defaulted[i], &next[i]
		// A measurement missed by more than CatchUpSlack (the driver was down,
		// or its state was not stored) is taken now at the time it was due,
		// from the source's history, up to MaxCatchUp of them: the schedule
		// and what it measured do not depend on when the driver ran. A
		// statistical judge catches up by itself (its range query covers
		// every sample since its last one).
		at := now
		if c.Judge == nil && taken[i] < MaxCatchUp && now.Sub(cs.NextDue) > CatchUpSlack {
			at = cs.NextDue
		}
		taken[i]++
		atNow[i] = at.Equal(now)
		m, judgeState, err := e.measure(ctx, c, cs.Judge, vars, st.StartedAt, at, e.warming(c, vars, st, at))
		if err != nil {
			return TickResult{}, err
		}
		count(cs, c, m)
		cs.Judge = judgeState
		cs.NextDue = at.Add(c.Interval)
		if at.Before(st.Deadline) && cs.NextDue.After(st.Deadline) {
			// The end of the soak is always measured: the last interval
			// before the deadline must not go unseen.
			cs.NextDue = st.Deadline
		}
		measured = append(measured, m)
		last[c.Name] = m.Reason
		e.log.LogAttrs(ctx, slog.LevelDebug, "analysis measurement",
			slog.String("check", m.Check), slog.String("outcome", string(m.Outcome)),
			slog.String("reason", m.Reason), slog.Float64("value", m.Value), slog.Time("at", at))
	}

	v, reason := verdict(defaulted, next, st.Deadline, now, last)
	st.Checks = next
	res := TickResult{Verdict: v, Measurements: measured, Reason: reason}
	if v == VerdictRunning {
		res.NextDue = nextDue(next, st.Deadline, now)
	} else {
		e.log.LogAttrs(ctx, slog.LevelDebug, "analysis verdict",
			slog.String("verdict", string(v)), slog.String("reason", reason))
	}
	return res, nil
}

// matchState checks that st was begun for checks.
func matchState(checks []progressive.Check, st *State) error {
	ok := len(checks) == len(st.Checks)
	for i := 0; ok && i < len(checks); i++ {
		ok = checks[i].Name == st.Checks[i].Name
	}
	if ok {
		return nil
	}
	names := func(n int, name func(int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = name(i)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	return fmt.Errorf("analysis: the state was begun for checks %s, not %s: %w",
		names(len(st.Checks), func(i int) string { return st.Checks[i].Name }),
		names(len(checks), func(i int) string { return checks[i].Name }),
		progressive.ErrInvalid)
}

// warming reports whether c is still within its warm-up at now.
func (e *Engine) warming(c progressive.Check, vars Vars, st *State, now time.Time) bool {
	anchor := st.LiveSince
	if anchor.IsZero() {
		anchor = st.StartedAt
	}
	return now.Before(anchor.Add(WarmUp(c, e.window(c, vars))))
}

// window is Window with the engine's template cache.
func (e *Engine) window(c progressive.Check, vars Vars) time.Duration {
	return windowOf(c, func() (string, error) { return e.tmpl.render(c, vars, progressive.Canary) })
}

// count adds one measurement to a check's counters.
func count(cs *CheckState, c progressive.Check, m Measurement) {
	cs.Measurements++
	cs.Last = m.Outcome
	cs.LastAt = m.Time
	switch m.Outcome {
	case OutcomeWaiting:
		cs.Waiting++
	case OutcomePass:
		cs.Passes++
		cs.ConsecutiveFailures = 0
		cs.ConsecutiveInconclusives = 0
	case OutcomeFail:
		cs.ConsecutiveInconclusives = 0
		if c.Severity == progressive.SeverityWarn {
			cs.Warnings++
			return
		}
		cs.Failures++
		cs.ConsecutiveFailures++
		if failed(cs, c) {
			cs.Done = true
		}
	default:
		cs.Inconclusives++
		cs.ConsecutiveInconclusives++
	}
}

func failed(cs *CheckState, c progressive.Check) bool {
	return cs.Failures > c.FailureLimit ||
		(c.ConsecutiveFailureLimit > 0 && cs.ConsecutiveFailures >= c.ConsecutiveFailureLimit)
}

// verdict decides the analysis from the counters. checks carry their defaults.
// last holds this tick's reasons by check name, for the message.
func verdict(checks []progressive.Check, states []CheckState, deadline, now time.Time, last map[string]string) (Verdict, string) {
	lastReason := func(name string) string {
		if r, ok := last[name]; ok {
			return "; last: " + r
		}
		return ""
	}
	var reasons []string
	for i, c := range checks {
		cs := states[i]
		if c.Severity == progressive.SeverityWarn || !failed(&cs, c) {
			continue
		}
		if cs.Failures > c.FailureLimit {
			reasons = append(reasons, fmt.Sprintf("check %q failed %d of %d measurements, more than its failure limit %d%s",
				c.Name, cs.Failures, cs.Measurements, c.FailureLimit, lastReason(c.Name)))
		} else {
			reasons = append(reasons, fmt.Sprintf("check %q failed %d measurements in a row, its consecutive failure limit%s",
				c.Name, cs.ConsecutiveFailures, lastReason(c.Name)))
		}
	}
	if len(reasons) > 0 {
		return VerdictFail, strings.Join(reasons, "; ")
	}
	for i, c := range checks {
		cs := states[i]
		if c.Severity == progressive.SeverityWarn || cs.ConsecutiveInconclusives < c.InconclusiveLimit {
			continue
		}
		reasons = append(reasons, fmt.Sprintf("check %q was inconclusive %d times in a row, its inconclusive limit%s",
			c.Name, cs.ConsecutiveInconclusives, lastReason(c.Name)))
	}
	if len(reasons) > 0 {
		return VerdictInconclusive, strings.Join(reasons, "; ")
	}

	var waiting, passed, warned []string
	for i, c := range checks {
		cs := states[i]
		if c.Severity == progressive.SeverityWarn {
			if cs.Warnings > 0 {
				warned = append(warned, fmt.Sprintf("%s failed %d of %d", c.Name, cs.Warnings, cs.Measurements))
			}
			continue
		}
		switch {
		case cs.Measurements == 0:
			waiting = append(waiting, fmt.Sprintf("a first measurement of %q (due %s)", c.Name, cs.NextDue.Format(time.RFC3339)))
		case cs.Last == OutcomeWaiting:
			waiting = append(waiting, fmt.Sprintf("enough data for %q (%d measurement(s) waited for data)", c.Name, cs.Waiting))
		case cs.LastAt.Before(deadline):
			waiting = append(waiting, fmt.Sprintf("a measurement of %q covering the end of the soak (due %s)", c.Name, cs.NextDue.Format(time.RFC3339)))
		case cs.Last != OutcomePass:
			waiting = append(waiting, fmt.Sprintf("a passing measurement of %q (last %s, %d failed, %d inconclusive in a row)",
				c.Name, cs.Last, cs.Failures, cs.ConsecutiveInconclusives))
		default:
			passed = append(passed, fmt.Sprintf("%s passed %d of %d", c.Name, cs.Passes, cs.Measurements))
		}
	}
	warnings := ""
	if len(warned) > 0 {
		warnings = "; warnings: " + strings.Join(warned, ", ")
	}
	if now.Before(deadline) {
		total := 0
		for _, cs := range states {
			total += cs.Measurements
		}
		return VerdictRunning, fmt.Sprintf("analysis running: %d measurement(s) so far, deadline in %s%s",
			total, deadline.Sub(now), warnings)
	}
	if len(waiting) > 0 {
		return VerdictRunning, "deadline passed; waiting for " + strings.Join(waiting, ", ") + warnings
	}
	if len(passed) == 0 {
		return VerdictPass, "deadline passed with no fail-severity checks" + warnings
	}
	return VerdictPass, "every check passed by the deadline: " + strings.Join(passed, ", ") + warnings
}

// nextDue is the earliest due measurement of a check that is not done, or the
// deadline when it comes first.
func nextDue(states []CheckState, deadline, now time.Time) time.Time {
	var t time.Time
	for _, cs := range states {
		if !cs.Done && (t.IsZero() || cs.NextDue.Before(t)) {
			t = cs.NextDue
		}
	}
	if now.Before(deadline) && (t.IsZero() || deadline.Before(t)) {
		t = deadline
	}
	return t
}

// Preflight runs every check's queries once (both roles for baseline and judge
// checks) before the rollout moves traffic, after Validate. No data and NaN are
// fine at preflight: the canary may have no traffic yet. Configuration errors (a
// check that does not validate, a query the backend rejects) are returned, all of
// them, each naming its check, wrapping progressive.ErrInvalid; otherwise the
// transient errors are returned, each naming its check, wrapping
// progressive.ErrTransient.
func (e *Engine) Preflight(ctx context.Context, checks []progressive.Check, vars Vars, now time.Time) error {
	if err := e.Validate(checks); err != nil {
		return err
	}
	var invalid, transient []error
	for _, c := range checks {
		c = c.WithDefaults()
		src, err := e.source(c)
		if err != nil {
			invalid = append(invalid, err)
			continue
		}
		roles := []progressive.Role{progressive.Canary}
		if c.Baseline != nil || c.Judge != nil {
			roles = append(roles, progressive.Stable)
		}
		asked := []progressive.Check{c}
		if c.Samples != nil {
			// The samples query is asked like the check's own, for the canary.
			asked = append(asked, progressive.Check{Name: c.Name, Query: c.Samples.Query, Interval: c.Interval})
		}
		for i, ac := range asked {
			if i > 0 {
				roles = []progressive.Role{progressive.Canary}
			}
			if err := e.preflightOne(ctx, ac, src, vars, roles, now, &invalid, &transient); err != nil {
				return err
			}
		}
	}
	if len(invalid) > 0 {
		return errors.Join(invalid...)
	}
	return errors.Join(transient...)
}

// preflightOne asks one query of a check for roles, sorting what goes wrong into
// invalid and transient; it returns only the end of ctx.
func (e *Engine) preflightOne(ctx context.Context, c progressive.Check, src progressive.MetricSource, vars Vars,
	roles []progressive.Role, now time.Time, invalid, transient *[]error) error {
	{
		for _, role := range roles {
			q, err := e.query(c, vars, role, now)
			if err != nil {
				*invalid = append(*invalid, err)
				break
			}
			if _, err := src.Query(ctx, q); err != nil {
				switch {
				case ctx.Err() != nil:
					return fmt.Errorf("analysis preflight: %w", ctx.Err())
				case errors.Is(err, progressive.ErrInvalid):
					*invalid = append(*invalid, fmt.Errorf("check %q (%s query): %w", c.Name, role, err))
				case errors.Is(err, progressive.ErrTransient):
					*transient = append(*transient, fmt.Errorf("check %q (%s query): %w", c.Name, role, err))
				default:
					*transient = append(*transient, fmt.Errorf("check %q (%s query): %w: %w", c.Name, role, progressive.ErrTransient, err))
				}
			}
		}
	}
	return nil
}
