package strategy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
)

var (
	target  = progressive.Target{Namespace: "production", Name: "payment-service"}
	release = progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"}

	// The design document's rollback triggers: error rate > 1%, p95 latency > 500ms, and CPU > 80%
	// as a warning only.
	errorRate = progressive.Check{Name: "error-rate", Query: `sum(rate(http_requests_total{status=~"5.."}[1m]))`, Max: progressive.Float(1)}
	latency   = progressive.Check{Name: "latency-p95", Query: `histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[1m]))`, Max: progressive.Float(0.5)}
	cpu       = progressive.Check{Name: "cpu", Query: `avg(rate(container_cpu_usage_seconds_total[1m]))`, Max: progressive.Float(80), Severity: progressive.SeverityWarn}
	checks    = []progressive.Check{errorRate, latency, cpu}
)

const (
	D  = progressive.KindDeploy
	W  = progressive.KindSetWeight
	R  = progressive.KindSetRoutes
	SW = progressive.KindSwitch
	F  = progressive.KindSetFlag
	P  = progressive.KindPause
	A  = progressive.KindAnalyze
	AP = progressive.KindApproval
	H  = progressive.KindHook
	RO = progressive.KindRoll
	PR = progressive.KindPromote
	FI = progressive.KindFinalize
)

func kinds(p progressive.Plan) []progressive.StepKind {
	var k []progressive.StepKind
	for _, s := range p.Steps {
		k = append(k, s.Kind())
	}
	return k
}

func weights(p progressive.Plan) []float64 {
	var w []float64
	for _, s := range p.Steps {
		if s.SetWeight != nil {
			w = append(w, s.SetWeight.Weight)
		}
	}
	return w
}

func timed(p progressive.Plan) []time.Duration {
	var d []time.Duration
	for _, s := range p.Steps {
		switch {
		case s.Analyze != nil:
			d = append(d, s.Analyze.Duration)
		case s.Pause != nil:
			d = append(d, s.Pause.Duration)
		}
	}
	return d
}

func repeat[T any](v T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// requireValid asserts the strategy's contract for a plan that was built.
func requireValid(t *testing.T, s progressive.Strategy, p progressive.Plan, err error) {
	t.Helper()
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	assert.Equal(t, s.Name(), p.Strategy)
	assert.NotEmpty(t, p.Reason)
	assert.Equal(t, "production-payment-service-v2-0-0", p.Name)
	assert.Equal(t, target, p.Target)
	assert.Equal(t, release, p.Release)
	names := map[string]bool{}
	for _, st := range p.Steps {
		assert.NotEmpty(t, st.Name)
		assert.False(t, names[st.Name], "step name %q used twice", st.Name)
		names[st.Name] = true
	}
}

// problems asserts err is a *progressive.ValidationError wrapping ErrInvalid and
// returns its problems by field.
func problems(t *testing.T, err error) map[string]progressive.FieldError {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	var ve *progressive.ValidationError
	require.True(t, errors.As(err, &ve), "want a *progressive.ValidationError, got %T", err)
	m := map[string]progressive.FieldError{}
	for _, p := range ve.Problems {
		if _, dup := m[p.Field]; !dup {
			m[p.Field] = p
		}
	}
	return m
}

// badCase is one table row of invalid options.
type badCase struct {
	name     string
	strategy progressive.Strategy
	target   *progressive.Target
	release  *progressive.Release
	// fields maps each expected field path to its offending value (nil: no value).
	fields map[string]any
}

func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, rl := target, release
			if tc.target != nil {
				tg = *tc.target
			}
			if tc.release != nil {
				rl = *tc.release
			}
			p, err := tc.strategy.Plan(tg, rl)
			assert.Empty(t, p.Steps)
			got := problems(t, err)
			for f, want := range tc.fields {
				fe, ok := got[f]
				if assert.True(t, ok, "no problem at %s in:\n%v", f, err) && want != nil {
					assert.Equal(t, want, fe.Value, "value at %s", f)
				}
			}
		})
	}
}

var invalidCheck = progressive.Check{Name: "broken"} // no query, no threshold
