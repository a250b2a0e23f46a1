package timeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/timeline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func weightOf(v float64) *float64 { return &v }

// structuredRecord is rolledBack() as the runner writes it now: each route,
// and the rollback's end, carry the weight they left, and the solution its
// checks as values.
func structuredRecord() rollout.DecisionRecord {
	rec := rolledBack()
	rec.Solution.CheckSpecs = []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
		{Name: "latency", Query: "latency_p95", Max: progressive.Float(1.2), Interval: time.Minute, Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}},
	}
	for i, d := range rec.Decisions {
		switch {
		case d.Action == "route" && d.Time.Equal(at(0)):
			rec.Decisions[i].CanaryWeight = weightOf(10)
		case d.Action == "route":
			rec.Decisions[i].CanaryWeight = weightOf(50)
		case d.Action == "rolled-back":
			rec.Decisions[i].CanaryWeight = weightOf(0)
		}
	}
	return rec
}

// reword gives every sentence of rec other words, some with numbers that
// contradict its values, as a later version of the runner might write them.
func reword(rec rollout.DecisionRecord) rollout.DecisionRecord {
	rec.Decisions = append([]rollout.Decision(nil), rec.Decisions...)
	for i := range rec.Decisions {
		rec.Decisions[i].Reason = "traffic now 99% stable / 1% canary, serving \"on\" to 42% of users (reworded)"
	}
	rec.Solution.Checks = []string{
		"error-rate <= 7 every 1m (reworded)",
		"latency >= 3 and <= 9 every 1m (reworded)",
	}
	return rec
}

func levelsAndBounds(t *testing.T, rec rollout.DecisionRecord) (string, []string) {
	t.Helper()
	svg, _ := render(t, rec, timeline.Options{})
	w := svg.all("path", "series", "weight")
	require.Len(t, w, 1)
	var bounds []string
	for _, th := range svg.all("line", "threshold") {
		bounds = append(bounds, th.Attrs["data-kind"]+" "+th.Attrs["data-value"])
	}
	return w[0].Attrs["data-levels"], bounds
}

// TestRewordedRecordDrawsFromItsFields: a record whose sentences say other
// things draws the weights and bounds its fields hold: the picture no longer
// depends on the runner's wording.
func TestRewordedRecordDrawsFromItsFields(t *testing.T) {
	const want = "2026-11-26T09:00:00Z=10 2026-11-26T09:15:00Z=50 2026-11-26T09:21:00Z=0"
	levels, bounds := levelsAndBounds(t, structuredRecord())
	assert.Equal(t, want, levels)
	assert.Equal(t, []string{"max 1", "max 1.2"}, bounds)

	levels, bounds = levelsAndBounds(t, reword(structuredRecord()))
	assert.Equal(t, want, levels, "the weights are the decisions' values, not their sentences'")
	assert.Equal(t, []string{"max 1", "max 1.2"}, bounds, "the bounds are the checks', not their descriptions'")

	// The same sentences without the values are read as an old record is:
	// the contradicting numbers show, which is what the fields prevent.
	old := reword(rolledBack())
	levels, bounds = levelsAndBounds(t, old)
	assert.NotEqual(t, want, levels)
	assert.Equal(t, []string{"max 7", "min 3", "max 9"}, bounds)
}

func TestStructuredChecksOrderAndMarkThePanels(t *testing.T) {
	rec := structuredRecord()
	rec.Solution.Checks = nil
	// The solution lists latency first now; the panels follow it.
	rec.Solution.CheckSpecs[0], rec.Solution.CheckSpecs[1] = rec.Solution.CheckSpecs[1], rec.Solution.CheckSpecs[0]
	svg, _ := render(t, rec, timeline.Options{})
	var order []string
	for _, s := range svg.all("path", "series", "canary") {
		order = append(order, s.Attrs["data-check"])
	}
	assert.Equal(t, []string{"latency", "error-rate"}, order)

	// A warn-only check is marked from its spec even when its measurements
	// do not say so; an infinite bound is not drawn.
	rec = structuredRecord()
	rec.Solution.CheckSpecs[0].Severity = progressive.SeverityWarn
	rec.Solution.CheckSpecs[0].Min = progressive.Float(-1 / zero())
	_, plain := render(t, structuredRecord(), timeline.Options{})
	_, warn := render(t, rec, timeline.Options{})
	assert.NotEqual(t, plain, warn)
	assert.Contains(t, warn, "warning only")
	_, bounds := levelsAndBounds(t, rec)
	assert.Equal(t, []string{"max 1", "max 1.2"}, bounds)
}

