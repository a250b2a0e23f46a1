package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// weights lists the decisions that carry a canary weight or flag percentage,
// as "action=value".
func weights(rec rollout.DecisionRecord) (canary, flag []string) {
	for _, d := range rec.Decisions {
		if d.CanaryWeight != nil {
			canary = append(canary, d.Action+"="+fmtFloat(*d.CanaryWeight))
		}
		if d.FlagPercent != nil {
			flag = append(flag, d.Action+"="+fmtFloat(*d.FlagPercent))
		}
	}
	return canary, flag
}

func fmtFloat(v float64) string { b, _ := json.Marshal(v); return string(b) }

func TestDecisionsCarryTheWeightTheyLeft(t *testing.T) {
	canary := func(t *testing.T) progressive.Plan {
		return mustPlan(t, strategy.Canary{Weights: []float64{5, 25, 60}, Soak: 5 * time.Minute, Replicas: 1, Checks: seedChecks()})
	}
	t.Run("canary promoted", func(t *testing.T) {
		w := newWorld(t)
		var routed []string
		w.obs = append(w.obs, rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			if e.Type == rollout.EventRoutesChanged && e.Routes != nil {
				routed = append(routed, fmtFloat(e.Routes.CanaryWeight))
			}
		}))
		st := w.execute(canary(t))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		c, f := weights(st.Record)
		assert.Equal(t, []string{"route=5", "route=25", "route=60", "finalize=0"}, c)
		assert.Empty(t, f)
		require.Len(t, routed, len(c), "one weight per change the router reported")
		for i := range c {
			assert.Equal(t, c[i][len(c[i])-len(routed[i]):], routed[i], "the record's weight is the router's")
		}
	})
	t.Run("canary rolled back", func(t *testing.T) {
		w := newWorld(t)
		w.inject(sim.ErrorRateSet, progressive.Canary, 6, 8*time.Minute)
		st := w.execute(canary(t))
		require.Equal(t, rollout.PhaseRolledBack, st.Phase, "%+v", st.Record.Decisions)
		c, f := weights(st.Record)
		require.NotEmpty(t, c)
		assert.Equal(t, "rolled-back=0", c[len(c)-1], "the rollback leaves no request on the canary: %v", c)
		assert.Empty(t, f)
		for _, d := range decisions(st, "rollback") {
			assert.Nil(t, d.CanaryWeight, "deciding to roll back moves no traffic yet")
		}
	})
	t.Run("flag rollout rolled back", func(t *testing.T) {
		w := newWorld(t)
		w.bindFlag()
		w.inject(sim.ErrorRateSet, "", 4, 30*time.Hour)
		st := w.execute(flagPlan(t))
		require.Equal(t, rollout.PhaseRolledBack, st.Phase, "%+v", st.Record.Decisions)
		c, f := weights(st.Record)
		assert.Empty(t, c, "a flag rollout moves no route")
		assert.Equal(t, []string{"flag=1", "flag=10", "rolled-back=0"}, f)
	})
	t.Run("targeted flag rollout", func(t *testing.T) {
		w := targetedFlagWorld(t)
		st := w.execute(targetedFlagPlan(t))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		_, f := weights(st.Record)
		assert.Equal(t, []string{"flag=0", "flag=10", "flag=100"}, f, "the targets' step serves everyone else 0%%, whatever its sentence says")
	})
}

