package livecanary_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/rollout"
)

// BenchmarkAPIRequestsPerTick drives a healthy canary (10% to 50%, 10 s soaks,
// 10 s checks) on the real control plane and Prometheus, and reports the API
// requests its driver made per advancing tick (an analysis passed, the next
// weight set, the next analysis begun) and per idle tick (a measurement in
// the same step), counted at the client; Lease renewals and Events are apart.
// One iteration takes about 80 s:
//
//	go test ./internal/livecanary -run '^$' -bench APIRequestsPerTick -benchtime 1x
func BenchmarkAPIRequestsPerTick(b *testing.B) {
	var adv, advWrites, idle, idleWrites, nAdv, nIdle, lease float64
	for i := range b.N {
		ctx, c := prepare(b, livecanary.Scenario{Name: "bench-" + string(rune('a'+i%26)), Canary: livecanary.Healthy})
		res, err := c.Drive(ctx)
		require.NoError(b, err)
		require.Equal(b, rollout.PhaseSucceeded, res.State.Phase)
		for _, t := range res.Ticks {
			switch {
			case t.Advancing():
				nAdv++
				adv += float64(t.Counts.Requests())
				advWrites += float64(t.Counts.Writes)
			case t.Idle():
				nIdle++
				idle += float64(t.Counts.Requests())
				idleWrites += float64(t.Counts.Writes)
			}
			lease += float64(t.Counts.Lease)
		}
	}
	require.Positive(b, nAdv, "no advancing tick was seen")
	require.Positive(b, nIdle, "no idle tick was seen")
	b.ReportMetric(adv/nAdv, "requests/advancing-tick")
	b.ReportMetric(advWrites/nAdv, "writes/advancing-tick")
	b.ReportMetric(idle/nIdle, "requests/idle-tick")
	b.ReportMetric(idleWrites/nIdle, "writes/idle-tick")
	b.ReportMetric(lease/(nAdv+nIdle), "lease-requests/tick")
	b.ReportMetric(0, "ns/op")
}
