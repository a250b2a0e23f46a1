package progressive_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
)

// durationPlan holds every duration field of a plan.
func durationPlan() progressive.Plan {
	return progressive.Plan{
		Name:   "p",
		Target: progressive.Target{Name: "s"},
		Checks: []progressive.Check{{Name: "e", Query: "rate(x[1m]) < 1", Max: progressive.Float(1),
			Interval: time.Minute, InitialDelay: 30 * time.Second, Window: 2 * time.Minute, WarmUp: -1}},
		Hooks: []progressive.HookSpec{{Name: "h", Phase: progressive.HookOnRollback, URL: "https://x.example", Timeout: 5 * time.Second}},
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 1, ReadyTimeout: 10 * time.Minute}},
			{Pause: &progressive.PauseStep{Duration: 90 * time.Second}},
			{Analyze: &progressive.AnalyzeStep{Duration: 15 * time.Minute}},
			{Approval: &progressive.ApprovalStep{Gate: "g", Timeout: time.Hour}},
			{Roll: &progressive.RollStep{Updated: 1, Params: progressive.RollingParams{MaxSurge: 1}, ReadyTimeout: time.Minute}},
			{Promote: &progressive.PromoteStep{ReadyTimeout: 3 * time.Minute}},
			{Hook: &progressive.HookStep{Hook: progressive.HookSpec{Name: "smoke", Timeout: time.Second}}},
		},
	}
}

func TestDurationsMarshalAsStrings(t *testing.T) {
	b, err := json.Marshal(durationPlan())
	require.NoError(t, err)
	s := string(b)
	for _, want := range []string{
		`"interval":"1m0s"`, `"initialDelay":"30s"`, `"window":"2m0s"`, `"warmUp":"-1ns"`,
		`"timeout":"5s"`, `"readyTimeout":"10m0s"`, `"duration":"1m30s"`, `"duration":"15m0s"`,
		`"timeout":"1h0m0s"`, `"readyTimeout":"3m0s"`, `"timeout":"1s"`,
	} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, "900000000000", "no nanosecond integers")
	assert.NotContains(t, s, `"readyTimeout":"0s"`, "zero optional durations stay omitted")

	got, err := progressive.DecodePlan(b)
	require.NoError(t, err)
	assert.Equal(t, durationPlan(), got, "what Marshal writes, DecodePlan reads back")
}

// TestDurationsReadStoredIntegers: states stored before durations were strings
// hold nanoseconds; they must still load, to the same plan.
func TestDurationsReadStoredIntegers(t *testing.T) {
	old := `{"name":"p","target":{"name":"s"},
 "checks":[{"name":"e","query":"rate(x[1m]) < 1","max":1,"interval":60000000000,"initialDelay":30000000000,"window":120000000000,"warmUp":-1}],
 "hooks":[{"name":"h","phase":"on-rollback","url":"https://x.example","timeout":5000000000}],
 "steps":[{"deploy":{"replicas":1,"readyTimeout":600000000000}},{"pause":{"duration":90000000000}},
  {"analyze":{"duration":900000000000}},{"approval":{"gate":"g","timeout":3600000000000}},
  {"roll":{"updated":1,"params":{"maxSurge":1,"maxUnavailable":0},"readinessBudget":0,"readyTimeout":60000000000}},
  {"promote":{"readyTimeout":180000000000}},{"hook":{"hook":{"name":"smoke","timeout":1000000000}}}]}`
	got, err := progressive.DecodePlan([]byte(old))
	require.NoError(t, err)
	assert.Equal(t, durationPlan(), got)
}

func TestDurationsRefuseWhatIsNoDuration(t *testing.T) {
	for doc, field := range map[string]string{
		`{"name":"p","steps":[{"pause":{"duration":"soon"}}]}`:             "pause: duration",
		`{"name":"p","steps":[{"pause":{"duration":1.5}}]}`:                "pause: duration",
		`{"name":"p","steps":[{"analyze":{"duration":1e30}}]}`:             "analyze: duration",
		`{"name":"p","checks":[{"name":"e","query":"q","interval":true}]}`: "check: interval",
		`{"name":"p","hooks":[{"name":"h","timeout":"5 s"}]}`:              "hook: timeout",
		`{"name":"p","steps":[{"pause":{"duration":"1m","extra":1}}]}`:     `unknown field "extra"`,
	} {
		_, err := progressive.DecodePlan([]byte(doc))
		require.Error(t, err, doc)
		assert.ErrorIs(t, err, progressive.ErrInvalid, doc)
		assert.Contains(t, err.Error(), field, doc)
		assert.Equal(t, 1, strings.Count(err.Error(), progressive.ErrInvalid.Error()), "wrapped once: %v", err)
	}
}
