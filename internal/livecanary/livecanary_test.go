package livecanary_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/rollout"
)

// stack is the control plane, Prometheus and App shared by every scenario of
// the binary; each scenario has its own namespace and service.
var stack *livecanary.Stack

func TestMain(m *testing.M) {
	livecanary.MaybeRunDriver() // the restart scenario's child drivers
	os.Exit(livecanary.RunMain(m, &stack))
}

// scenarioTimeout bounds one scenario: a promotion takes about 80 s.
const scenarioTimeout = 4 * time.Minute

func prepare(t testing.TB, sc livecanary.Scenario) (context.Context, *livecanary.Canary) {
	t.Helper()
	s := stack.Require(t)
	ns := s.Env.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	c, err := livecanary.Prepare(ctx, s, ns, sc)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return ctx, c
}

// TestRegressionRolledBackAtItsWeight: a regression that begins the moment
// the VirtualService shows a weight is judged on that weight's traffic and
// rolled back before the next weight is set, whichever weight it is.
func TestRegressionRolledBackAtItsWeight(t *testing.T) {
	t.Parallel()
	for _, w := range []float64{10, 20, 30, 40, 50} {
		t.Run(fmt.Sprintf("at-%g", w), func(t *testing.T) {
			t.Parallel()
			ctx, c := prepare(t, livecanary.Scenario{
				Name: fmt.Sprintf("regress-%g", w), Canary: livecanary.Healthy,
				RegressAt: w, Regression: livecanary.Regressed,
			})
			res, err := c.Drive(ctx)
			logResult(t, res)
			require.NoError(t, err)

			assert.False(t, res.RegressedAt.IsZero(), "the regression was injected")
			assert.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
			assert.Equal(t, rollout.OutcomeRolledBack, res.Record.Impact.Outcome)
			assert.False(t, res.State.Applied.Promoted, "never promoted")
			assert.Equal(t, w, res.Record.Impact.MaxCanaryWeight, "rolled back before the next weight was set")
			assert.Equal(t, w, res.MaxWeight(), "the VirtualService never showed more than the weight the regression began at")
			assert.Contains(t, rollbackReason(res.Record), `check "error-rate" failed`)
			routes, err := c.Routes(ctx)
			require.NoError(t, err)
			assert.Equal(t, 0.0, routes.CanaryWeight, "the VirtualService ends at 0% canary")
			assert.Equal(t, 100.0, routes.StableWeight)
		})
	}
}

// TestHealthyCanaryPromoted: a canary answering 0.5% errors has no error
// series until its first error (200 requests, ~20 s at 10%). The first
// measurements wait for data instead of counting as inconclusive, and the
// canary is promoted.
func TestHealthyCanaryPromoted(t *testing.T) {
	t.Parallel()
	ctx, c := prepare(t, livecanary.Scenario{Name: "healthy", Canary: livecanary.Healthy})
	res, err := c.Drive(ctx)
	logResult(t, res)
	require.NoError(t, err)

	assert.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	assert.Equal(t, rollout.OutcomePromoted, res.Record.Impact.Outcome)
	assert.Empty(t, rollbackReason(res.Record), "no rollback")
	assert.Equal(t, 50.0, res.Record.Impact.MaxCanaryWeight)
	first := res.FirstStep()
	outcomes := map[analysis.Outcome]int{}
	for _, m := range first {
		outcomes[m.Outcome]++
	}
	assert.Positive(t, outcomes[analysis.OutcomeWaiting], "the first step waited for the error series: %v", outcomes)
	assert.Less(t, outcomes[analysis.OutcomeInconclusive], 3, "inconclusive measurements of the first step: %v", outcomes)
	if len(first) > 0 {
		assert.Equal(t, analysis.OutcomeWaiting, first[0].Outcome, "the first measurement came before the first error: %s", first[0].Reason)
		assert.Equal(t, analysis.OutcomePass, first[len(first)-1].Outcome, "the first step ended on a pass")
	}
	routes, err := c.Routes(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100.0, routes.StableWeight, "after the promotion the route sends everything to stable, which runs the release")
}

