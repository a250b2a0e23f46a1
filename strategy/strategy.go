package strategy

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/shortdur"
)

// Names of the strategies, as Plan.Strategy records them and Lookup accepts them.
const (
	NameCanary      = progressive.StrategyCanary
	NameBlueGreen   = progressive.StrategyBlueGreen
	NameRolling     = progressive.StrategyRolling
	NameABTest      = progressive.StrategyABTest
	NameMirror      = progressive.StrategyMirror
	NameFlagRollout = progressive.StrategyFlagRollout
)

// Limits that keep a plan a size a person can read and a runner can persist. They
// also keep arbitrary input (a step weight of 1e-9) from building a plan of a
// billion steps.
const (
	// MaxPhases bounds the traffic or flag phases of a Canary or FlagRollout.
	MaxPhases = 100
	// MaxBatches bounds the batches of a Rolling update.
	MaxBatches = 1000
)

// NoPods, as Rolling.MaxSurge or Rolling.MaxUnavailable, asks for zero pods where the
// zero value would select the default. It is also the "none" of
// Rolling.ReadinessBudget (no pod may fail readiness), like HookSpec.Retries' -1.
const NoPods = -1

// Interface checks.
var (
	_ progressive.Strategy = Canary{}
	_ progressive.Strategy = BlueGreen{}
	_ progressive.Strategy = Rolling{}
	_ progressive.Strategy = ABTest{}
	_ progressive.Strategy = Mirror{}
	_ progressive.Strategy = FlagRollout{}
)

// Names lists the known strategy names: canary, blue-green, rolling, ab-test, mirror,
// flag-rollout.
func Names() []string { return progressive.StrategyNames() }

// Lookup returns nil when name is a known strategy name (exactly, case included) and
// otherwise an error wrapping progressive.ErrInvalid (a *progressive.ValidationError
// on the field "strategy") that lists the known names. There is no fallback: a typo
// never silently becomes some default strategy.
func Lookup(name string) error {
	known := progressive.StrategyNames()
	if slices.Contains(known, name) {
		return nil
	}
	var pr progressive.Problems
	pr.Add("strategy", name, "unknown strategy; the known strategies are %s", strings.Join(known, ", "))
	return pr.Err()
}

// PlanName is the default plan name of every strategy, the rollout's id:
// target.Namespace + "-" + target.Name + "-" + release.Version, lower-cased and
// made a DNS-1123 label (characters other than a-z and 0-9 become '-', runs of
// '-' collapse, at most 63 characters with a hash suffix when it had to be
// shortened), so that state stores and Kubernetes objects can use it as is.
// production, payment-service and v2.0.0 give production-payment-service-v2-0-0.
// The namespace is part of it so that the same service and version in staging
// and in production are two rollouts in one store, not one.
func PlanName(target progressive.Target, release progressive.Release) string {
	return dnsLabel(target.Namespace, target.Name, release.Version)
}

