package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// replica is one process of a program that drives stored rollouts with a
// Runnable: its own client of the state ConfigMaps, its own runner, and a
// controller-runtime manager electing a leader through a Lease of the real
// API server.
type replica struct {
	m       *rollout.Manager
	mgr     manager.Manager
	stop    context.CancelFunc
	stopped chan error
}

func startReplica(t *testing.T, e *testenv.Env, ns string, env *sim.Env, clk *testingclock.FakeClock) *replica {
	t.Helper()
	p, err := k8s.New(e.Config(), k8s.Options{NoEvents: true})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	store, err := p.Store(ns)
	require.NoError(t, err)
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store:  store,
		Clock:  clk,
		Logger: controller.Logger(testLogr(t)),
	})
	require.NoError(t, err)
	m, err := rollout.NewManager(runner, rollout.ManagerOptions{})
	require.NoError(t, err)
	run, err := controller.NewRunnable(m, controller.RunnableOptions{})
	require.NoError(t, err)
	lease, renew, retry := 3*time.Second, 2*time.Second, 200*time.Millisecond
	mgr, err := manager.New(e.Config(), manager.Options{
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		Logger:                        testLogr(t),
		LeaderElection:                true,
		LeaderElectionID:              "stored-rollouts",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
	})
	require.NoError(t, err)
	require.NoError(t, mgr.Add(run))
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{m: m, mgr: mgr, stop: cancel, stopped: make(chan error, 1)}
	go func() { r.stopped <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

// shutdown stops the replica and waits for its manager, which returns once
// the Runnable's drives have returned.
func (r *replica) shutdown(t *testing.T) {
	r.stop()
	select {
	case err, ok := <-r.stopped:
		if ok {
			assert.NoError(t, err)
			close(r.stopped)
		}
	case <-time.After(30 * time.Second):
		t.Error("the manager did not stop")
	}
}

func elected(r *replica) bool {
	select {
	case <-r.mgr.Elected():
		return true
	default:
		return false
	}
}

// Runnable in real managers against the real API server: of two replicas
// electing a leader, only the leader's Manager drives the stored rollout;
// when the leader stops mid-rollout (its Lease released), the other is
// elected and resumes the rollout from the ConfigMap to its end.
func TestRunnableDrivesOnTheLeaderOfARealManager(t *testing.T) {
	// controller-runtime's global logger, which its client logs to while a
	// manager is built: set, or it prints a stack to say it was not.
	crlog.SetLogger(logr.Discard())
	e := testenv.StartForTest(t, testenv.Options{})
	ns := e.NewNamespace(t)
	// The rollout waits on this clock: frozen until the test drives it, so
	// the first leader is mid-soak when it stops.
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: clk, Seed: 1})
	target := progressive.Target{Namespace: ns, Name: "search"}
	require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
	require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "search:v1"}))

	a := startReplica(t, e, ns, env, clk)
	require.Eventually(t, func() bool { return elected(a) }, 30*time.Second, 50*time.Millisecond, "the first replica leads")
	b := startReplica(t, e, ns, env, clk)

	// A CLI stores the rollout; nothing of its process drives it.
	cli := startCLI(t, e, ns, env, clk)
	plan, err := releaseBinding{namespace: ns}.Plan(context.Background(), &Release{Spec: ReleaseSpec{Service: "search", Version: "v9"}})
	require.NoError(t, err)
	plan.Name = "search-v9"
	_, err = cli.Start(context.Background(), plan)
	require.NoError(t, err)

	// The leader's resync found it (Manager.Run lists at once when started;
	// this one started before the rollout existed, so kick it as the next
	// resync would, until its store's informer shows the CLI's write: List
	// reads the cache, which may be a moment behind another process).
	require.Eventually(t, func() bool { a.m.Resync(); return len(a.m.Driving()) == 1 }, 30*time.Second, 100*time.Millisecond, "the leader drives it")
	require.Eventually(t, func() bool {
		st, err := cli.Get(context.Background(), "search-v9")
		return err == nil && st.Step.Index >= 2
	}, 30*time.Second, 50*time.Millisecond, "the leader carried it to the first soak")
	assert.False(t, elected(b), "one leader")
	assert.Empty(t, b.m.Driving(), "a replica that does not lead drives nothing")

	stopped := time.Now()
	a.shutdown(t)
	require.Eventually(t, func() bool { return elected(b) }, 30*time.Second, 50*time.Millisecond, "the other replica is elected")
	t.Logf("the second replica was elected %s after the leader stopped", time.Since(stopped).Round(time.Millisecond))
	require.Eventually(t, func() bool { return len(b.m.Driving()) == 1 }, 30*time.Second, 50*time.Millisecond, "the new leader resumes it")

	stopClock := sim.Drive(context.Background(), clk, time.Second)
	defer stopClock()
	require.Eventually(t, func() bool {
		st, err := cli.Get(context.Background(), "search-v9")
		return err == nil && st.Phase.Terminal()
	}, 60*time.Second, 50*time.Millisecond)
	st, err := cli.Get(context.Background(), "search-v9")
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseSucceeded, st.Phase)
	routes := map[string]int{}
	for _, d := range st.Record.Decisions {
		if d.Action == "route" {
			routes[d.Reason]++
		}
	}
	for reason, n := range routes {
		assert.Equal(t, 1, n, "route %q decided %d times: no step done twice across the failover", reason, n)
	}
}

// startCLI is a runner on the same store that only starts and reads.
func startCLI(t *testing.T, e *testenv.Env, ns string, env *sim.Env, clk *testingclock.FakeClock) *rollout.Runner {
	t.Helper()
	p, err := k8s.New(e.Config(), k8s.Options{NoEvents: true})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	store, err := p.Store(ns)
	require.NoError(t, err)
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store,
		Clock: clk,
	})
	require.NoError(t, err)
	return r
}