func zero() float64 { return 0 }

func TestStructuredFlagExposure(t *testing.T) {
	rec := rollout.DecisionRecord{
		Decisions: []rollout.Decision{
			{Time: at(0), Action: "flag", Reason: `flag ld/search serves "on" to beta-testers, and to 0% of everyone else`, FlagPercent: weightOf(0)},
			{Time: at(30), Action: "flag", Reason: `flag ld/search serves "on" to beta-testers, and to 5% of everyone else`, FlagPercent: weightOf(5)},
			{Time: at(60), Action: "flag", Reason: "reworded", FlagPercent: weightOf(25)},
			{Time: at(90), Action: "rolled-back", Reason: "everything is back on stable", FlagPercent: weightOf(0)},
		},
		Impact: rollout.Impact{StartedAt: at(0), FinishedAt: at(90)},
	}
	svg, _ := render(t, rec, timeline.Options{})
	w := svg.all("path", "series", "weight")
	require.Len(t, w, 1)
	assert.Equal(t, "2026-11-26T09:00:00Z=0 2026-11-26T09:30:00Z=5 2026-11-26T10:00:00Z=25 2026-11-26T10:30:00Z=0", w[0].Attrs["data-levels"],
		"the targeted steps' sentences have no \"% of users\" to read; their values draw")
	assert.Contains(t, svg.all("g", "panel")[0].all("text", "panel-title")[0].Text, "flag exposure")
}

// TestMixedRecordDraws: a rollout that began under an older runner and
// finished under this one has decisions with and without values.
func TestMixedRecordDraws(t *testing.T) {
	rec := rolledBack()
	rec.Decisions[3].CanaryWeight = weightOf(50) // the second route, written by the newer runner
	rec.Decisions[3].Reason = "reworded"
	rec.Decisions[5].CanaryWeight = weightOf(0)
	levels, _ := levelsAndBounds(t, rec)
	assert.Equal(t, "2026-11-26T09:00:00Z=10 2026-11-26T09:15:00Z=50 2026-11-26T09:21:00Z=0", levels)
}

// TestOldRecordStillDraws: testdata/record-before-fields.json is a record a
// real runner stored before decisions carried weights and the solution its
// checks (a canary at 5% then 25%, rolled back by its error rate), read back
// from the sentences as before.
func TestOldRecordStillDraws(t *testing.T) {
	b, err := os.ReadFile("testdata/record-before-fields.json")
	require.NoError(t, err)
	require.NotContains(t, string(b), "canaryWeight")
	require.NotContains(t, string(b), "checkSpecs")
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal(b, &rec))
	require.Equal(t, rollout.OutcomeRolledBack, rec.Impact.Outcome)

	levels, bounds := levelsAndBounds(t, rec)
	assert.Equal(t, "2026-11-26T09:00:00Z=5 2026-11-26T09:05:00Z=25 2026-11-26T09:08:00Z=0", levels)
	assert.Equal(t, []string{"max 1", "min 95"}, bounds)
	svg, _ := render(t, rec, timeline.Options{})
	assert.Len(t, svg.all("g", "decision"), len(rec.Decisions))
	var order []string
	for _, s := range svg.all("path", "series", "canary") {
		order = append(order, s.Attrs["data-check"])
	}
	assert.Equal(t, []string{"error-rate", "success-rate"}, order)
}

// TestStructuredRecordSurvivesJSON: a record through JSON and back draws the
// same picture, byte for byte.
func TestStructuredRecordSurvivesJSON(t *testing.T) {
	rec := structuredRecord()
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"canaryWeight":0`, "a zero weight is a value, not an absence")
	assert.Contains(t, string(b), `"interval":"1m0s"`)
	var back rollout.DecisionRecord
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, rec.Decisions, back.Decisions)
	assert.Equal(t, rec.Solution.CheckSpecs, back.Solution.CheckSpecs)

	var want, got bytes.Buffer
	require.NoError(t, timeline.SVG(&want, rec, timeline.Options{}))
	require.NoError(t, timeline.SVG(&got, back, timeline.Options{}))
	assert.Equal(t, want.String(), got.String())
}
