package strategy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

// strategies returns one zero value of each strategy struct, as pointers, so a
// test can fill, marshal and decode every one of them the same way.
func strategies() []any {
	return []any{&strategy.Canary{}, &strategy.BlueGreen{}, &strategy.Rolling{}, &strategy.FlagRollout{}, &strategy.ABTest{}, &strategy.Mirror{}}
}

var durationType = reflect.TypeFor[time.Duration]()

// durationKeys lists the JSON keys of ptr's time.Duration fields, read from
// the type, so a duration field added later is covered without editing the test.
func durationKeys(t *testing.T, ptr any) []string {
	t.Helper()
	typ := reflect.TypeOf(ptr).Elem()
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type == durationType {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			keys = append(keys, name)
		}
	}
	return keys
}

// setDurations sets every time.Duration field of the struct ptr points to.
func setDurations(ptr any, d time.Duration) {
	v := reflect.ValueOf(ptr).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Type == durationType {
			v.Field(i).SetInt(int64(d))
		}
	}
}

func fields(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

func TestStrategyDurationsMarshalAsStrings(t *testing.T) {
	want := map[string][]string{
		"*strategy.Canary":      {"soak", "approvalTimeout"},
		"*strategy.BlueGreen":   {"approvalTimeout", "monitor", "decommissionDelay"},
		"*strategy.Rolling":     {"pace", "readyTimeout"},
		"*strategy.FlagRollout": {"soak", "targetSoak"},
		"*strategy.ABTest":      {"duration"},
		"*strategy.Mirror":      {"duration"},
	}
	for _, s := range strategies() {
		name := reflect.TypeOf(s).String()
		t.Run(name, func(t *testing.T) {
			keys := durationKeys(t, s)
			assert.ElementsMatch(t, want[name], keys)
			setDurations(s, 15*time.Minute+30*time.Second)
			b, err := json.Marshal(s)
			require.NoError(t, err)
			got := fields(t, b)
			for _, k := range keys {
				assert.JSONEq(t, `"15m30s"`, string(got[k]), "%s in %s", k, b)
			}
		})
	}
}

func TestStrategyDurationsAreShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute:                 `"15m"`,
		2 * time.Hour:                    `"2h"`,
		90 * time.Second:                 `"1m30s"`,
		time.Hour + 30*time.Minute:       `"1h30m"`,
		-15 * time.Minute:                `"-15m"`,
		1500 * time.Millisecond:          `"1.5s"`,
		time.Hour + 500*time.Millisecond: `"1h0m0.5s"`,
		time.Duration(1):                 `"1ns"`,
	} {
		b, err := json.Marshal(strategy.Canary{Soak: d})
		require.NoError(t, err)
		assert.JSONEq(t, want, string(fields(t, b)["soak"]), "%v", d)
	}
	b, err := json.Marshal(strategy.Canary{})
	require.NoError(t, err)
	assert.NotContains(t, fields(t, b), "soak", "a zero soak stays omitted (omitempty): %s", b)
}

// TestStrategyOldIntegersLoad: states and files written before durations were
// strings hold nanoseconds, and must decode to the same values.
func TestStrategyOldIntegersLoad(t *testing.T) {
	for _, s := range strategies() {
		t.Run(reflect.TypeOf(s).String(), func(t *testing.T) {
			keys := durationKeys(t, s)
			var old bytes.Buffer
			old.WriteString(`{"replicas":3`)
			for _, k := range keys {
				old.WriteString(`,"` + k + `":900000000000`)
			}
			old.WriteString(`}`)
			require.NoError(t, json.Unmarshal(old.Bytes(), s))
			want := reflect.New(reflect.TypeOf(s).Elem()).Interface()
			setDurations(want, 15*time.Minute)
			if f := reflect.ValueOf(want).Elem().FieldByName("Replicas"); f.IsValid() {
				f.SetInt(3)
			}
			assert.Equal(t, want, s)
		})
	}
}

