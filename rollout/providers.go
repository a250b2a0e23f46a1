package rollout

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// Providers are the adapters a runner may use. Plans choose among them by name
// (Plan.Providers); a plan that names none gets the only one of its kind. An
// unknown name is an error that lists the known ones: nothing falls back silently.
type Providers struct {
	Routers   []progressive.TrafficRouter
	Metrics   []progressive.MetricSource
	Flags     []progressive.FlagStore
	Workloads []progressive.Workload
	// Hooks are Go hooks by name, for hook specs without a URL.
	Hooks map[string]Hook
	// Approver answers approval steps.
	Approver Approver
}

type named interface{ Name() string }

// pick resolves name among providers of one kind.
func pick[T named](kind, name string, all []T) (T, error) {
	var zero T
	names := make([]string, 0, len(all))
	for _, p := range all {
		names = append(names, p.Name())
	}
	sort.Strings(names)
	if name == "" {
		switch len(all) {
		case 1:
			return all[0], nil
		case 0:
			return zero, fmt.Errorf("the plan needs a %s but the runner has none: %w", kind, progressive.ErrInvalid)
		default:
			return zero, fmt.Errorf("the runner has several %ss (%s): name one in the plan: %w", kind, strings.Join(names, ", "), progressive.ErrInvalid)
		}
	}
	for _, p := range all {
		if p.Name() == name {
			return p, nil
		}
	}
	known := "none"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	return zero, fmt.Errorf("unknown %s %q; known: %s: %w", kind, name, known, progressive.ErrInvalid)
}

func (p Providers) router(plan progressive.Plan) (progressive.TrafficRouter, error) {
	return pick("router", plan.Providers.Router, p.Routers)
}

func (p Providers) flags(plan progressive.Plan) (progressive.FlagStore, error) {
	return pick("flag store", plan.Providers.Flags, p.Flags)
}

func (p Providers) workload(plan progressive.Plan) (progressive.Workload, error) {
	return pick("workload", plan.Providers.Workload, p.Workloads)
}

// metricSource resolves a check's source: the check's name, else the plan's, else
// the only one.
func (p Providers) metricSource(plan progressive.Plan, name string) (progressive.MetricSource, error) {
	if name == "" {
		name = plan.Providers.Metrics
	}
	return pick("metric source", name, p.Metrics)
}

func (p Providers) hook(spec progressive.HookSpec) (Hook, bool) {
	h, ok := p.Hooks[spec.Name]
	return h, ok
}

// needs says which kinds of provider a plan's steps use.
type needs struct {
	router, flags, workload, roller, approver, metrics bool
}

func planNeeds(plan progressive.Plan) needs {
	var n needs
	for _, s := range plan.Steps {
		switch {
		case s.SetWeight != nil, s.SetRoutes != nil, s.Switch != nil:
			n.router = true
		case s.SetFlag != nil:
			n.flags = true
		case s.Deploy != nil, s.Scale != nil, s.Promote != nil:
			n.workload = true
		case s.Roll != nil:
			n.workload, n.roller = true, true
		case s.Approval != nil:
			n.approver = true
		case s.Analyze != nil:
			n.metrics = true
		}
	}
	return n
}

// Validate checks plan structurally (progressive.Plan.Validate), then against the
// providers: every named provider exists, each kind the steps need is there,
// check templates parse, statistical judges are known and Go hooks are registered.
// All problems come back at once in one *progressive.ValidationError.
func (p Providers) Validate(plan progressive.Plan, judges map[string]analysis.Judge) error {
	var pr progressive.Problems
	pr.Merge("", plan.Validate())
	n := planNeeds(plan)
	if n.router || plan.Providers.Router != "" {
		if _, err := p.router(plan); err != nil {
			pr.Add("providers.router", plan.Providers.Router, "%s", unwrapMessage(err))
		}
	}
	if n.flags || plan.Providers.Flags != "" {
		if _, err := p.flags(plan); err != nil {
			pr.Add("providers.flags", plan.Providers.Flags, "%s", unwrapMessage(err))
		}
	}
	if n.workload || plan.Providers.Workload != "" {
		w, err := p.workload(plan)
		if err != nil {
			pr.Add("providers.workload", plan.Providers.Workload, "%s", unwrapMessage(err))
		} else if _, ok := w.(progressive.Roller); n.roller && !ok {
			pr.Add("providers.workload", w.Name(), "roll steps need a workload that updates in place (progressive.Roller)")
		}
	}
	if n.approver && p.Approver == nil {
		pr.Add("providers.approver", nil, "approval steps need an Approver")
	}
	checkSets := map[string][]progressive.Check{"checks": plan.Checks}
	for i, s := range plan.Steps {
		if s.Analyze != nil && len(s.Analyze.Checks) > 0 {
			checkSets[fmt.Sprintf("steps[%d].analyze.checks", i)] = s.Analyze.Checks
		}
	}
	for _, path := range sortedKeys(checkSets) {
		checks := checkSets[path]
		// Both name fields "checks[i]...", so they merge under the parent of path.
		parent := strings.TrimSuffix(strings.TrimSuffix(path, "checks"), ".")
		pr.Merge(parent, analysis.ValidateTemplates(checks))
		pr.Merge(parent, analysis.ValidateJudges(checks, judges))
		for i, c := range checks {
			if path == "checks" && !n.metrics {
				break
			}
			if _, err := p.metricSource(plan, c.Metrics); err != nil {
				pr.Add(fmt.Sprintf("%s[%d].metrics", path, i), c.Metrics, "%s", unwrapMessage(err))
			}
		}
	}
	hookSpecs := map[string]progressive.HookSpec{}
	for i, h := range plan.Hooks {
		hookSpecs[fmt.Sprintf("hooks[%d]", i)] = h
	}
	for i, s := range plan.Steps {
		if s.Hook != nil {
			hookSpecs[fmt.Sprintf("steps[%d].hook.hook", i)] = s.Hook.Hook
		}
	}
	for _, path := range sortedKeys(hookSpecs) {
		h := hookSpecs[path]
		if h.URL == "" && h.Name != "" {
			if _, ok := p.hook(h); !ok {
				pr.Add(path+".name", h.Name, "no Go hook is registered under this name and no url is set; registered: %s", orDefault(strings.Join(sortedKeys(p.Hooks), ", "), "none"))
			}
		}
	}
	return pr.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unwrapMessage strips the trailing ": invalid configuration" that %w added, since
// the FieldError says so itself.
func unwrapMessage(err error) string {
	msg := err.Error()
	if errors.Is(err, progressive.ErrInvalid) {
		msg = strings.TrimSuffix(msg, ": "+progressive.ErrInvalid.Error())
	}
	return msg
}
