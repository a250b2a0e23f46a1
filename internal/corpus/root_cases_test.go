package corpus_test

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

var (
	nan    = math.NaN()
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
)

// The secrets of the corpus: no message may quote them.
const (
	secretPassword = "hunter2-S3CR3T"
	secretToken    = "tok-9f8e7d6c5b4a"
	secretPath     = "XXXXSECRETPATH"
)

var (
	goodTarget  = progressive.Target{Namespace: "production", Name: "payment-service"}
	goodRelease = progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"}
)

func errorCheck() progressive.Check {
	return progressive.Check{Name: "error-rate", Query: `sum(rate(http_requests_total{service="{{.Service}}",code=~"5.."}[1m]))`, Max: progressive.Float(1)}
}

// basePlan is a valid canary plan; every plan case breaks one thing in it.
//
//	steps[0] deploy, [1] setWeight 10, [2] analyze (own checks), [3] setWeight 50,
//	[4] analyze (plan checks), [5] promote, [6] finalize
func basePlan() progressive.Plan {
	return progressive.Plan{
		Name:     "payment-service-v2-0-0",
		Strategy: progressive.StrategyCanary,
		Target:   goodTarget,
		Release:  goodRelease,
		Checks:   []progressive.Check{errorCheck()},
		Hooks:    []progressive.HookSpec{{Name: "notify", Phase: progressive.HookPreRollout, URL: "https://hooks.example.com/notify"}},
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 1}},
			{SetWeight: &progressive.SetWeightStep{Weight: 10}},
			{Analyze: &progressive.AnalyzeStep{Duration: time.Minute, Checks: []progressive.Check{errorCheck()}}},
			{SetWeight: &progressive.SetWeightStep{Weight: 50}},
			{Analyze: &progressive.AnalyzeStep{Duration: time.Minute}},
			{Promote: &progressive.PromoteStep{}},
			{Finalize: &progressive.FinalizeStep{}},
		},
	}
}

// planCase breaks basePlan with mutate and expects Plan.Validate to name field.
func planCase(name, field string, mutate func(p *progressive.Plan), secrets ...string) bad {
	return bad{entry: "Plan.Validate", name: name, field: field, secrets: secrets, run: func(context.Context) error {
		p := basePlan()
		mutate(&p)
		return p.Validate()
	}}
}

// stepCase replaces step i of basePlan.
func stepCase(name string, i int, field string, s progressive.Step) bad {
	return planCase(name, field, func(p *progressive.Plan) { p.Steps[i] = s })
}

// Strings that are neither names, labels nor keys.
var (
	injections = []string{
		"a\nb", "a\r\nX-Injected: 1", "a b", "a\x00b", "a\tb", "../../etc/passwd", "a;rm -rf /",
		"$(id)", "`id`", "${jndi:ldap://evil.example.com/a}", `a"}`, "a'or'1'='1", "{{.Service}}",
		"ünïcödé", "名前", "a\u202eb", "a\u200bb", "\u00a0",
	}
	tooLong = strings.Repeat("a", 300)
)