func dnsLabel(parts ...string) string {
	var b strings.Builder
	dash := true // suppresses a leading '-'
	for _, part := range parts {
		if part == "" {
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
		for _, r := range strings.ToLower(part) {
			if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
				b.WriteRune(r)
				dash = false
			} else if !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "rollout"
	}
	if len(s) > 63 {
		h := fnv.New32a()
		h.Write([]byte(strings.Join(parts, "\x00")))
		s = strings.TrimRight(s[:54], "-") + fmt.Sprintf("-%08x", h.Sum32())
	}
	return s
}

// validator collects the problems of one strategy's options under its prefix
// ("canary", "blueGreen", ...).
type validator struct {
	pr     progressive.Problems
	prefix string
}

func (v *validator) field(f string) string {
	if strings.HasPrefix(f, "[") {
		return v.prefix + f
	}
	return v.prefix + "." + f
}

func (v *validator) add(field string, value any, reason string, args ...any) {
	v.pr.Add(v.field(field), value, reason, args...)
}

// args validates what Plan receives besides the options.
func (v *validator) args(target progressive.Target, release progressive.Release, needVersion bool) {
	v.pr.Merge("target", target.Validate())
	if needVersion && release.Version == "" {
		v.pr.Add("release.version", nil, "must not be empty: it labels the new version's objects and metrics")
	}
}

// duration accepts zero (the default) and positive values up to
// progressive.MaxStepDuration, which the plan's steps would otherwise exceed
// under their own paths.
func (v *validator) duration(field string, d time.Duration) {
	switch {
	case d < 0:
		v.add(field, d.String(), "must not be negative (zero selects the default)")
	case d > progressive.MaxStepDuration:
		v.add(field, d.String(), "must be at most %s", dur(progressive.MaxStepDuration))
	}
}

// replicas accepts zero (the default) and positive counts up to
// progressive.MaxReplicas.
func (v *validator) replicas(field string, n int) {
	if n < 0 {
		v.add(field, n, "must not be negative (zero selects the default)")
	}
	v.maxReplicas(field, n)
}

// maxReplicas refuses a pod count above progressive.MaxReplicas.
func (v *validator) maxReplicas(field string, n int) {
	if n > progressive.MaxReplicas {
		v.add(field, n, "must be at most %d", progressive.MaxReplicas)
	}
}

// gate validates an approval gate's name with the root vocabulary's rules (a
// probe plan's approval step), reported under field.
func (v *validator) gate(field, name string) {
	probe := probePlan()
	probe.Steps = []progressive.Step{{Approval: &progressive.ApprovalStep{Gate: name}}}
	v.remap(probe.Validate(), "steps[0].approval.gate", field)
}

func (v *validator) policy(p progressive.InconclusivePolicy) {
	switch p {
	case "", progressive.RollbackOnInconclusive, progressive.HoldOnInconclusive:
	default:
		v.add("onInconclusive", string(p), "must be %q or %q", progressive.RollbackOnInconclusive, progressive.HoldOnInconclusive)
	}
}

// checks validates checks and lifecycle hooks with the root vocabulary's own rules
// (a probe plan validated by progressive.Plan.Validate), reported under the
// strategy's prefix. required rejects an empty list and a list of warn-only checks:
// either way nothing could trigger a rollback.
func (v *validator) checks(checks []progressive.Check, hooks []progressive.HookSpec, required bool, what string) {
	if required {
		switch {
		case len(checks) == 0:
			v.add("checks", nil, "%s needs at least one check: without checks nothing can trigger a rollback", what)
		case !anyFailing(checks):
			v.add("checks", nil, "every check is warn-only; %s needs at least one with severity %q so that a regression can trigger a rollback", what, progressive.SeverityFail)
		}
	}
	probe := probePlan()
	probe.Checks, probe.Hooks = checks, hooks
	err := probe.Validate()
	v.remap(err, "checks", "checks")
	v.remap(err, "hooks", "hooks")
}

// stepHook validates a hook that runs as a plan step.
func (v *validator) stepHook(field string, h progressive.HookSpec) {
	probe := probePlan()
	probe.Steps = []progressive.Step{{Hook: &progressive.HookStep{Hook: h}}}
	v.remap(probe.Validate(), "steps[0].hook.hook", field)
	if h.Phase != "" {
		v.add(field+".phase", string(h.Phase), "must be empty: a hook that runs as a step has no lifecycle phase")
	}
}

func probePlan() progressive.Plan {
	return progressive.Plan{
		Name:   "probe",
		Target: progressive.Target{Name: "probe"},
		Steps:  []progressive.Step{{Finalize: &progressive.FinalizeStep{}}},
	}
}

// remap moves the problems of err found under from to the strategy's field to.
func (v *validator) remap(err error, from, to string) {
	ve, ok := err.(*progressive.ValidationError)
	if !ok {
		return
	}
	for _, fe := range ve.Problems {
		rest, ok := strings.CutPrefix(fe.Field, from)
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		v.pr.Add(v.field(to)+rest, fe.Value, fe.Reason)
	}
}

// percents validates a list of phase percentages: each in (0, 100], finite, strictly
// increasing, at most MaxPhases of them.
func (v *validator) percents(field string, ps []float64) {
	if len(ps) > MaxPhases {
		v.add(field, len(ps), "lists too many phases; at most %d", MaxPhases)
	}
	prev := 0.0
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case math.IsNaN(p) || p <= 0 || p > 100:
			v.add(f, p, "must be above 0 and at most 100")
		case i > 0 && p <= prev:
			v.add(f, p, "must be greater than the previous one (%s)", pct(prev))
		}
		if !math.IsNaN(p) && p > prev {
			prev = p
		}
	}
}

