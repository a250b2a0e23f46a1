package controller_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// A rollout stored but driven by nobody (a process died after Start) is
// resumed when the controller-runtime manager starts the Runnable.
func TestRunnableResumesInAManager(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	plan, err := releaseBinding{namespace: h.ns}.Plan(context.Background(), &Release{Spec: ReleaseSpec{Service: "search", Version: "v9"}})
	require.NoError(t, err)
	st, err := h.runner.Start(context.Background(), plan)
	require.NoError(t, err)

	m, err := rollout.NewManager(h.runner, rollout.ManagerOptions{})
	require.NoError(t, err)
	run, err := controller.NewRunnable(m, controller.RunnableOptions{})
	require.NoError(t, err)
	assert.True(t, run.NeedLeaderElection(), "the leader alone drives by default")
	every, err := controller.NewRunnable(m, controller.RunnableOptions{EveryReplica: true})
	require.NoError(t, err)
	assert.False(t, every.NeedLeaderElection())
	_, err = controller.NewRunnable(nil, controller.RunnableOptions{})
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	// No API server is needed: the manager has no controller and no leader
	// election here, so it starts the Runnable at once.
	mgr, err := manager.New(&rest.Config{Host: "http://127.0.0.1:1"}, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 testLogr(t),
	})
	require.NoError(t, err)
	require.NoError(t, mgr.Add(run))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopClock := sim.Drive(ctx, h.clk, time.Second)
	defer stopClock()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	require.Eventually(t, func() bool {
		got, err := h.runner.Get(context.Background(), st.ID)
		return err == nil && got.Phase.Terminal()
	}, 20*time.Second, 10*time.Millisecond)
	got, err := h.runner.Get(context.Background(), st.ID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseSucceeded, got.Phase)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the manager did not stop")
	}
}

// syncBuffer is a bytes.Buffer safe for the loggers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoggerFollowsTheReconcileLogger(t *testing.T) {
	var out syncBuffer
	sink := func(name string) logr.Logger {
		return funcr.New(func(prefix, args string) { out.Write([]byte(prefix + " " + args + "\n")) }, funcr.Options{}).WithName(name)
	}
	log := controller.Logger(sink("manager")).With("runner", "r1").WithGroup("rollout").With("id", "shop-checkout-v2")

	log.Info("no context")
	reconcileCtx := logr.NewContext(context.Background(), sink("reconciler").WithValues("controller", "release", "reconcileID", "42"))
	log.InfoContext(reconcileCtx, "with the reconcile's context", "step", 3)
	log.DebugContext(reconcileCtx, "below the sink's level")

	lines := out.String()
	assert.Contains(t, lines, `manager "level"=0 "msg"="no context" "runner"="r1" "rollout"={"id"="shop-checkout-v2"}`)
	assert.Contains(t, lines, `reconciler "level"=0 "msg"="with the reconcile's context" "controller"="release" "reconcileID"="42" "runner"="r1" "rollout"={"id"="shop-checkout-v2" "step"=3}`)
	assert.NotContains(t, lines, "below the sink's level")
}

func TestLoggerRoundTripsThroughSlog(t *testing.T) {
	// A manager logging through a program's slog handler (logr.FromSlogHandler)
	// and a runner logging through the manager's logger end in one handler.
	var out syncBuffer
	h := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})
	mgrLog := logr.FromSlogHandler(h)
	controller.Logger(mgrLog).Warn("runner line", "rollout", "x")
	mgrLog.Info("manager line")
	assert.Contains(t, out.String(), `level=WARN msg="runner line" rollout=x`)
	assert.Contains(t, out.String(), `level=INFO msg="manager line"`)
}