// checkMutations break a valid check; the field is relative to the check.
func checkMutations() []struct {
	name, field string
	mutate      func(c *progressive.Check)
} {
	f := progressive.Float
	return []struct {
		name, field string
		mutate      func(c *progressive.Check)
	}{
		{"empty-name", "name", func(c *progressive.Check) { c.Name = "" }},
		{"empty-query", "query", func(c *progressive.Check) { c.Query = "" }},
		{"no-bound", "max", func(c *progressive.Check) { c.Max = nil }},
		{"max-NaN", "max", func(c *progressive.Check) { c.Max = f(nan) }},
		{"max-+Inf", "max", func(c *progressive.Check) { c.Max = f(posInf) }},
		{"max--Inf", "max", func(c *progressive.Check) { c.Max = f(negInf) }},
		{"min-NaN", "min", func(c *progressive.Check) { c.Min = f(nan) }},
		{"min--Inf", "min", func(c *progressive.Check) { c.Min = f(negInf) }},
		{"min-above-max", "min", func(c *progressive.Check) { c.Min = f(2) }},
		{"min-huge-above-max", "min", func(c *progressive.Check) { c.Min = f(math.MaxFloat64) }},
		{"baseline-mode-unknown", "baseline.mode", func(c *progressive.Check) { c.Baseline = &progressive.Baseline{Mode: "ratios"} }},
		{"baseline-mode-empty", "baseline.mode", func(c *progressive.Check) { c.Baseline = &progressive.Baseline{} }},
		{"interval-negative", "interval", func(c *progressive.Check) { c.Interval = -time.Second }},
		{"interval-MinInt64", "interval", func(c *progressive.Check) { c.Interval = math.MinInt64 }},
		{"interval-1ns", "interval", func(c *progressive.Check) { c.Interval = time.Nanosecond }},
		{"interval-below-min", "interval", func(c *progressive.Check) { c.Interval = progressive.MinCheckInterval - 1 }},
		{"interval-above-max", "interval", func(c *progressive.Check) { c.Interval = progressive.MaxCheckInterval + 1 }},
		{"interval-MaxInt64", "interval", func(c *progressive.Check) { c.Interval = math.MaxInt64 }},
		{"initialDelay-negative", "initialDelay", func(c *progressive.Check) { c.InitialDelay = -1 }},
		{"initialDelay-above-max", "initialDelay", func(c *progressive.Check) { c.InitialDelay = progressive.MaxInitialDelay + time.Second }},
		{"window-negative", "window", func(c *progressive.Check) { c.Window = -time.Minute }},
		{"window-above-max", "window", func(c *progressive.Check) { c.Window = progressive.MaxWindow + 1 }},
		{"warmUp-above-max", "warmUp", func(c *progressive.Check) { c.WarmUp = progressive.MaxWindow + time.Hour }},
		{"failureLimit-negative", "failureLimit", func(c *progressive.Check) { c.FailureLimit = -1 }},
		{"failureLimit-above-max", "failureLimit", func(c *progressive.Check) { c.FailureLimit = progressive.MaxCountLimit + 1 }},
		{"failureLimit-MaxInt", "failureLimit", func(c *progressive.Check) { c.FailureLimit = math.MaxInt }},
		{"consecutiveFailureLimit-negative", "consecutiveFailureLimit", func(c *progressive.Check) { c.ConsecutiveFailureLimit = -3 }},
		{"consecutiveFailureLimit-above-max", "consecutiveFailureLimit", func(c *progressive.Check) { c.ConsecutiveFailureLimit = progressive.MaxCountLimit + 1 }},
		{"inconclusiveLimit-negative", "inconclusiveLimit", func(c *progressive.Check) { c.InconclusiveLimit = math.MinInt }},
		{"inconclusiveLimit-above-max", "inconclusiveLimit", func(c *progressive.Check) { c.InconclusiveLimit = progressive.MaxCountLimit + 1 }},
		{"samples-empty-query", "samples.query", func(c *progressive.Check) { c.Samples = &progressive.SampleSize{Min: 101} }},
		{"samples-min-zero", "samples.min", func(c *progressive.Check) { c.Samples = &progressive.SampleSize{Query: "q"} }},
		{"samples-min-negative", "samples.min", func(c *progressive.Check) { c.Samples = &progressive.SampleSize{Query: "q", Min: -1} }},
		{"samples-min-NaN", "samples.min", func(c *progressive.Check) { c.Samples = &progressive.SampleSize{Query: "q", Min: nan} }},
		{"samples-min-Inf", "samples.min", func(c *progressive.Check) { c.Samples = &progressive.SampleSize{Query: "q", Min: posInf} }},
		{"severity-unknown", "severity", func(c *progressive.Check) { c.Severity = "error" }},
		{"severity-upper-case", "severity", func(c *progressive.Check) { c.Severity = "FAIL" }},
		{"noData-pass", "noData", func(c *progressive.Check) { c.NoData = "pass" }},
		{"noData-CRLF", "noData", func(c *progressive.Check) { c.NoData = "fail\r\n" }},
		{"judge-kind-empty", "judge.kind", func(c *progressive.Check) { c.Judge = &progressive.JudgeSpec{} }},
	}
}

