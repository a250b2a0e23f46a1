package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// DryRunner is implemented by providers that can run in a mode where every write is
// checked and nothing changes (the Kubernetes provider's server-side dry run).
type DryRunner interface {
	DryRun() bool
}

// RestartWarner is implemented by workloads and routers that restart pods the
// plan does not name when they first touch a target: the Kubernetes provider
// adopting an unlabelled stable Deployment (a new ReplicaSet revision, every pod
// replaced once). RestartWarning returns "" when nothing will restart. DryRun
// asks before any write and reports the answer as a warning.
type RestartWarner interface {
	RestartWarning(ctx context.Context, target progressive.Target) (string, error)
}

// QueryAnswer is what one check's query returned during a dry run.
type QueryAnswer struct {
	Check  string                   `json:"check"`
	Role   progressive.Role         `json:"role"`
	Query  string                   `json:"query"`
	Status progressive.ResultStatus `json:"status,omitempty"`
	Value  float64                  `json:"value"`
	Error  string                   `json:"error,omitempty"`
}

// Rehearsal is what a dry run did with one step.
type Rehearsal struct {
	// Step is the step's index in Plan.Steps, from 0 (data); messages for
	// people, Explain's timeline among them, number steps from 1.
	Step        int    `json:"step"`
	Description string `json:"description"`
	// Rehearsed is set when the step's write was sent to a provider in dry-run
	// mode; Note says why not otherwise.
	Rehearsed bool   `json:"rehearsed"`
	Note      string `json:"note,omitempty"`
	Error     string `json:"error,omitempty"`
}

// DryRunReport is what a person reads before approving a plan: the problems (none,
// or the run stops), the timeline, what every query answers now, and what the
// providers said about each write.
type DryRunReport struct {
	Explanation string        `json:"explanation"`
	Queries     []QueryAnswer `json:"queries"`
	Steps       []Rehearsal   `json:"steps"`
	// Warnings are Lint's, and the weights at which the request rate measured
	// now (through the checks' samples queries, on the stable side that serves
	// everything before the rollout) leaves a check too few requests. They do
	// not make the report fail.
	Warnings []progressive.Warning `json:"warnings,omitempty"`
	// MeasuredRequestsPerSecond is that rate; zero when no check has a samples
	// query or none answered.
	MeasuredRequestsPerSecond float64 `json:"measuredRequestsPerSecond,omitempty"`
}

// OK reports whether every query answered and every rehearsed write was accepted.
//
// A report in which not one query answered a value is not OK either: before
// the rollout the stable side serves all traffic, so a plan whose every query,
// stable side included, answers no data measures nothing that exists, and its
// rollout could only end inconclusive.
func (d DryRunReport) OK() bool {
	if len(d.Queries) > 0 && !slices.ContainsFunc(d.Queries, func(q QueryAnswer) bool { return q.Status == progressive.StatusValue }) {
		return false
	}
	for _, q := range d.Queries {
		if q.Error != "" {
			return false
		}
	}
	for _, s := range d.Steps {
		if s.Error != "" {
			return false
		}
	}
	return true
}

// DryRun validates plan (a *progressive.ValidationError stops it), explains it,
// asks every query once for both sides, and sends each step's write to providers
// that are in dry-run mode (DryRunner), which check it without changing anything.
// Steps whose provider has no dry-run mode are described, not sent. Nothing is
// stored and no state is created.
func (r *Runner) DryRun(ctx context.Context, plan progressive.Plan) (DryRunReport, error) {
	if err := r.Validate(plan); err != nil {
		return DryRunReport{}, fmt.Errorf("rollout %s: plan rejected: %w", plan.Name, err)
	}
	plan = withPlanSources(plan)
	report := DryRunReport{Explanation: Explain(plan), Queries: []QueryAnswer{}, Steps: []Rehearsal{}}
	v := vars(plan, r.stableVersion(ctx, plan))
	now := r.opts.Clock.Now()
	for _, c := range allChecks(plan) {
		for _, role := range []progressive.Role{progressive.Canary, progressive.Stable} {
			report.Queries = append(report.Queries, r.ask(ctx, plan, c, v, role, now))
		}
	}
	report.Warnings = Lint(plan)
	report.Warnings = append(report.Warnings, stableNoData(report.Queries)...)
	report.Warnings = append(report.Warnings, r.restartWarnings(ctx, plan)...)
	report.MeasuredRequestsPerSecond = r.measureTraffic(ctx, plan, v, now)
	if rps := report.MeasuredRequestsPerSecond; rps > 0 {
		report.Warnings = append(report.Warnings, trafficWarnings(plan, rps, "measured")...)
	}
	deployed := false
	for i, s := range plan.Steps {
		reh := r.rehearse(ctx, plan, i, s, deployed)
		deployed = deployed || (s.Deploy != nil && reh.Rehearsed && reh.Error == "")
		report.Steps = append(report.Steps, reh)
	}
	return report, nil
}

func (r *Runner) ask(ctx context.Context, plan progressive.Plan, c progressive.Check, v analysis.Vars, role progressive.Role, now time.Time) QueryAnswer {
	ans := QueryAnswer{Check: c.Name, Role: role}
	expr, err := analysis.Render(c, v, role)
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	ans.Query = expr
	src, err := r.opts.Providers.metricSource(plan, c.Metrics)
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	res, err := src.Query(ctx, progressive.Query{Name: c.Name, Expr: expr, Target: plan.Target, Role: role, Time: now})
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	ans.Status, ans.Value = res.Status, res.Value
	return ans
}

