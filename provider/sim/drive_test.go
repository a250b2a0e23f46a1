package sim_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

// TestDriveRunsAnHourInMilliseconds runs a loop shaped like a rollout runner's: every
// 10 virtual seconds it waits on a clock timer, reads the canary's metrics and moves
// the weight up, for one virtual hour.
func TestDriveRunsAnHourInMilliseconds(t *testing.T) {
	env, fc := newEnv(t, sim.Options{})
	require.NoError(t, env.Workload.AddService(checkout, v1))
	c := ctx(t)

	stop := sim.Drive(c, fc, time.Second)
	defer stop()

	began := time.Now()
	ticks := 0
	for fc.Since(t0) < time.Hour {
		timer := fc.NewTimer(10 * time.Second)
		select {
		case <-timer.C():
		case <-c.Done():
			t.Fatal(c.Err())
		}
		ticks++
		weight := min(100, float64(ticks)/360*100)
		require.NoError(t, env.Router.SetRoutes(c, checkout, progressive.WeightedRoutes(weight)))
		_, err := env.Metrics.Query(c, progressive.Query{Expr: "error_rate", Target: checkout, Role: progressive.Canary})
		require.NoError(t, err)
	}
	real := time.Since(began)
	stop()

	assert.Equal(t, 360, ticks, "one tick per 10 virtual seconds")
	assert.Equal(t, t0.Add(time.Hour), fc.Now())
	assert.Less(t, real, time.Second, "an hour of virtual time took %s", real)
	t.Logf("1h of virtual time in %s", real)
}

func TestDriveWaitsForReadiness(t *testing.T) {
	env, fc := newEnv(t, sim.Options{ReadyDelay: 90 * time.Second})
	require.NoError(t, env.Workload.AddService(checkout, v1))
	require.NoError(t, env.Workload.DeployCanary(ctx(t), checkout, r2, 2))
	defer sim.Drive(ctx(t), fc, time.Second)()

	for {
		st, err := env.Workload.Status(ctx(t), checkout)
		require.NoError(t, err)
		if st.Canary.Ready == 2 {
			break
		}
		<-fc.After(5 * time.Second)
	}
	assert.Equal(t, t0.Add(90*time.Second), fc.Now(), "ready after exactly the ready delay, polled every 5s")
}

func TestDriveStops(t *testing.T) {
	fc := testingclock.NewFakeClock(t0)
	stop := sim.Drive(context.Background(), fc, time.Minute)
	<-fc.After(time.Hour)
	stop()
	stop() // idempotent
	now := fc.Now()
	_ = fc.After(time.Minute)
	time.Sleep(5 * time.Millisecond)
	assert.Equal(t, now, fc.Now(), "a stopped driver no longer steps")

	c, cancel := context.WithCancel(context.Background())
	stop = sim.Drive(c, fc, time.Minute)
	cancel()
	stop() // returns once the cancelled driver has exited
}

func TestAdvanceUntil(t *testing.T) {
	fc := testingclock.NewFakeClock(t0)
	var fired atomic.Bool
	go func() {
		<-fc.After(30 * time.Minute)
		fired.Store(true)
	}()
	require.NoError(t, sim.AdvanceUntil(ctx(t), fc, time.Minute, time.Hour, fired.Load))
	assert.True(t, fired.Load())
	assert.Equal(t, t0.Add(30*time.Minute), fc.Now())

	go func() { <-fc.After(24 * time.Hour) }()
	err := sim.AdvanceUntil(ctx(t), fc, time.Minute, time.Hour, func() bool { return false })
	require.ErrorIs(t, err, sim.ErrNotDone)
	assert.Equal(t, t0.Add(90*time.Minute), fc.Now(), "gave up after max of virtual time")
	fc.Step(24 * time.Hour) // lets the waiter above return (goleak)

	c, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = sim.AdvanceUntil(c, testingclock.NewFakeClock(t0), time.Minute, time.Hour, func() bool { return false })
	assert.ErrorIs(t, err, context.DeadlineExceeded, "nothing waits on the clock: the context ends it")
}
