package rollout

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dur(d time.Duration) *Duration { v := Duration(d); return &v }

func TestAggregate(t *testing.T) {
	rec := func(service, strategy string, outcome Outcome, ttd, ttr time.Duration) DecisionRecord {
		r := DecisionRecord{Context: RecordContext{Service: service, Strategy: strategy}, Impact: Impact{Outcome: outcome, Duration: Duration(time.Hour)}}
		if ttd > 0 {
			r.Impact.TimeToDetect, r.Impact.TimeToRecover = dur(ttd), dur(ttr)
		}
		return r
	}
	records := []DecisionRecord{
		rec("prod/payments", "canary", OutcomePromoted, 0, 0),
		rec("prod/payments", "canary", OutcomeRolledBack, 2*time.Minute, 3*time.Minute),
		rec("prod/payments", "canary", OutcomeRolledBack, 4*time.Minute, 5*time.Minute),
		rec("prod/payments", "canary", OutcomePromoted, 0, 0),
		rec("prod/orders", "blue-green", OutcomeAborted, 0, 0),
		rec("prod/orders", "blue-green", OutcomeInProgress, 0, 0),
	}
	sums := Aggregate(records)
	require.Len(t, sums, 3)
	orders, payments, all := sums[0], sums[1], sums[2]

	assert.Equal(t, "prod/payments", payments.Service)
	assert.Equal(t, 4, payments.Rollouts)
	assert.InDelta(t, 0.5, payments.RollbackRate, 1e-12)
	assert.Equal(t, Duration(3*time.Minute), payments.MeanTimeToDetect)
	assert.Equal(t, Duration(4*time.Minute), payments.MeanTimeToRecover)

	assert.Equal(t, "prod/orders", orders.Service)
	assert.Equal(t, 1, orders.InProgress)
	assert.InDelta(t, 1.0, orders.RollbackRate, 1e-12, "an abort counts as a rollback; in-progress rollouts do not count")
	assert.Equal(t, Duration(0), orders.MeanTimeToDetect)

	assert.Equal(t, "*", all.Service)
	assert.Equal(t, 6, all.Rollouts)
	assert.InDelta(t, 3.0/5.0, all.RollbackRate, 1e-12)
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(Impact{Duration: Duration(90 * time.Minute), TimeToDetect: dur(90 * time.Second)})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"duration":"1h30m0s"`)
	var back Impact
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, Duration(90*time.Minute), back.Duration)
	require.NotNil(t, back.TimeToDetect)
	assert.Equal(t, Duration(90*time.Second), *back.TimeToDetect)
	var bad Duration
	assert.Error(t, json.Unmarshal([]byte(`"soon"`), &bad))
}