func TestCanaryFileWithIntegersAndStringsLoads(t *testing.T) {
	var c strategy.Canary
	require.NoError(t, json.Unmarshal([]byte(`{
		"weights": [5, 25, 50],
		"soak": 600000000000,
		"approvalTimeout": "1h30m",
		"promotionApproval": "release-manager",
		"checks": [{"name": "error-rate", "query": "rate(errors[1m]) < 5", "max": 1, "interval": 30000000000}]
	}`), &c))
	assert.Equal(t, strategy.Canary{
		Weights: []float64{5, 25, 50}, Soak: 10 * time.Minute, ApprovalTimeout: 90 * time.Minute, PromotionApproval: "release-manager",
		Checks: []progressive.Check{{Name: "error-rate", Query: "rate(errors[1m]) < 5", Max: progressive.Float(1), Interval: 30 * time.Second}},
	}, c)
}

func TestStrategyRoundTrip(t *testing.T) {
	hook := progressive.HookSpec{Name: "smoke", URL: "https://ci.example.com/smoke?a=1&b=2", Timeout: 2 * time.Minute}
	all := []any{
		&strategy.Canary{Weights: []float64{5, 50}, Soak: 15 * time.Minute, FullSoak: true, Checks: checks, Replicas: 2,
			PromotionApproval: "gate", ApprovalTimeout: time.Hour, Hooks: []progressive.HookSpec{hook}, OnInconclusive: progressive.HoldOnInconclusive},
		&strategy.BlueGreen{Replicas: 4, Migration: &hook, Validation: []progressive.HookSpec{hook}, ManualApproval: "ops",
			ApprovalTimeout: 30 * time.Minute, Monitor: 10 * time.Minute, Checks: checks, DecommissionDelay: 5 * time.Minute},
		&strategy.Rolling{Replicas: 10, BatchSize: 2, Pace: 45 * time.Second, ReadyTimeout: 3 * time.Minute, MaxSurge: 1, ReadinessBudget: 10, Checks: checks},
		&strategy.FlagRollout{Flag: progressive.FlagRef{Project: "shop", Key: "new-search"}, Variation: "on", Fallback: "off",
			Percentages: []float64{1, 10, 100}, Soak: 24 * time.Hour, Targets: []string{"alice"}, TargetSoak: time.Hour, TargetGate: "qa", Checks: checks},
		&strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-beta", Value: "1"}}, Duration: 2 * time.Hour, Checks: checks, Replicas: 1},
		&strategy.Mirror{Percent: 10, Duration: 20 * time.Minute, Checks: checks, Replicas: 1},
	}
	for _, s := range all {
		t.Run(reflect.TypeOf(s).String(), func(t *testing.T) {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			back := reflect.New(reflect.TypeOf(s).Elem()).Interface()
			require.NoError(t, json.Unmarshal(b, back), string(b))
			assert.Equal(t, s, back, string(b))
		})
	}
}

// TestStrategyJSONHasNoHTMLEscapes: an encoder told not to escape shows a query's
// < and a URL's & as written; json.Marshal still escapes them, as it does for
// any type.
func TestStrategyJSONHasNoHTMLEscapes(t *testing.T) {
	c := strategy.Canary{Soak: time.Minute, Checks: []progressive.Check{{Name: "latency", Query: `x < 5 && y > 1`, Max: progressive.Float(1)}},
		Hooks: []progressive.HookSpec{{Name: "smoke", URL: "https://ci.example.com/?a=1&b=2"}}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(c))
	assert.Contains(t, buf.String(), `x < 5 && y > 1`)
	assert.Contains(t, buf.String(), `?a=1&b=2`)
	assert.NotContains(t, buf.String(), `\u003c`)

	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.Contains(t, string(b), `x \u003c 5`)
}