// measureTraffic asks every check's samples query for the stable side, which
// carries all traffic before a rollout, and turns the largest count into
// requests per second over the check's window.
func (r *Runner) measureTraffic(ctx context.Context, plan progressive.Plan, v analysis.Vars, now time.Time) float64 {
	best := 0.0
	for _, c := range allChecks(plan) {
		if c.Samples == nil {
			continue
		}
		sc := progressive.Check{Name: c.Name, Query: c.Samples.Query, Interval: c.Interval, Metrics: c.Metrics}
		ans := r.ask(ctx, plan, sc, v, progressive.Stable, now)
		if ans.Error != "" || ans.Status != progressive.StatusValue || !(ans.Value > 0) {
			continue
		}
		if w := analysis.Window(c, v); w > 0 {
			best = max(best, ans.Value/w.Seconds())
		}
	}
	return best
}

// restartWarnings asks the plan's workload (for a plan that deploys a canary)
// and router whether touching the target restarts pods; each distinct answer
// is one warning.
func (r *Runner) restartWarnings(ctx context.Context, plan progressive.Plan) []progressive.Warning {
	var asked []any
	needs := planNeeds(plan)
	if needs.workload && slices.ContainsFunc(plan.Steps, func(s progressive.Step) bool { return s.Deploy != nil }) {
		if w, err := r.opts.Providers.workload(plan); err == nil {
			asked = append(asked, w)
		}
	}
	if needs.router {
		if router, err := r.opts.Providers.router(plan); err == nil {
			asked = append(asked, router)
		}
	}
	var out []progressive.Warning
	for _, p := range asked {
		rw, ok := p.(RestartWarner)
		if !ok {
			continue
		}
		msg, err := rw.RestartWarning(ctx, plan.Target)
		switch {
		case err != nil:
			msg = "cannot tell whether the first step restarts pods: " + err.Error()
		case msg == "":
			continue
		}
		w := progressive.Warning{Field: "target", Message: msg}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func inDryRun(p any) bool {
	d, ok := p.(DryRunner)
	return ok && d.DryRun()
}

// rehearse sends one step's write to a provider in dry-run mode. After a
// rehearsed deploy, a write that finds no canary is expected: the dry run created
// none.
func (r *Runner) rehearse(ctx context.Context, plan progressive.Plan, i int, s progressive.Step, deployed bool) Rehearsal {
	reh := Rehearsal{Step: i, Description: describeStep(plan, s)}
	t := plan.Target
	var write func() error
	var provider any
	switch {
	case s.Deploy != nil, s.Scale != nil, s.Promote != nil, s.Roll != nil:
		w, err := r.opts.Providers.workload(plan)
		if err != nil {
			reh.Error = err.Error()
			return reh
		}
		provider = w
		switch {
		case s.Deploy != nil:
			write = func() error { return w.DeployCanary(ctx, t, plan.Release, s.Deploy.Replicas) }
		case s.Scale != nil:
			write = func() error { return w.ScaleCanary(ctx, t, s.Scale.Replicas) }
		case s.Promote != nil:
			write = func() error { return w.Promote(ctx, t) }
		case s.Roll != nil:
			roller, ok := w.(progressive.Roller)
			if !ok {
				reh.Error = fmt.Sprintf("workload %s cannot update in place", w.Name())
				return reh
			}
			write = func() error { return roller.RollTo(ctx, t, plan.Release, s.Roll.Updated, s.Roll.Params) }
		}
	case s.SetWeight != nil, s.SetRoutes != nil, s.Switch != nil:
		router, err := r.opts.Providers.router(plan)
		if err != nil {
			reh.Error = err.Error()
			return reh
		}
		provider = router
		routes := progressive.AllStable()
		switch {
		case s.SetWeight != nil:
			routes = progressive.WeightedRoutes(s.SetWeight.Weight)
		case s.SetRoutes != nil:
			routes = s.SetRoutes.Routes
		case s.Switch.To == progressive.Canary:
			routes = progressive.Routes{CanaryWeight: 100}
		}
		write = func() error { return router.SetRoutes(ctx, t, routes) }
	case s.SetFlag != nil:
		store, err := r.opts.Providers.flags(plan)
		if err != nil {
			reh.Error = err.Error()
			return reh
		}
		provider = store
		f := s.SetFlag
		if _, ok := store.(progressive.FlagTargeter); !ok && (len(f.Targets) > 0 || len(f.Segments) > 0) {
			// Known without writing anything: the step would fail at once
			// and roll back.
			reh.Error = fmt.Sprintf("flag store %s cannot write targets or segment rules, which this step needs: %v", store.Name(), progressive.ErrUnsupported)
			return reh
		}
		write = func() error {
			return store.SetRollout(ctx, f.Flag, progressive.PercentRollout(f.Variation, f.Fallback, f.Percent))
		}
	default:
		reh.Note = "nothing to write"
		return reh
	}
	if !inDryRun(provider) {
		reh.Note = "described only: the provider has no dry-run mode"
		return reh
	}
	reh.Rehearsed = true
	switch err := write(); {
	case err == nil:
	case deployed && errors.Is(err, progressive.ErrNotFound):
		reh.Note = "checked up to the canary, which the rehearsed deploy did not really create: " + err.Error()
	default:
		reh.Error = err.Error()
	}
	return reh
}

// stableNoData warns about every check whose stable side answered no value:
// the stable side carries the traffic now, so its query or labels likely match
// nothing, and the check will be inconclusive once the canary is judged.
func stableNoData(answers []QueryAnswer) []progressive.Warning {
	var out []progressive.Warning
	for _, q := range answers {
		if q.Role != progressive.Stable || q.Error != "" || q.Status == progressive.StatusValue {
			continue
		}
		out = append(out, progressive.Warning{Field: "checks[" + q.Check + "].query",
			Message: fmt.Sprintf("the stable side, which serves all traffic now, answers %s to %q: the query or its labels may match nothing", q.Status, q.Query)})
	}
	return out
}