func TestRecordCarriesItsChecksAsValues(t *testing.T) {
	plan := mustPlan(t, strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: seedChecks()})
	// A step of its own checks: a stricter error rate (same name, the plan's
	// wins) and one only this step measures.
	plan.Steps[2].Analyze.Checks = []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(0.5)},
		{Name: "saturation", Query: "cpu", Min: progressive.Float(0), Max: progressive.Float(0.9), Interval: 30 * time.Second, Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}},
	}
	require.NotNil(t, plan.Steps[2].Analyze, "the plan's first analysis")
	r := newWorld(t).runner()
	st, err := r.Start(context.Background(), plan)
	require.NoError(t, err)

	specs := st.Record.Solution.CheckSpecs
	require.Len(t, specs, 4)
	var names []string
	for _, c := range specs {
		names = append(names, c.Name)
		assert.Equal(t, c.WithDefaults(), c, "%s: recorded with the defaults that applied", c.Name)
	}
	assert.Equal(t, []string{"error-rate", "latency-p95", "cpu", "saturation"}, names)
	assert.Equal(t, 1.0, *specs[0].Max, "the plan's error-rate check comes first")
	assert.Equal(t, progressive.SeverityWarn, specs[2].Severity)
	assert.Equal(t, 30*time.Second, specs[3].Interval)
	assert.Equal(t, progressive.BaselineRatio, specs[3].Baseline.Mode)
	assert.Len(t, st.Record.Solution.Checks, 3, "the sentences still describe the plan's checks")
}

// TestRecordJSON: a record goes through JSON and back unchanged, its new
// fields included, and reads as people write: durations as strings, queries
// without HTML escapes when the encoder is told so (as document.Encode and
// the CLI do).
func TestRecordJSON(t *testing.T) {
	w := newWorld(t)
	st := w.execute(mustPlan(t, strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: seedChecks()}))
	require.Equal(t, rollout.PhaseSucceeded, st.Phase)
	rec := w.record(st.ID)
	// The simulator knows its series by name only; a query as people write
	// them has comparisons in it.
	rec.Solution.CheckSpecs[0].Query = `error_rate > 0 or vector(0) < 100`

	b, err := json.Marshal(rec)
	require.NoError(t, err)
	var back rollout.DecisionRecord
	require.NoError(t, json.Unmarshal(b, &back))
	again, err := json.Marshal(back)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(again))
	assert.Equal(t, rec.Solution.CheckSpecs, back.Solution.CheckSpecs)
	assert.Equal(t, rec.Decisions, back.Decisions)

	// The solution's checks add no escapes of their own to an encoder told
	// not to escape (a measurement's reason still does: document.Encode
	// undoes those).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(rec.Solution))
	assert.Contains(t, buf.String(), `"query":"error_rate > 0 or vector(0) < 100"`)

	out, err := document.Encode(rec, document.JSON)
	require.NoError(t, err)
	text := string(out)
	assert.Contains(t, text, `"query": "error_rate > 0 or vector(0) < 100"`)
	assert.NotContains(t, text, `\u003c`)
	assert.NotContains(t, text, `\u003e`)
	assert.Contains(t, text, `"interval": "1m0s"`)
	assert.Contains(t, text, `"canaryWeight": 50`)
	assert.Contains(t, text, `"canaryWeight": 0`, "the finalize's zero is written, not omitted")
	assert.NotContains(t, text, `60000000000`, "no duration in nanoseconds")
}

// TestRecordFromBeforeTheFieldsLoads: a record stored before decisions and
// the solution carried values decodes with the new fields empty.
func TestRecordFromBeforeTheFieldsLoads(t *testing.T) {
	old := `{"id":"r","context":{"service":"shop/checkout","strategy":"canary","release":{"version":"v2"}},
		"solution":{"steps":["deploy"],"providers":{},"checks":["error-rate <= 1 every 1m, fails after 1 failed measurement(s)"]},
		"observations":[],"decisions":[{"time":"2026-11-26T09:00:00Z","step":1,"action":"route","reason":"routes set: 90% stable / 10% canary"}],
		"learning":[],"impact":{"outcome":"in-progress","startedAt":"2026-11-26T09:00:00Z","duration":"0s","rolledBack":false,"maxCanaryWeight":10,"stepsCompleted":1,"measurements":0}}`
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(old), &rec))
	require.Len(t, rec.Decisions, 1)
	assert.Nil(t, rec.Decisions[0].CanaryWeight)
	assert.Nil(t, rec.Decisions[0].FlagPercent)
	assert.Empty(t, rec.Solution.CheckSpecs)
	assert.Equal(t, "routes set: 90% stable / 10% canary", rec.Decisions[0].Reason)
}