func TestStrategyDecodeKeepsAbsentFields(t *testing.T) {
	r := strategy.Rolling{Replicas: 4, Pace: time.Minute, ReadyTimeout: 5 * time.Minute}
	require.NoError(t, json.Unmarshal([]byte(`{"pace":"2m","readyTimeout":null,"unknown":1}`), &r))
	assert.Equal(t, strategy.Rolling{Replicas: 4, Pace: 2 * time.Minute, ReadyTimeout: 5 * time.Minute}, r,
		"absent and null fields keep their values and unknown keys are ignored, as json.Unmarshal does")
}

func TestStrategyBadDurationsAreConfigurationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		target   any
		want     []string
	}{
		{"word", `{"soak":"fifteen minutes"}`, &strategy.Canary{}, []string{"canary: soak", `"fifteen minutes"`}},
		{"unitless string", `{"monitor":"15"}`, &strategy.BlueGreen{}, []string{"blueGreen: monitor", `"15"`}},
		{"fraction", `{"pace":1.5}`, &strategy.Rolling{}, []string{"rolling: pace", "1.5"}},
		{"exponent", `{"targetSoak":9e11}`, &strategy.FlagRollout{}, []string{"flagRollout: targetSoak", "9e11"}},
		{"bool", `{"duration":true}`, &strategy.ABTest{}, []string{"abTest: duration", "true"}},
		{"overflow", `{"duration":99999999999999999999}`, &strategy.Mirror{}, []string{"mirror: duration", "99999999999999999999"}},
		{"object", `{"approvalTimeout":{"minutes":5}}`, &strategy.Canary{}, []string{"canary: approvalTimeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := json.Unmarshal([]byte(tc.in), tc.target)
			require.Error(t, err)
			assert.True(t, errors.Is(err, progressive.ErrInvalid), "a bad duration is a configuration error: %v", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	err := json.Unmarshal([]byte(`{"replicas":"three"}`), &strategy.Rolling{})
	require.Error(t, err, "the other fields decode as before")
	assert.Contains(t, err.Error(), "rolling")
}

// FuzzStrategyDurationRoundTrip: any duration, negative and zero included,
// marshals to a string that time.ParseDuration reads back, and decodes to the
// same value, for every duration field of every strategy; its nanosecond
// integer decodes to the same value too.
func FuzzStrategyDurationRoundTrip(f *testing.F) {
	for _, d := range []int64{0, 1, -1, int64(15 * time.Minute), int64(-90 * time.Second), int64(time.Hour + 500*time.Millisecond), 1<<63 - 1, -1 << 63} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		for _, s := range strategies() {
			setDurations(s, d)
			b, err := json.Marshal(s)
			require.NoError(t, err)
			got := fields(t, b)
			for _, k := range durationKeys(t, s) {
				raw, ok := got[k]
				if d == 0 {
					assert.False(t, ok, "%s: zero is omitted", k)
					continue
				}
				var str string
				require.NoError(t, json.Unmarshal(raw, &str), "%s is a string: %s", k, raw)
				parsed, err := time.ParseDuration(str)
				require.NoError(t, err, str)
				require.Equal(t, d, parsed, str)
			}
			back := reflect.New(reflect.TypeOf(s).Elem()).Interface()
			require.NoError(t, json.Unmarshal(b, back), string(b))
			require.Equal(t, s, back, string(b))

			legacy := bytes.Buffer{}
			legacy.WriteString("{")
			for i, k := range durationKeys(t, s) {
				if i > 0 {
					legacy.WriteString(",")
				}
				legacy.WriteString(`"` + k + `":`)
				legacy.WriteString(strings.TrimSpace(string(mustJSON(t, n))))
			}
			legacy.WriteString("}")
			old := reflect.New(reflect.TypeOf(s).Elem()).Interface()
			require.NoError(t, json.Unmarshal(legacy.Bytes(), old), legacy.String())
			require.Equal(t, s, old, legacy.String())
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
