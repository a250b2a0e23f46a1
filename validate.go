package progressive

import (
	"fmt"
	"github.com/agentops/progressive/internal/redact"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

func fieldIndex(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// Validate checks the whole plan before anything is touched and reports every
// problem at once, each under its field path (steps[2].setWeight.weight). The
// rollout package adds the checks that need the runner's providers.
func (p Plan) Validate() error {
	var pr Problems
	if p.Name == "" {
		pr.Add("name", nil, "must not be empty")
	} else if !IsDNSSubdomain(p.Name) {
		// The name is the rollout's id in state stores: a file, a ConfigMap.
		pr.Add("name", p.Name, "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)")
	}
	pr.Merge("target", p.Target.Validate())
	pr.Merge("release", p.Release.Validate())
	validateStrategyName(&pr, p.Strategy)
	switch p.OnInconclusive {
	case "", RollbackOnInconclusive, HoldOnInconclusive:
	default:
		pr.Add("onInconclusive", string(p.OnInconclusive), "must be %q or %q", RollbackOnInconclusive, HoldOnInconclusive)
	}
	validateChecks(&pr, "checks", p.Checks)
	validateHooks(&pr, p.Hooks)
	if p.Traffic != nil && !(p.Traffic.RequestsPerSecond >= 0 && p.Traffic.RequestsPerSecond < math.Inf(1)) {
		pr.Add("traffic.requestsPerSecond", p.Traffic.RequestsPerSecond, "must be a number of at least 0")
	}
	switch {
	case len(p.Steps) == 0:
		pr.Add("steps", nil, "a plan needs at least one step")
	case len(p.Steps) > MaxSteps:
		pr.Add("steps", len(p.Steps), "a plan may have at most %d steps", MaxSteps)
		return pr.Err() // each of them validated would drown the one problem that matters
	}
	if len(p.Checks) > MaxChecks {
		pr.Add("checks", len(p.Checks), "a plan may have at most %d checks", MaxChecks)
	}
	if len(p.Hooks) > MaxHooks {
		pr.Add("hooks", len(p.Hooks), "a plan may have at most %d lifecycle hooks", MaxHooks)
	}
	v := stepValidator{plan: p, problems: &pr, flagPercent: map[string]float64{}}
	for i, s := range p.Steps {
		v.step(fieldIndex("steps", i), s)
	}
	if v.shiftsTraffic && !v.analyses {
		pr.Add("steps", nil, "a plan that shifts traffic or flag percentages needs at least one analyze step (a canary with no checks)")
	}
	return pr.Err()
}

// canFail reports whether a check can ever fail an analysis: a fail-severity
// check with a judge or a bound (Check.Validate refuses infinite ones).
func canFail(c Check) bool {
	return c.Severity != SeverityWarn && (c.Judge != nil || c.Min != nil || c.Max != nil)
}

type stepValidator struct {
	plan          Plan
	problems      *Problems
	lastWeight    float64
	flagPercent   map[string]float64
	shiftsTraffic bool
	analyses      bool
}

func (v *stepValidator) step(path string, s Step) {
	pr := v.problems
	checkName(pr, path+".name", s.Name, false)
	kinds := s.kinds()
	switch len(kinds) {
	case 0:
		pr.Add(path, nil, "sets no action; set exactly one of deploy, setWeight, setRoutes, switch, scale, setFlag, pause, analyze, approval, hook, roll, promote, finalize")
		return
	case 1:
	default:
		pr.Add(path, fmt.Sprint(kinds), "sets several actions; set exactly one")
		return
	}
	f := path + "." + string(kinds[0])
	switch {
	case s.Deploy != nil:
		if s.Deploy.Replicas < 1 {
			pr.Add(f+".replicas", s.Deploy.Replicas, "must be at least 1")
		}
		maxReplicas(pr, f+".replicas", s.Deploy.Replicas)
		positiveIfSet(pr, f+".readyTimeout", s.Deploy.ReadyTimeout)
		if v.plan.Release.Version == "" {
			pr.Add("release.version", nil, "a plan that deploys needs a release version")
		}
	case s.SetWeight != nil:
		w := s.SetWeight.Weight
		checkPercent(pr, f+".weight", w)
		if w <= v.lastWeight && w >= 0 && w <= 100 {
			pr.Add(f+".weight", w, "weights must increase from step to step; the previous weight was %g", v.lastWeight)
		}
		if w > v.lastWeight {
			v.lastWeight = w
		}
		if w > 0 && w < 100 {
			v.shiftsTraffic = true
		}
	case s.SetRoutes != nil:
		pr.Merge(f+".routes", s.SetRoutes.Routes.Validate())
		v.shiftsTraffic = true
	case s.Switch != nil:
		if s.Switch.To != Stable && s.Switch.To != Canary {
			pr.Add(f+".to", string(s.Switch.To), "must be %q or %q", Stable, Canary)
		}
	case s.Scale != nil:
		if s.Scale.Replicas < 0 {
			pr.Add(f+".replicas", s.Scale.Replicas, "must not be negative")
		}
		maxReplicas(pr, f+".replicas", s.Scale.Replicas)
	case s.SetFlag != nil:
		sf := s.SetFlag
		pr.Merge(f+".flag", sf.Flag.Validate())
		checkPercent(pr, f+".percent", sf.Percent)
		// LaunchDarkly splits in thousandths of a percent; a finer share would be
		// rounded by the store, and the record would claim what was not served.
		if thousandths := sf.Percent * 1000; math.Abs(thousandths-math.Round(thousandths)) > 1e-6 {
			pr.Add(f+".percent", sf.Percent, "must be a multiple of 0.001 (flag stores split in thousandths of a percent)")
		}
		if sf.Variation == "" {
			pr.Add(f+".variation", nil, "must not be empty")
		}
		if sf.Fallback == "" {
			pr.Add(f+".fallback", nil, "must not be empty")
		} else if sf.Fallback == sf.Variation {
			pr.Add(f+".fallback", sf.Fallback, "must differ from variation")
		}
		for i, k := range sf.Targets {
			if strings.TrimSpace(k) == "" {
				pr.Add(fmt.Sprintf("%s.targets[%d]", f, i), k, "must not be empty: it is a context key (a user id)")
			}
		}
		for i, seg := range sf.Segments {
			if strings.TrimSpace(seg) == "" {
				pr.Add(fmt.Sprintf("%s.segments[%d]", f, i), seg, "must not be empty: it names a segment of the flag store")
			}
		}
		key := sf.Flag.String()
		if prev, ok := v.flagPercent[key]; ok && sf.Percent <= prev && sf.Percent >= 0 {
			pr.Add(f+".percent", sf.Percent, "percentages must increase from step to step; the previous one for %s was %g", key, prev)
		}
		v.flagPercent[key] = sf.Percent
		if sf.Percent > 0 && sf.Percent < 100 {
			v.shiftsTraffic = true
		}
	case s.Pause != nil:
		positive(pr, f+".duration", s.Pause.Duration)
	case s.Analyze != nil:
		positive(pr, f+".duration", s.Analyze.Duration)
		checks := v.plan.ChecksFor(*s.Analyze)
		switch {
		case len(checks) == 0:
			pr.Add(f+".checks", nil, "an analyze step needs checks, its own or the plan's")
		case !slices.ContainsFunc(checks, canFail):
			pr.Add(f+".checks", nil, "every check is warn-only: nothing can roll this analysis back; give at least one check severity fail")
			v.analyses = true
		default:
			v.analyses = true
		}
		validateChecks(pr, f+".checks", s.Analyze.Checks)
		if len(s.Analyze.Checks) > MaxChecks {
			pr.Add(f+".checks", len(s.Analyze.Checks), "an analysis may have at most %d checks", MaxChecks)
		}
	case s.Approval != nil:
		checkName(pr, f+".gate", s.Approval.Gate, true)
		positiveIfSet(pr, f+".timeout", s.Approval.Timeout)
	case s.Hook != nil:
		pr.Merge(f+".hook", validateHook(s.Hook.Hook, false))
	case s.Roll != nil:
		r := s.Roll
		if r.Updated < 1 {
			pr.Add(f+".updated", r.Updated, "must be at least 1")
		}
		maxReplicas(pr, f+".updated", r.Updated)
		maxReplicas(pr, f+".params.maxSurge", r.Params.MaxSurge)
		maxReplicas(pr, f+".params.maxUnavailable", r.Params.MaxUnavailable)
		if r.Params.MaxSurge < 0 {
			pr.Add(f+".params.maxSurge", r.Params.MaxSurge, "must not be negative")
		}
		if r.Params.MaxUnavailable < 0 {
			pr.Add(f+".params.maxUnavailable", r.Params.MaxUnavailable, "must not be negative")
		}
		if r.Params.MaxSurge == 0 && r.Params.MaxUnavailable == 0 {
			pr.Add(f+".params", nil, "maxSurge and maxUnavailable must not both be 0")
		}
		checkPercent(pr, f+".readinessBudget", r.ReadinessBudget)
		positiveIfSet(pr, f+".readyTimeout", r.ReadyTimeout)
	case s.Promote != nil:
		positiveIfSet(pr, f+".readyTimeout", s.Promote.ReadyTimeout)
	}
}

func validateChecks(pr *Problems, path string, checks []Check) {
	seen := map[string]bool{}
	for i, c := range checks {
		f := fieldIndex(path, i)
		pr.Merge(f, c.Validate())
		if c.Name != "" && seen[c.Name] {
			pr.Add(f+".name", c.Name, "is used by another check")
		}
		seen[c.Name] = true
	}
}

// validateHooks checks each lifecycle hook and that names are unique: the runner
// remembers which hooks ran by phase and name, so a second "gate" would never run
// and the rollout would succeed without it.
func validateHooks(pr *Problems, hooks []HookSpec) {
	first := map[string]int{}
	for i, h := range hooks {
		f := fieldIndex("hooks", i)
		pr.Merge(f, validateHook(h, true))
		if h.Name == "" {
			continue
		}
		if j, ok := first[h.Name]; ok {
			pr.Add(f+".name", h.Name, "is already the name of hooks[%d]; each hook needs its own name", j)
			continue
		}
		first[h.Name] = i
	}
}

func validateHook(h HookSpec, lifecycle bool) error {
	var pr Problems
	checkName(&pr, "name", h.Name, true)
	if lifecycle {
		switch h.Phase {
		case HookPreRollout, HookPrePromotion, HookPostRollout, HookOnRollback:
		default:
			pr.Add("phase", string(h.Phase), "must be one of %s, %s, %s, %s", HookPreRollout, HookPrePromotion, HookPostRollout, HookOnRollback)
		}
	}
	if h.URL != "" {
		// A webhook URL is a credential (userinfo, a token in the query, a
		// Slack-style secret path): problems name it by scheme and host only,
		// and never quote the parser's message, which repeats the URL.
		shown := redact.WebhookURL(h.URL)
		u, err := url.Parse(h.URL)
		switch {
		case err != nil:
			pr.Add("url", shown, "is not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			pr.Add("url", shown, "must be an http or https URL")
		case u.Host == "":
			pr.Add("url", shown, "has no host")
		}
	}
	if h.Timeout < 0 {
		pr.Add("timeout", h.Timeout.String(), "must be positive")
	} else if h.Timeout > MaxHookTimeout {
		pr.Add("timeout", h.Timeout.String(), "must be at most %s", MaxHookTimeout)
	}
	if h.Retries < -1 {
		pr.Add("retries", h.Retries, "must be -1 (none), 0 (default) or more")
	} else if h.Retries > MaxHookRetries {
		pr.Add("retries", h.Retries, "must be at most %d", MaxHookRetries)
	}
	return pr.Err()
}

func positive(pr *Problems, field string, d time.Duration) {
	if d <= 0 {
		pr.Add(field, d.String(), "must be positive")
	}
	atMostStep(pr, field, d)
}

// positiveIfSet accepts zero, which selects the documented default.
func positiveIfSet(pr *Problems, field string, d time.Duration) {
	if d < 0 {
		pr.Add(field, d.String(), "must be positive")
	}
	atMostStep(pr, field, d)
}

func atMostStep(pr *Problems, field string, d time.Duration) {
	if d > MaxStepDuration {
		pr.Add(field, d.String(), "must be at most %s", MaxStepDuration)
	}
}

func maxReplicas(pr *Problems, field string, n int) {
	if n > MaxReplicas {
		pr.Add(field, n, "must be at most %d", MaxReplicas)
	}
}