// keys validates a list of names (context keys, segments): none empty, none
// listed twice, each within the root vocabulary's name limits.
func (v *validator) keys(field string, keys []string, what string) {
	seen := map[string]bool{}
	for i, k := range keys {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case strings.TrimSpace(k) == "":
			v.add(f, k, "must not be empty: it is %s", what)
		case seen[k]:
			v.add(f, k, "is listed twice")
		case len(k) > 253 || strings.ContainsFunc(k, unicode.IsControl):
			v.add(f, k, "must be at most 253 bytes without control characters")
		}
		seen[k] = true
	}
}

func (v *validator) err() error { return v.pr.Err() }

func anyFailing(checks []progressive.Check) bool {
	for _, c := range checks {
		if c.Severity != progressive.SeverityWarn {
			return true
		}
	}
	return false
}

// newPlan starts a plan with what every strategy sets.
func newPlan(strategy string, target progressive.Target, release progressive.Release, checks []progressive.Check, hooks []progressive.HookSpec, policy progressive.InconclusivePolicy) progressive.Plan {
	return progressive.Plan{
		Name:           PlanName(target, release),
		Strategy:       strategy,
		Target:         target,
		Release:        release,
		Checks:         slices.Clone(checks),
		Hooks:          slices.Clone(hooks),
		OnInconclusive: policy,
	}
}

// finish is the safety net: a strategy never hands out a plan that fails
// progressive.Plan.Validate.
func finish(p progressive.Plan) (progressive.Plan, error) {
	if err := p.Validate(); err != nil {
		return progressive.Plan{}, err
	}
	return p, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// pct formats a percentage without trailing zeros: 10, 12.5.
func pct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

func pcts(ps []float64) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = pct(p) + "%"
	}
	return joinWords(s)
}

// joinWords joins a, b and c.
func joinWords(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	default:
		return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
	}
}

// dur formats 15m0s as 15m and 24h0m0s as 24h.
func dur(d time.Duration) string { return shortdur.String(d) }

// rollbackClause says what rolls back and how (undo), for Plan.Reason.
func rollbackClause(checks []progressive.Check, policy progressive.InconclusivePolicy, undo string) string {
	var fail, warn []string
	for _, c := range checks {
		if c.Severity == progressive.SeverityWarn {
			warn = append(warn, c.Name)
		} else {
			fail = append(fail, c.Name)
		}
	}
	var triggers []string
	if len(fail) > 0 {
		triggers = append(triggers, fmt.Sprintf("a failing check (%s)", strings.Join(fail, ", ")))
	}
	hold := policy == progressive.HoldOnInconclusive
	if !hold {
		triggers = append(triggers, "an inconclusive analysis (no data or NaN: missing data is never a pass)")
	}
	s := strings.Join(triggers, " or ") + " " + undo
	if hold {
		s += "; an inconclusive analysis (no data or NaN) holds the rollout for a person to decide"
	}
	if len(warn) > 0 {
		s += fmt.Sprintf("; warn-only checks (%s) are recorded but never roll back", strings.Join(warn, ", "))
	}
	return s
}