func rootCases() []bad {
	var out []bad

	// Check.Validate directly, and the same breakage inside a plan's checks and
	// inside an analyze step's own checks.
	for _, m := range checkMutations() {
		out = append(out, bad{entry: "Check.Validate", name: m.name, field: m.field, run: func(context.Context) error {
			c := errorCheck()
			m.mutate(&c)
			return c.Validate()
		}})
		out = append(out, planCase("checks[0]/"+m.name, "checks[0]."+m.field, func(p *progressive.Plan) { m.mutate(&p.Checks[0]) }))
		out = append(out, planCase("steps[2].analyze.checks[0]/"+m.name, "steps[2].analyze.checks[0]."+m.field,
			func(p *progressive.Plan) { m.mutate(&p.Steps[2].Analyze.Checks[0]) }))
	}

	// Names, labels and keys.
	for i, s := range with(injections, "", "Payment", "a_b", "-a", "a-", "a..b", strings.Repeat("a", 254)) {
		out = append(out, planCase("name#"+label(i), "name", func(p *progressive.Plan) { p.Name = s }))
	}
	for i, s := range with(injections, "", "Payment-Service", strings.Repeat("a", 64), "a.b", "a_b", "-x", "x-") {
		out = append(out, bad{entry: "Target.Validate", name: "name#" + label(i), field: "name", run: func(context.Context) error {
			return progressive.Target{Namespace: "production", Name: s}.Validate()
		}})
	}
	for i, s := range with(injections, "Prod", strings.Repeat("n", 64), "a.b", "-a") {
		out = append(out, planCase("target.namespace#"+label(i), "target.namespace", func(p *progressive.Plan) { p.Target.Namespace = s }))
	}
	versions := with(injections, `v2"} or vector(1) #`, "v2\"} or on() vector(1)", "-v2", "v2-", ".v2", strings.Repeat("1", 64), "v2/../x", "v2:latest")
	for i, s := range versions {
		out = append(out, bad{entry: "Release.Validate", name: "version#" + label(i), field: "version", run: func(context.Context) error {
			return progressive.Release{Version: s}.Validate()
		}})
	}
	for i, s := range []string{"app:v2 --privileged", "app:v2\n", "/app", "app/", "app:", "app;rm", "app:v2\x00", "app$(id)", "ä/app", strings.Repeat("a", 4097), "app:v2\r\nX: y", "app v2"} {
		out = append(out, planCase("release.image#"+label(i), "release.image", func(p *progressive.Plan) { p.Release.Image = s }))
	}
	for i, s := range []string{"App", "a_b", strings.Repeat("c", 64), "c\n", "-c", "c.d"} {
		out = append(out, planCase("release.container#"+label(i), "release.container", func(p *progressive.Plan) { p.Release.Container = s }))
	}
	for i, s := range []string{"canray", "Canary", "canary ", "blue_green", "canary\n", "rolling;drop", "ünï"} {
		out = append(out, planCase("strategy#"+label(i), "strategy", func(p *progressive.Plan) { p.Strategy = s }))
	}
	for i, s := range []string{"ignore", "Rollback", "pass", "hold\n"} {
		out = append(out, planCase("onInconclusive#"+label(i), "onInconclusive", func(p *progressive.Plan) { p.OnInconclusive = progressive.InconclusivePolicy(s) }))
	}
	for i, v := range []float64{nan, posInf, negInf, -1, -math.SmallestNonzeroFloat64} {
		out = append(out, planCase("traffic#"+label(i), "traffic.requestsPerSecond", func(p *progressive.Plan) {
			p.Traffic = &progressive.TrafficEstimate{RequestsPerSecond: v}
		}))
	}

	// Sizes beyond the limits.
	out = append(out,
		planCase("no-steps", "steps", func(p *progressive.Plan) { p.Steps = nil }),
		planCase("too-many-steps", "steps", func(p *progressive.Plan) {
			for len(p.Steps) <= progressive.MaxSteps {
				p.Steps = append(p.Steps, progressive.Step{Pause: &progressive.PauseStep{Duration: time.Second}})
			}
		}),
		planCase("too-many-checks", "checks", func(p *progressive.Plan) {
			for i := 0; len(p.Checks) <= progressive.MaxChecks; i++ {
				c := errorCheck()
				c.Name = "c" + label(i)
				p.Checks = append(p.Checks, c)
			}
		}),
		planCase("too-many-step-checks", "steps[2].analyze.checks", func(p *progressive.Plan) {
			for i := 0; len(p.Steps[2].Analyze.Checks) <= progressive.MaxChecks; i++ {
				c := errorCheck()
				c.Name = "c" + label(i)
				p.Steps[2].Analyze.Checks = append(p.Steps[2].Analyze.Checks, c)
			}
		}),
		planCase("too-many-hooks", "hooks", func(p *progressive.Plan) {
			for i := 0; len(p.Hooks) <= progressive.MaxHooks; i++ {
				p.Hooks = append(p.Hooks, progressive.HookSpec{Name: "h" + label(i), Phase: progressive.HookPostRollout})
			}
		}),
		planCase("duplicate-check-name", "checks[1].name", func(p *progressive.Plan) { p.Checks = append(p.Checks, errorCheck()) }),
		planCase("no-analysis", "steps", func(p *progressive.Plan) {
			p.Steps[2] = progressive.Step{Pause: &progressive.PauseStep{Duration: time.Minute}}
			p.Steps[4] = progressive.Step{Pause: &progressive.PauseStep{Duration: time.Minute}}
		}),
		planCase("deploy-without-version", "release.version", func(p *progressive.Plan) { p.Release.Version = "" }),
		planCase("analyze-without-checks", "steps[4].analyze.checks", func(p *progressive.Plan) { p.Checks = nil }),
		planCase("warn-only-checks", "steps[2].analyze.checks", func(p *progressive.Plan) {
			p.Steps[2].Analyze.Checks[0].Severity = progressive.SeverityWarn
		}),
	)

	// Steps.
	f := func(v float64) *float64 { return &v }
	_ = f
	routes := func(r progressive.Routes) progressive.Step {
		return progressive.Step{SetRoutes: &progressive.SetRoutesStep{Routes: r}}
	}
	match := func(m progressive.Match) progressive.Step {
		return routes(progressive.Routes{StableWeight: 100, Matches: []progressive.Match{m}})
	}
	hdr := func(name, value string, regex bool) progressive.Match {
		return progressive.Match{Kind: progressive.MatchHeader, Name: name, Value: value, Regex: regex}
	}
	rt := "steps[1].setRoutes.routes."
	flag := func(sf progressive.SetFlagStep) progressive.Step { return progressive.Step{SetFlag: &sf} }
	okFlag := progressive.SetFlagStep{Flag: progressive.FlagRef{Key: "payment_gateway_v2"}, Variation: "on", Fallback: "off", Percent: 10}
	withFlag := func(mut func(s *progressive.SetFlagStep)) progressive.Step {
		s := okFlag
		mut(&s)
		return flag(s)
	}
	sf := "steps[1].setFlag."
	hook := func(h progressive.HookSpec) progressive.Step {
		return progressive.Step{Hook: &progressive.HookStep{Hook: h}}
	}
	roll := func(r progressive.RollStep) progressive.Step { return progressive.Step{Roll: &r} }
	okRoll := progressive.RollStep{Updated: 1, Params: progressive.RollingParams{MaxSurge: 1}, ReadinessBudget: 5}
	withRoll := func(mut func(r *progressive.RollStep)) progressive.Step {
		r := okRoll
		mut(&r)
		return roll(r)
	}
	over := progressive.MaxStepDuration + time.Second
	out = append(out,
		stepCase("no-action", 1, "steps[1]", progressive.Step{Name: "nothing"}),
		stepCase("two-actions", 1, "steps[1]", progressive.Step{SetWeight: &progressive.SetWeightStep{Weight: 10}, Pause: &progressive.PauseStep{Duration: time.Second}}),
		stepCase("deploy-replicas-0", 0, "steps[0].deploy.replicas", progressive.Step{Deploy: &progressive.DeployStep{}}),
		stepCase("deploy-replicas-negative", 0, "steps[0].deploy.replicas", progressive.Step{Deploy: &progressive.DeployStep{Replicas: -1}}),
		stepCase("deploy-replicas-above-max", 0, "steps[0].deploy.replicas", progressive.Step{Deploy: &progressive.DeployStep{Replicas: progressive.MaxReplicas + 1}}),
		stepCase("deploy-replicas-MaxInt", 0, "steps[0].deploy.replicas", progressive.Step{Deploy: &progressive.DeployStep{Replicas: math.MaxInt}}),
		stepCase("deploy-readyTimeout-negative", 0, "steps[0].deploy.readyTimeout", progressive.Step{Deploy: &progressive.DeployStep{Replicas: 1, ReadyTimeout: -1}}),
		stepCase("deploy-readyTimeout-above-max", 0, "steps[0].deploy.readyTimeout", progressive.Step{Deploy: &progressive.DeployStep{Replicas: 1, ReadyTimeout: over}}),
		stepCase("switch-blue", 1, "steps[1].switch.to", progressive.Step{Switch: &progressive.SwitchStep{To: "blue"}}),
		stepCase("switch-empty", 1, "steps[1].switch.to", progressive.Step{Switch: &progressive.SwitchStep{}}),
		stepCase("switch-upper", 1, "steps[1].switch.to", progressive.Step{Switch: &progressive.SwitchStep{To: "Canary"}}),
		stepCase("scale-negative", 1, "steps[1].scale.replicas", progressive.Step{Scale: &progressive.ScaleStep{Replicas: -1}}),
		stepCase("scale-above-max", 1, "steps[1].scale.replicas", progressive.Step{Scale: &progressive.ScaleStep{Replicas: progressive.MaxReplicas + 1}}),
		stepCase("pause-zero", 1, "steps[1].pause.duration", progressive.Step{Pause: &progressive.PauseStep{}}),
		stepCase("pause-negative", 1, "steps[1].pause.duration", progressive.Step{Pause: &progressive.PauseStep{Duration: math.MinInt64}}),
		stepCase("pause-above-max", 1, "steps[1].pause.duration", progressive.Step{Pause: &progressive.PauseStep{Duration: over}}),
		stepCase("pause-MaxInt64", 1, "steps[1].pause.duration", progressive.Step{Pause: &progressive.PauseStep{Duration: math.MaxInt64}}),
		stepCase("analyze-zero", 2, "steps[2].analyze.duration", progressive.Step{Analyze: &progressive.AnalyzeStep{}}),
		stepCase("analyze-negative", 2, "steps[2].analyze.duration", progressive.Step{Analyze: &progressive.AnalyzeStep{Duration: -time.Hour}}),
		stepCase("analyze-above-max", 2, "steps[2].analyze.duration", progressive.Step{Analyze: &progressive.AnalyzeStep{Duration: over}}),
		stepCase("approval-no-gate", 5, "steps[5].approval.gate", progressive.Step{Approval: &progressive.ApprovalStep{}}),
		stepCase("approval-timeout-negative", 5, "steps[5].approval.timeout", progressive.Step{Approval: &progressive.ApprovalStep{Gate: "g", Timeout: -1}}),
		stepCase("approval-timeout-above-max", 5, "steps[5].approval.timeout", progressive.Step{Approval: &progressive.ApprovalStep{Gate: "g", Timeout: over}}),
		stepCase("promote-readyTimeout-negative", 5, "steps[5].promote.readyTimeout", progressive.Step{Promote: &progressive.PromoteStep{ReadyTimeout: -time.Second}}),
		stepCase("promote-readyTimeout-above-max", 5, "steps[5].promote.readyTimeout", progressive.Step{Promote: &progressive.PromoteStep{ReadyTimeout: over}}),
	)
	for i, w := range []float64{nan, posInf, negInf, -1, 100.0000001, 1e308, -0.5} {
		out = append(out, stepCase("setWeight#"+label(i), 1, "steps[1].setWeight.weight", progressive.Step{SetWeight: &progressive.SetWeightStep{Weight: w}}))
	}
	for i, w := range []float64{10, 5, 0} {
		out = append(out, stepCase("setWeight-not-increasing#"+label(i), 3, "steps[3].setWeight.weight", progressive.Step{SetWeight: &progressive.SetWeightStep{Weight: w}}))
	}
	for _, c := range []struct {
		name, field string
		r           progressive.Routes
	}{
		{"sum-110", "canaryWeight", progressive.Routes{StableWeight: 80, CanaryWeight: 30}},
		{"sum-90", "canaryWeight", progressive.Routes{StableWeight: 80, CanaryWeight: 10}},
		{"stable-NaN", "stableWeight", progressive.Routes{StableWeight: nan, CanaryWeight: 100}},
		{"canary-NaN", "canaryWeight", progressive.Routes{StableWeight: 100, CanaryWeight: nan}},
		{"canary-negative", "canaryWeight", progressive.Routes{StableWeight: 105, CanaryWeight: -5}},
		{"stable-Inf", "stableWeight", progressive.Routes{StableWeight: posInf, CanaryWeight: negInf}},
		{"mirror-101", "mirrorPercent", progressive.Routes{StableWeight: 100, MirrorPercent: 101}},
		{"mirror-NaN", "mirrorPercent", progressive.Routes{StableWeight: 100, MirrorPercent: nan}},
		{"mirror-negative", "mirrorPercent", progressive.Routes{StableWeight: 100, MirrorPercent: -1}},
	} {
		out = append(out, stepCase("setRoutes-"+c.name, 1, rt+c.field, routes(c.r)))
		out = append(out, bad{entry: "Routes.Validate", name: c.name, field: c.field, run: func(context.Context) error { return c.r.Validate() }})
	}
	for _, c := range []struct {
		name, field string
		m           progressive.Match
	}{
		{"kind-query", "kind", progressive.Match{Kind: "query", Name: "x", Value: "1"}},
		{"kind-empty", "kind", progressive.Match{Name: "x", Value: "1"}},
		{"kind-upper", "kind", progressive.Match{Kind: "Header", Name: "x", Value: "1"}},
		{"name-empty", "name", hdr("", "1", false)},
		{"name-CRLF", "name", hdr("x-user\r\nx-admin", "1", false)},
		{"name-space", "name", hdr("x user", "1", false)},
		{"name-colon", "name", hdr("x-user:", "1", false)},
		{"name-unicode", "name", hdr("x-ünï", "1", false)},
		{"name-NUL", "name", hdr("x\x00", "1", false)},
		{"name-too-long", "name", hdr(strings.Repeat("x", 257), "1", false)},
		{"cookie-name-semicolon", "name", progressive.Match{Kind: progressive.MatchCookie, Name: "beta;admin", Value: "1"}},
		{"cookie-name-equals", "name", progressive.Match{Kind: progressive.MatchCookie, Name: "beta=1", Value: "1"}},
		{"value-empty", "value", hdr("x-user", "", false)},
		{"value-LF", "value", hdr("x-user", "a\nb", false)},
		{"value-CR", "value", hdr("x-user", "a\rb", false)},
		{"value-DEL", "value", hdr("x-user", "a\x7f", false)},
		{"value-NUL", "value", hdr("x-user", "a\x00", false)},
		{"value-too-long", "value", hdr("x-user", strings.Repeat("v", 4097), false)},
		{"regex-unclosed", "value", hdr("x-user", "(beta", true)},
		{"regex-backslash", "value", hdr("x-user", `\`, true)},
		{"regex-backreference", "value", hdr("x-user", `(a)\1`, true)},
		{"regex-lookahead", "value", hdr("x-user", `(?=a)`, true)},
		{"regex-repeat-too-big", "value", hdr("x-user", `a{1001}`, true)},
	} {
		out = append(out, stepCase("setRoutes-match-"+c.name, 1, rt+"matches[0]."+c.field, match(c.m)))
		out = append(out, bad{entry: "Routes.Validate", name: "match-" + c.name, field: "matches[0]." + c.field, run: func(context.Context) error {
			return progressive.Routes{StableWeight: 100, Matches: []progressive.Match{c.m}}.Validate()
		}})
	}
	for i, k := range with(injections, "", "-key", ".key", strings.Repeat("k", 257), "ключ", "payment gateway") {
		field := "key"
		out = append(out, bad{entry: "FlagRef.Validate", name: "key#" + label(i), field: field, run: func(context.Context) error {
			return progressive.FlagRef{Key: k}.Validate()
		}})
		if i%3 == 0 {
			out = append(out, stepCase("setFlag-key#"+label(i), 1, sf+"flag.key", withFlag(func(s *progressive.SetFlagStep) { s.Flag.Key = k })))
		}
	}
	for i, s := range []string{"bad project", "-p", "p\n", strings.Repeat("p", 257), "../p"} {
		out = append(out, bad{entry: "FlagRef.Validate", name: "project#" + label(i), field: "project", run: func(context.Context) error {
			return progressive.FlagRef{Project: s, Key: "k"}.Validate()
		}})
		out = append(out, bad{entry: "FlagRef.Validate", name: "environment#" + label(i), field: "environment", run: func(context.Context) error {
			return progressive.FlagRef{Environment: s, Key: "k"}.Validate()
		}})
	}
	for i, p := range []float64{nan, posInf, -1, 100.5, 12.3456, 1e-9, math.MaxFloat64} {
		out = append(out, stepCase("setFlag-percent#"+label(i), 1, sf+"percent", withFlag(func(s *progressive.SetFlagStep) { s.Percent = p })))
	}
	out = append(out,
		stepCase("setFlag-no-variation", 1, sf+"variation", withFlag(func(s *progressive.SetFlagStep) { s.Variation = "" })),
		stepCase("setFlag-no-fallback", 1, sf+"fallback", withFlag(func(s *progressive.SetFlagStep) { s.Fallback = "" })),
		stepCase("setFlag-fallback-is-variation", 1, sf+"fallback", withFlag(func(s *progressive.SetFlagStep) { s.Fallback = "on" })),
		stepCase("setFlag-project", 1, sf+"flag.project", withFlag(func(s *progressive.SetFlagStep) { s.Flag.Project = "bad project" })),
		stepCase("setFlag-environment", 1, sf+"flag.environment", withFlag(func(s *progressive.SetFlagStep) { s.Flag.Environment = "prod\n" })),
		planCase("setFlag-not-increasing", "steps[3].setFlag.percent", func(p *progressive.Plan) {
			p.Steps[1] = flag(okFlag)
			p.Steps[3] = withFlag(func(s *progressive.SetFlagStep) { s.Percent = 5 })
		}),
	)
	for _, c := range []struct {
		name, field string
		mut         func(r *progressive.RollStep)
	}{
		{"updated-0", "updated", func(r *progressive.RollStep) { r.Updated = 0 }},
		{"updated-negative", "updated", func(r *progressive.RollStep) { r.Updated = -1 }},
		{"updated-above-max", "updated", func(r *progressive.RollStep) { r.Updated = progressive.MaxReplicas + 1 }},
		{"maxSurge-negative", "params.maxSurge", func(r *progressive.RollStep) { r.Params.MaxSurge = -1 }},
		{"maxSurge-above-max", "params.maxSurge", func(r *progressive.RollStep) { r.Params.MaxSurge = math.MaxInt }},
		{"maxUnavailable-negative", "params.maxUnavailable", func(r *progressive.RollStep) { r.Params.MaxUnavailable = -2 }},
		{"both-zero", "params", func(r *progressive.RollStep) { r.Params = progressive.RollingParams{} }},
		{"budget-NaN", "readinessBudget", func(r *progressive.RollStep) { r.ReadinessBudget = nan }},
		{"budget-101", "readinessBudget", func(r *progressive.RollStep) { r.ReadinessBudget = 101 }},
		{"budget-negative", "readinessBudget", func(r *progressive.RollStep) { r.ReadinessBudget = -1 }},
		{"readyTimeout-negative", "readyTimeout", func(r *progressive.RollStep) { r.ReadyTimeout = -1 }},
		{"readyTimeout-above-max", "readyTimeout", func(r *progressive.RollStep) { r.ReadyTimeout = over }},
	} {
		out = append(out, stepCase("roll-"+c.name, 1, "steps[1].roll."+c.field, withRoll(c.mut)))
	}

	// Hooks, as steps and in the lifecycle; webhook URLs are credentials.
	secretURL := "https://user:" + secretPassword + "@hooks.example.com/" + secretPath + "?token=" + secretToken
	for _, c := range []struct {
		name, field string
		h           progressive.HookSpec
	}{
		{"no-name", "name", progressive.HookSpec{URL: "https://hooks.example.com/x"}},
		{"url-ftp", "url", progressive.HookSpec{Name: "h", URL: "ftp://user:" + secretPassword + "@hooks.example.com/" + secretPath}},
		{"url-no-host", "url", progressive.HookSpec{Name: "h", URL: "https://user:" + secretPassword + "@/" + secretPath + "?token=" + secretToken}},
		{"url-bad-escape", "url", progressive.HookSpec{Name: "h", URL: "https://hooks.example.com/%zz" + secretPath + "?token=" + secretToken}},
		{"url-relative", "url", progressive.HookSpec{Name: "h", URL: "/" + secretPath}},
		{"url-javascript", "url", progressive.HookSpec{Name: "h", URL: "javascript:alert(1)"}},
		{"url-file", "url", progressive.HookSpec{Name: "h", URL: "file:///etc/passwd"}},
		{"url-CRLF", "url", progressive.HookSpec{Name: "h", URL: "https://hooks.example.com/\r\n" + secretPath}},
		{"url-space-host", "url", progressive.HookSpec{Name: "h", URL: "https://hooks example.com/" + secretPath}},
		{"timeout-negative", "timeout", progressive.HookSpec{Name: "h", Timeout: -1}},
		{"timeout-above-max", "timeout", progressive.HookSpec{Name: "h", Timeout: progressive.MaxHookTimeout + 1}},
		{"retries--2", "retries", progressive.HookSpec{Name: "h", Retries: -2}},
		{"retries-above-max", "retries", progressive.HookSpec{Name: "h", Retries: progressive.MaxHookRetries + 1}},
		{"retries-MinInt", "retries", progressive.HookSpec{Name: "h", Retries: math.MinInt}},
	} {
		out = append(out, bad{entry: "Plan.Validate", name: "step-hook-" + c.name, field: "steps[1].hook.hook." + c.field,
			secrets: []string{secretPassword, secretToken, secretPath}, run: func(context.Context) error {
				p := basePlan()
				p.Steps[1] = hook(c.h)
				return p.Validate()
			}})
		lh := c.h
		lh.Phase = progressive.HookPostRollout
		out = append(out, bad{entry: "Plan.Validate", name: "lifecycle-hook-" + c.name, field: "hooks[0]." + c.field,
			secrets: []string{secretPassword, secretToken, secretPath}, run: func(context.Context) error {
				p := basePlan()
				p.Hooks[0] = lh
				return p.Validate()
			}})
	}
	for i, ph := range []string{"", "before", "pre_rollout", "PRE-ROLLOUT", "pre-rollout\n"} {
		out = append(out, planCase("hook-phase#"+label(i), "hooks[0].phase", func(p *progressive.Plan) {
			p.Hooks[0].Phase = progressive.HookPhase(ph)
		}))
	}
	out = append(out, planCase("hook-duplicate-name", "hooks[1].name", func(p *progressive.Plan) {
		p.Hooks = append(p.Hooks, progressive.HookSpec{Name: "notify", Phase: progressive.HookOnRollback, URL: secretURL})
	}, secretPassword, secretToken, secretPath))
	// Names that reach approvers, hooks, logs and records: no control
	// characters, at most 253 bytes.
	out = append(out,
		planCase("check-name-CRLF", "checks[0].name", func(p *progressive.Plan) { p.Checks[0].Name = "error-rate\r\nlevel=INFO msg=promoted" }),
		planCase("check-name-NUL", "checks[0].name", func(p *progressive.Plan) { p.Checks[0].Name = "error\x00rate" }),
		planCase("check-name-too-long", "checks[0].name", func(p *progressive.Plan) { p.Checks[0].Name = tooLong }),
		stepCase("approval-gate-CRLF", 5, "steps[5].approval.gate", progressive.Step{Approval: &progressive.ApprovalStep{Gate: "release\r\napproved=yes"}}),
		stepCase("approval-gate-DEL", 5, "steps[5].approval.gate", progressive.Step{Approval: &progressive.ApprovalStep{Gate: "release\x7f"}}),
		stepCase("approval-gate-too-long", 5, "steps[5].approval.gate", progressive.Step{Approval: &progressive.ApprovalStep{Gate: tooLong}}),
		planCase("hook-name-CRLF", "hooks[0].name", func(p *progressive.Plan) { p.Hooks[0].Name = "notify\nX-Injected: 1" }),
		planCase("hook-name-too-long", "hooks[0].name", func(p *progressive.Plan) { p.Hooks[0].Name = tooLong }),
		stepCase("hook-step-name-TAB", 5, "steps[5].hook.hook.name", progressive.Step{Hook: &progressive.HookStep{Hook: progressive.HookSpec{Name: "smoke\ttest"}}}),
		planCase("step-name-CRLF", "steps[1].name", func(p *progressive.Plan) { p.Steps[1].Name = "weight-10\r\nweight-100" }),
		planCase("step-name-too-long", "steps[1].name", func(p *progressive.Plan) { p.Steps[1].Name = tooLong }),
	)
	return out
}
