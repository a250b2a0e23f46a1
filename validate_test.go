package progressive_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func errorCheck() progressive.Check {
	return progressive.Check{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}
}

func validPlan() progressive.Plan {
	return progressive.Plan{
		Name:    "payment-service-v2",
		Target:  progressive.Target{Namespace: "production", Name: "payment-service"},
		Release: progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"},
		Checks:  []progressive.Check{errorCheck()},
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 2}},
			{SetWeight: &progressive.SetWeightStep{Weight: 10}},
			{Analyze: &progressive.AnalyzeStep{Duration: 15 * time.Minute}},
			{SetWeight: &progressive.SetWeightStep{Weight: 50}},
			{Analyze: &progressive.AnalyzeStep{Duration: 15 * time.Minute}},
			{Promote: &progressive.PromoteStep{}},
			{Finalize: &progressive.FinalizeStep{}},
		},
	}
}

func fields(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *progressive.ValidationError
	require.True(t, errors.As(err, &ve), "want a *ValidationError, got %v", err)
	out := map[string]string{}
	for _, p := range ve.Problems {
		out[p.Field] = p.Error()
	}
	return out
}

func TestValidPlanPasses(t *testing.T) {
	require.NoError(t, validPlan().Validate())
	assert.Equal(t, 30*time.Minute, validPlan().TotalDuration())
}

func TestValidateReportsEveryProblemWithItsField(t *testing.T) {
	p := validPlan()
	p.Name = ""
	p.Target.Name = "Payment_Service"
	p.Checks = []progressive.Check{{Name: "latency", Query: "latency_p95", Min: progressive.Float(500), Max: progressive.Float(100), Interval: -time.Second, Severity: "fatal"}}
	p.Steps = []progressive.Step{
		{SetWeight: &progressive.SetWeightStep{Weight: 50}},
		{SetWeight: &progressive.SetWeightStep{Weight: 10}},
		{SetWeight: &progressive.SetWeightStep{Weight: 120}},
		{Pause: &progressive.PauseStep{}},
		{Analyze: &progressive.AnalyzeStep{Duration: -time.Minute}},
		{SetFlag: &progressive.SetFlagStep{Percent: 101, Variation: "on", Fallback: "off"}},
		{Hook: &progressive.HookStep{Hook: progressive.HookSpec{Name: "smoke", URL: "ftp://tests.example.com/run"}}},
		{},
		{Pause: &progressive.PauseStep{Duration: time.Second}, Promote: &progressive.PromoteStep{}},
	}
	p.Hooks = []progressive.HookSpec{{Name: "notify", Phase: "sometimes", URL: "https://hooks.example.com"}}
	err := p.Validate()
	require.ErrorIs(t, err, progressive.ErrInvalid)
	got := fields(t, err)
	for field, want := range map[string]string{
		"name":                      "must not be empty",
		"target.name":               `"Payment_Service"`,
		"checks[0].min":             "must not exceed max 100",
		"checks[0].interval":        "-1s",
		"checks[0].severity":        `"fatal"`,
		"steps[1].setWeight.weight": "must increase",
		"steps[2].setWeight.weight": "got 120",
		"steps[3].pause.duration":   "must be positive",
		"steps[4].analyze.duration": "-1m0s",
		"steps[5].setFlag.flag.key": "must not be empty",
		"steps[5].setFlag.percent":  "got 101",
		"steps[6].hook.hook.url":    "must be an http or https URL",
		"steps[7]":                  "sets no action",
		"steps[8]":                  "several actions",
		"hooks[0].phase":            `"sometimes"`,
	} {
		require.Contains(t, got, field, "all problems: %v", err)
		assert.Contains(t, got[field], want, field)
	}
}

func TestCanaryWithoutChecksIsRejected(t *testing.T) {
	p := validPlan()
	p.Checks = nil
	got := fields(t, p.Validate())
	assert.Contains(t, got["steps[2].analyze.checks"], "needs checks")
	assert.Contains(t, got["steps"], "a canary with no checks")
}

func TestRoutesValidate(t *testing.T) {
	require.NoError(t, progressive.WeightedRoutes(9.0909).Validate())
	got := fields(t, progressive.Routes{StableWeight: 80, CanaryWeight: 30, MirrorPercent: -1, Matches: []progressive.Match{{Kind: "query"}}}.Validate())
	assert.Contains(t, got["canaryWeight"], "must be 100")
	assert.Contains(t, got["mirrorPercent"], "between 0 and 100")
	assert.Contains(t, got["matches[0].kind"], `"query"`)
	assert.Contains(t, got["matches[0].name"], "must not be empty")
}

func TestFlagRolloutValidate(t *testing.T) {
	r := progressive.PercentRollout("v2", "v1", 10)
	require.NoError(t, r.Validate())
	assert.Equal(t, 10.0, r.WeightOf("v2"))
	assert.Equal(t, 90.0, r.WeightOf("v1"))
	got := fields(t, progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "", Weight: 120}}}.Validate())
	assert.Contains(t, got["weights[0].variation"], "must not be empty")
	assert.Contains(t, got["weights[0].weight"], "got 120")
	assert.Contains(t, got["weights"], "must sum to 100")
}

