package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
)

func TestParsePath(t *testing.T) {
	steps, err := parsePath(`spec.checks[0].interval`)
	require.NoError(t, err)
	assert.Equal(t, []pathStep{{key: "spec", index: -1}, {key: "checks", index: -1}, {index: 0}, {key: "interval", index: -1}}, steps)
	steps, err = parsePath(`metadata.labels.app\.kubernetes\.io/name`)
	require.NoError(t, err)
	assert.Equal(t, "app.kubernetes.io/name", steps[2].key)
	steps, err = parsePath(`a[1][2]`)
	require.NoError(t, err)
	assert.Equal(t, []pathStep{{key: "a", index: -1}, {index: 1}, {index: 2}}, steps)
	for _, bad := range []string{"", ".a", "a..b", "a.", "a[", "a[x]", "a[-1]", "[0]", "a[0]b"} {
		_, err := parsePath(bad)
		assert.Error(t, err, bad)
	}
}

// explainJSON explains doc with the flags and decodes the plan it prints.
func explainJSON(t *testing.T, c *cli, doc string, flags ...string) progressive.Plan {
	t.Helper()
	r := c.run(append(append([]string{"explain", "-o", "json"}, flags...), doc)...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var plan progressive.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &plan))
	return plan
}

func TestSetOverridesFieldsBeforeTheDocumentIsRead(t *testing.T) {
	c := newCLI(t)
	doc := seedDocuments(t)["payment-service"]
	plan := explainJSON(t, c, doc,
		"--set", "spec.release.version=v2.0.1",
		"--set", "spec.release.image=registry.example.com/payment-service:v2.0.1",
		"--set", "spec.target.namespace=staging",
		"--set", "spec.strategy.canary.soak=3s",
		"--set", "spec.checks[0].interval=500ms",
		"--set", "spec.checks[1].max=250",
		"--set", "spec.strategy.canary.weights=[20, 100]",
		"--set-string", "metadata.labels.build=1234",
		"--set", "metadata.labels.build=ignored-then-overridden",
		"--set-string", "metadata.labels.build=0042",
	)
	assert.Equal(t, "v2.0.1", plan.Release.Version)
	assert.Equal(t, "registry.example.com/payment-service:v2.0.1", plan.Release.Image)
	assert.Equal(t, "staging", plan.Target.Namespace)
	assert.Equal(t, 500*time.Millisecond, plan.Checks[0].Interval)
	require.NotNil(t, plan.Checks[1].Max)
	assert.Equal(t, 250.0, *plan.Checks[1].Max)
	var weights []float64
	var soaks []time.Duration
	for _, st := range plan.Steps {
		if st.SetWeight != nil {
			weights = append(weights, st.SetWeight.Weight)
		}
		if st.Analyze != nil {
			soaks = append(soaks, st.Analyze.Duration)
		}
	}
	assert.Equal(t, []float64{20}, weights, "the last weight is the promotion")
	require.NotEmpty(t, soaks)
	assert.Equal(t, 3*time.Second, soaks[0])

	// A check appended at the end of the list.
	plan = explainJSON(t, c, doc, "--set", "spec.checks[3]={name: saturation, query: saturation, max: 90}")
	require.Len(t, plan.Checks, 4)
	assert.Equal(t, "saturation", plan.Checks[3].Name)
}

func TestSetProblemsNameTheFlagOrTheField(t *testing.T) {
	c := newCLI(t)
	doc := seedDocuments(t)["payment-service"]

	// A path the schema does not have is an unknown field, as in the file.
	r := c.run("validate", "--set", "spec.strategy.canary.soaking=3s", doc)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stdout, "spec.strategy.canary.soaking: unknown field")
	assert.Contains(t, r.stdout, "(from --set spec.strategy.canary.soaking=3s)")

	// A value of the wrong kind names the field and the flag.
	r = c.run("run", "--sim", "--state-dir", t.TempDir(), "--set", "spec.strategy.canary.soak=soon", doc)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "spec.strategy.canary.soak")
	assert.Contains(t, r.stderr, "(from --set spec.strategy.canary.soak=soon)")

	// Problems the flags did not cause keep the line of the file.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(mustRead(t, "testdata/invalid.yaml")), 0o644))
	r = c.run("validate", "--set", "spec.release.version=v9", bad)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stdout, "line 11, column 13: spec.strategy.canary.soak")
	assert.Contains(t, r.stdout, `line 15, column 7: spec.checks[0].maximum: unknown field`)

	for _, tc := range []struct{ args []string }{
		{[]string{"--set", "spec.release.version"}},
		{[]string{"--set", "=v2"}},
		{[]string{"--set", "spec..version=v2"}},
		{[]string{"--set", "spec.checks[x].max=1"}},
		{[]string{"--set-string", "spec.checks[0=1"}},
	} {
		r := c.run(append(append([]string{"explain"}, tc.args...), doc)...)
		assert.Equal(t, ExitInvalid, r.code, tc.args)
		assert.Contains(t, r.stderr, "-"+tc.args[0][2:], tc.args)
		assert.Contains(t, r.stderr, tc.args[1], tc.args)
	}
	for _, tc := range []struct{ set, want string }{
		{"spec.checks[7].max=1", "spec.checks has 3 item(s): index 7 leaves a gap (index 3 appends)"},
		{"spec.target.name.first=x", `spec.target.name is the value "payment-service", not a mapping with key "first"`},
		{"spec.target[0]=x", "spec.target is a mapping, not a list"},
		{"spec.strategy.canary.weights=[10, 50", `value "[10, 50" is not a YAML flow list or map`},
	} {
		r := c.run("explain", "--set", tc.set, doc)
		assert.Equal(t, ExitInvalid, r.code, tc.set)
		assert.Contains(t, r.stderr, `flag --set "`+tc.set+`"`, tc.set)
		assert.Contains(t, r.stderr, tc.want, tc.set)
	}
}
