package k8sshared

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// TestProgressPrintsAndTimesTheRollback needs no cluster: the examples' tests
// that use Progress do, and take minutes.
func TestProgressPrintsAndTimesTheRollback(t *testing.T) {
	var out bytes.Buffer
	p := &Progress{Out: &out}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for _, e := range []rollout.Event{
		{Time: t0, Type: rollout.EventRoutesChanged, Phase: rollout.PhaseProgressing, Message: "routes set: 90% stable / 10% canary", Routes: &progressive.Routes{StableWeight: 90, CanaryWeight: 10}},
		{Time: t0.Add(2 * time.Second), Type: rollout.EventRollbackStarted, Phase: rollout.PhaseRollingBack, Message: "manual rollback: test"},
		{Time: t0.Add(2250 * time.Millisecond), Type: rollout.EventRoutesChanged, Phase: rollout.PhaseRollingBack, Message: "all traffic back on stable", Routes: &progressive.Routes{StableWeight: 100}},
		{Time: t0.Add(3 * time.Second), Type: rollout.EventRollbackCompleted, Phase: rollout.PhaseRolledBack, Message: "back on stable"},
	} {
		e.Rollout = "r"
		p.Observe(ctx, e)
	}
	assert.Equal(t, 250*time.Millisecond, p.RollbackLatency())
	assert.Equal(t, `   0.00s  traffic   canary  10.0%  routes set: 90% stable / 10% canary
   2.00s  ROLLBACK  manual rollback: test
   2.25s  traffic   canary   0.0%  all traffic back on stable
   3.00s  ROLLED-BACK back on stable
`, out.String())
}