func TestErrorsClassify(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), progressive.ErrTransient)
	assert.True(t, progressive.IsTransient(wrapped))
	assert.False(t, progressive.IsInvalid(wrapped))
	fe := progressive.FieldError{Field: "steps[0]", Value: "x", Reason: "bad"}
	assert.True(t, progressive.IsInvalid(fe))
	assert.Equal(t, `steps[0]: bad (got "x")`, fe.Error())
}

// FuzzPlanValidate feeds arbitrary JSON plans to Validate: it must never panic, and
// a plan it accepts must survive a JSON round trip unchanged in verdict.
func FuzzPlanValidate(f *testing.F) {
	seed, _ := json.Marshal(validPlan())
	f.Add(seed)
	f.Add([]byte(`{"name":"x","target":{"name":"y"},"steps":[{"setWeight":{"weight":1e308}},{"analyze":{"duration":-1}}]}`))
	f.Add([]byte(`{"steps":[{"setFlag":{"flag":{"key":""},"percent":"NaN"}}],"checks":[{"min":1,"max":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p progressive.Plan
		if json.Unmarshal(data, &p) != nil {
			return
		}
		err := p.Validate()
		if err == nil {
			b, merr := json.Marshal(p)
			require.NoError(t, merr)
			var back progressive.Plan
			require.NoError(t, json.Unmarshal(b, &back))
			require.NoError(t, back.Validate())
		}
	})
}

// Two pre-promotion hooks both named "gate" (a notification and a smoke test):
// the runner remembers hooks by phase and name, so the second never ran and the
// rollout succeeded without it. Duplicate names are refused.
func TestDuplicateHookNamesAreRefused(t *testing.T) {
	p := validPlan()
	p.Hooks = []progressive.HookSpec{
		{Name: "gate", Phase: progressive.HookPrePromotion, URL: "https://notify.example.com/"},
		{Name: "gate", Phase: progressive.HookPrePromotion, URL: "https://smoke.example.com/"},
		{Name: "gate", Phase: progressive.HookOnRollback},
		{Name: "other", Phase: progressive.HookOnRollback},
	}
	got := fields(t, p.Validate())
	assert.Contains(t, got["hooks[1].name"], "already the name of hooks[0]")
	assert.Contains(t, got["hooks[2].name"], "already the name of hooks[0]")
	assert.NotContains(t, got, "hooks[3].name")
}

func TestUnknownStrategyNamesAreRefused(t *testing.T) {
	p := validPlan()
	p.Strategy = "canray"
	got := fields(t, p.Validate())
	assert.Contains(t, got["strategy"], "unknown strategy; the known strategies are canary, blue-green, rolling, ab-test, mirror, flag-rollout")
	p.Strategy = progressive.StrategyCanary
	assert.NoError(t, p.Validate())
	p.Strategy = ""
	assert.NoError(t, p.Validate(), "a plan built by hand names no strategy")
}

func TestReleaseValuesThatCannotBeLabelsOrImagesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		release progressive.Release
		field   string
	}{
		{progressive.Release{Version: `v2"}`}, "release.version"},
		{progressive.Release{Version: "v2 beta"}, "release.version"},
		{progressive.Release{Version: "-v2"}, "release.version"},
		{progressive.Release{Version: "v2", Image: "registry.example.com/app:v2 --privileged"}, "release.image"},
		{progressive.Release{Version: "v2", Image: "app:v2\n"}, "release.image"},
		{progressive.Release{Version: "v2", Image: "app:v2", Container: "App"}, "release.container"},
	} {
		p := validPlan()
		p.Release = tc.release
		assert.Contains(t, fields(t, p.Validate()), tc.field, "%+v", tc.release)
	}
	p := validPlan()
	p.Release = progressive.Release{Version: "v2.0.0-rc.1_build.7", Image: "registry.example.com:5000/team/app@sha256:0123abcd", Container: "app"}
	assert.NoError(t, p.Validate())
}

// Each of these passed Validate and failed only when a provider or the analysis
// met it, after traffic had moved, or could never roll back at all.
func TestLateFailuresAreCaughtByValidate(t *testing.T) {
	abPlan := func(m progressive.Match) progressive.Plan {
		p := validPlan()
		p.Steps[1] = progressive.Step{SetRoutes: &progressive.SetRoutesStep{Routes: progressive.Routes{StableWeight: 100, Matches: []progressive.Match{m}}}}
		return p
	}
	for _, tc := range []struct {
		name  string
		plan  progressive.Plan
		field string
		msg   string
	}{
		{"regex that does not compile", abPlan(progressive.Match{Kind: progressive.MatchHeader, Name: "x-user", Value: "(beta", Regex: true}), "steps[1].setRoutes.routes.matches[0].value", "RE2"},
		{"header name with CRLF", abPlan(progressive.Match{Kind: progressive.MatchHeader, Name: "x-user\r\nx-admin", Value: "1"}), "steps[1].setRoutes.routes.matches[0].name", "HTTP token"},
		{"header name with a space", abPlan(progressive.Match{Kind: progressive.MatchHeader, Name: "x user", Value: "1"}), "steps[1].setRoutes.routes.matches[0].name", "HTTP token"},
		{"header name with a colon", abPlan(progressive.Match{Kind: progressive.MatchHeader, Name: "x-user:", Value: "1"}), "steps[1].setRoutes.routes.matches[0].name", "HTTP token"},
		{"header value with LF", abPlan(progressive.Match{Kind: progressive.MatchHeader, Name: "x-user", Value: "a\nb"}), "steps[1].setRoutes.routes.matches[0].value", "control characters"},
		{"warn-only checks", func() progressive.Plan {
			p := validPlan()
			p.Checks[0].Severity = progressive.SeverityWarn
			return p
		}(), "steps[2].analyze.checks", "warn-only"},
		{"an infinite max", func() progressive.Plan {
			p := validPlan()
			p.Checks[0].Max = progressive.Float(math.Inf(1))
			return p
		}(), "checks[0].max", "finite"},
		{"flag key with a space", flagPlan("payment gateway", 10), "steps[0].setFlag.flag.key", "letters, digits"},
		{"flag percent finer than a thousandth", flagPlan("payment_gateway_v2", 12.3456), "steps[0].setFlag.percent", "multiple of 0.001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fields(t, tc.plan.Validate())
			require.Contains(t, got, tc.field, "%v", got)
			assert.Contains(t, got[tc.field], tc.msg)
		})
	}
	assert.NoError(t, flagPlan("payment_gateway_v2", 12.345).Validate())
}

