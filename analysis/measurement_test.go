package analysis_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestMeasurementJSON(t *testing.T) {
	cases := []struct {
		name string
		m    analysis.Measurement
		want string
	}{
		{
			name: "finite",
			m: analysis.Measurement{
				Check: "latency", Time: at(1), Query: "p99", Status: progressive.StatusValue, Value: 130,
				Baseline: progressive.Float(100), Compared: progressive.Float(1.3),
				Outcome: analysis.OutcomeFail, Severity: progressive.SeverityFail, Reason: "latency ratio 1.3 > max 1.2",
				Details: map[string]float64{"p": 0.01},
			},
			want: `{"check":"latency","time":"2026-03-01T12:01:00Z","query":"p99","status":"value","value":130,
				"baseline":100,"compared":1.3,"outcome":"fail","severity":"fail","reason":"latency ratio 1.3 > max 1.2","details":{"p":0.01}}`,
		},
		{
			name: "non-finite",
			m: analysis.Measurement{
				Check: "c", Time: at(0), Status: progressive.StatusValue, Value: math.Inf(1),
				Baseline: progressive.Float(0), Compared: progressive.Float(math.Inf(-1)),
				Outcome: analysis.OutcomeFail, Details: map[string]float64{"nan": math.NaN(), "inf": math.Inf(1)},
			},
			want: `{"check":"c","time":"2026-03-01T12:00:00Z","status":"value","value":"+Inf","baseline":0,"compared":"-Inf",
				"outcome":"fail","details":{"nan":"NaN","inf":"+Inf"}}`,
		},
		{
			name: "no value",
			m:    analysis.Measurement{Check: "c", Time: at(0), Value: math.NaN(), Outcome: analysis.OutcomeInconclusive, Error: "boom", Reason: "backend unreachable: boom"},
			want: `{"check":"c","time":"2026-03-01T12:00:00Z","value":"NaN","outcome":"inconclusive","reason":"backend unreachable: boom","error":"boom"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.m)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(b))

			var back analysis.Measurement
			require.NoError(t, json.Unmarshal(b, &back))
			again, err := json.Marshal(back)
			require.NoError(t, err)
			assert.JSONEq(t, string(b), string(again), "round trip")
		})
	}

	t.Run("reads NaN and Inf back", func(t *testing.T) {
		var m analysis.Measurement
		require.NoError(t, json.Unmarshal([]byte(`{"check":"c","value":"NaN","compared":"Inf","details":{"x":"-Inf","y":2}}`), &m))
		assert.True(t, math.IsNaN(m.Value))
		assert.True(t, math.IsInf(*m.Compared, 1))
		assert.True(t, math.IsInf(m.Details["x"], -1))
		assert.Equal(t, 2.0, m.Details["y"])
		assert.Nil(t, m.Baseline)

		var missing analysis.Measurement
		require.NoError(t, json.Unmarshal([]byte(`{"check":"c"}`), &missing))
		assert.True(t, math.IsNaN(missing.Value), "a missing value is not a zero")

		assert.Error(t, json.Unmarshal([]byte(`{"value":"lots"}`), &m))
	})

	t.Run("inside other values", func(t *testing.T) {
		res := analysis.TickResult{Verdict: analysis.VerdictRunning, Measurements: []analysis.Measurement{{Check: "c", Value: math.NaN()}}}
		b, err := json.Marshal(res)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"value":"NaN"`)
		var ptr = &res.Measurements[0]
		_, err = json.Marshal(ptr)
		require.NoError(t, err)
	})
}