// TestSilentCanaryRolledBack: a canary with no series at all waits through
// its warm-up, then is inconclusive three times in a row and is rolled back,
// never given more than its first weight.
func TestSilentCanaryRolledBack(t *testing.T) {
	t.Parallel()
	ctx, c := prepare(t, livecanary.Scenario{Name: "silent", Canary: livecanary.Silent})
	res, err := c.Drive(ctx)
	logResult(t, res)
	require.NoError(t, err)

	assert.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	assert.Equal(t, rollout.OutcomeRolledBack, res.Record.Impact.Outcome)
	assert.False(t, res.State.Applied.Promoted, "never promoted")
	assert.Equal(t, livecanary.StepWeight, res.Record.Impact.MaxCanaryWeight, "never given more than its first weight")
	assert.Equal(t, livecanary.StepWeight, res.MaxWeight())
	assert.Contains(t, rollbackReason(res.Record), "inconclusive")
	routes, err := c.Routes(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight)
}

// TestKilledDriverResumes: a driver SIGKILLed mid-analysis is replaced by a
// new process, which measures next at max(the state's next due time, the
// dead driver's lease expiry), within a second, and never before.
func TestKilledDriverResumes(t *testing.T) {
	t.Parallel()
	ctx, c := prepare(t, livecanary.Scenario{Name: "restart", Canary: livecanary.Healthy})
	kills := []livecanary.Kill{
		// The next measurement is due well after the lease expires.
		livecanary.KillBeforeDue("due-after-expiry", 10, 6*time.Second, 9*time.Second),
		// The next measurement is due before the lease expires.
		livecanary.KillBeforeDue("due-before-expiry", 30, 600*time.Millisecond, 1400*time.Millisecond),
	}
	res, err := c.DriveWithKills(ctx, []string{os.Args[0], "-test.run=^$"}, kills)
	logResult(t, res)
	defer func() {
		if t.Failed() {
			t.Logf("child drivers:\n%s", c.ChildLog())
		}
	}()
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	require.Len(t, res.Restarts, len(kills))
	for _, r := range res.Restarts {
		t.Logf("%s: next due %+.3fs, lease expiry %+.3fs, resumed %+.3fs after the kill (%.3fs after max), %d conflict exit(s)",
			r.Name, r.NextDue.Sub(r.KilledAt).Seconds(), r.LeaseExpiry.Sub(r.KilledAt).Seconds(),
			r.ResumedAt.Sub(r.KilledAt).Seconds(), r.Late().Seconds(), r.Conflicts)
		require.False(t, r.ResumedAt.IsZero(), "%s: no measurement after the kill", r.Name)
		assert.False(t, r.ResumedAt.Before(r.Expected()), "%s: measured before max(next due, lease expiry)", r.Name)
		assert.Less(t, r.Late(), time.Second, "%s: resumed within 1 s of max(next due, lease expiry)", r.Name)
	}
}

// rollbackReason is the reason of the record's rollback decision, or "".
func rollbackReason(rec rollout.DecisionRecord) string {
	for _, d := range rec.Decisions {
		if d.Action == "rollback" {
			return d.Reason
		}
	}
	return ""
}

// logResult logs the timeline of a scenario relative to its start.
func logResult(t *testing.T, res livecanary.Result) {
	t.Helper()
	var b strings.Builder
	rel := func(at time.Time) string { return fmt.Sprintf("%+7.2fs", at.Sub(res.StartedAt).Seconds()) }
	fmt.Fprintf(&b, "%s: %s in %s\n", res.Scenario, res.State.Phase, res.Duration().Round(time.Millisecond))
	if !res.RegressedAt.IsZero() {
		fmt.Fprintf(&b, "  %s regression injected\n", rel(res.RegressedAt))
	}
	for _, w := range res.Weights {
		fmt.Fprintf(&b, "  %s VirtualService canary %g%%\n", rel(w.At), w.Weight)
	}
	for _, m := range res.Record.Observations {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", rel(m.Time), m.Check, m.Outcome, m.Reason)
	}
	for _, d := range res.Record.Decisions {
		fmt.Fprintf(&b, "  %s step %d %s: %s\n", rel(d.Time), d.Step, d.Action, d.Reason)
	}
	t.Log("\n" + b.String())
}