func flagPlan(key string, percent float64) progressive.Plan {
	return progressive.Plan{
		Name:   "flag",
		Target: progressive.Target{Namespace: "production", Name: "payment-service"},
		Checks: []progressive.Check{errorCheck()},
		Steps: []progressive.Step{
			{SetFlag: &progressive.SetFlagStep{Flag: progressive.FlagRef{Key: key}, Variation: "on", Fallback: "off", Percent: percent}},
			{Analyze: &progressive.AnalyzeStep{Duration: time.Minute}},
		},
	}
}

func TestValidationNeverQuotesAWebhookSecret(t *testing.T) {
	p := validPlan()
	p.Hooks = []progressive.HookSpec{
		{Name: "a", Phase: progressive.HookPreRollout, URL: "ftp://user:hunter2@hooks.example.com/T000/B000/XXXXSECRET?token=abc123"},
		{Name: "b", Phase: progressive.HookPreRollout, URL: "https://user:hunter2@/T000/B000/XXXXSECRET?token=abc123"},
		{Name: "c", Phase: progressive.HookPreRollout, URL: "https://hooks.example.com/%zzXXXXSECRET?token=abc123"},
	}
	err := p.Validate()
	require.Error(t, err)
	got := fields(t, err)
	for _, f := range []string{"hooks[0].url", "hooks[1].url", "hooks[2].url"} {
		assert.Contains(t, got, f)
	}
	for _, secret := range []string{"hunter2", "XXXXSECRET", "abc123", "T000"} {
		assert.NotContains(t, err.Error(), secret)
	}
}

// Without limits a 1ns interval was a busy loop of queries and state writes, and
// a hook could wait a year; each limit names its field and the bound.
func TestLimits(t *testing.T) {
	p := validPlan()
	p.Checks[0].Interval = time.Nanosecond
	p.Checks[0].FailureLimit = progressive.MaxCountLimit + 1
	p.Steps[0].Deploy.Replicas = progressive.MaxReplicas + 1
	p.Steps[2].Analyze.Duration = progressive.MaxStepDuration + time.Hour
	p.Hooks = []progressive.HookSpec{{Name: "h", Phase: progressive.HookPreRollout, URL: "https://hooks.example.com/x", Timeout: 365 * 24 * time.Hour, Retries: 1000}}
	got := fields(t, p.Validate())
	for field, msg := range map[string]string{
		"checks[0].interval":        "busy loop",
		"checks[0].failureLimit":    "at most 10000",
		"steps[0].deploy.replicas":  "at most 100000",
		"steps[2].analyze.duration": "at most 2160h",
		"hooks[0].timeout":          "at most 1h",
		"hooks[0].retries":          "at most 10",
	} {
		assert.Contains(t, got[field], msg, field)
	}

	many := validPlan()
	for len(many.Steps) <= progressive.MaxSteps {
		many.Steps = append(many.Steps, progressive.Step{Pause: &progressive.PauseStep{Duration: time.Second}})
	}
	got = fields(t, many.Validate())
	assert.Contains(t, got["steps"], "at most 5000 steps")
	assert.Len(t, got, 1, "one problem, not five thousand")
}
