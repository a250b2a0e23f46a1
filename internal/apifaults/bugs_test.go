package apifaults_test

// Small, deterministic reproducers of what the suite found, one per defect,
// each failing until its fix lands (see the package report in the reply of
// the change that added them). They need no control plane.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/apifaults"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// A client-side request timeout (rest.Config.Timeout, or the Timeout fault)
// is a passing fault: the providers must classify it as
// progressive.ErrTransient so that the runner retries the step. Today both
// classify functions return any error that matches context.DeadlineExceeded
// unclassified, and the runner rolls a healthy release back on the first
// timeout (stepFailed) or Run stops (a save or a load).
func TestClientTimeoutIsTransient(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.Timeout}, Timeout: 20 * time.Millisecond})
	url, _ := newFakeAPI(t)
	cfg := in.Config(&rest.Config{Host: url})
	ctx := context.Background()
	tg := progressive.Target{Namespace: "ns", Name: "shop"}

	p, err := k8s.New(cfg, k8s.Options{NoEvents: true})
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Router().GetRoutes(ctx, tg)
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err), "kubernetes router: %v", err)

	store, err := p.Store("ns")
	require.NoError(t, err)
	_, err = store.Get(ctx, "shop-v2")
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err), "kubernetes store: %v", err)

	ir, err := istio.New(cfg, istio.Options{})
	require.NoError(t, err)
	_, err = ir.GetRoutes(ctx, tg)
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err), "istio router: %v", err)
}

// flakyStore fails, once, the first Update that matches.
type flakyStore struct {
	rollout.StateStore
	match func(rollout.State) bool
	err   error
	done  atomic.Bool
}

func (s *flakyStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	if s.match(st) && s.done.CompareAndSwap(false, true) {
		return rollout.State{}, s.err
	}
	return s.StateStore.Update(ctx, st)
}

// simRunner is a runner on the simulator with short waits.
func simRunner(t *testing.T, store rollout.StateStore, router progressive.TrafficRouter) (*rollout.Runner, progressive.Plan) {
	t.Helper()
	env := sim.New(sim.Options{})
	tg := progressive.Target{Namespace: "ns", Name: "shop"}
	require.NoError(t, env.Workload.AddService(tg, sim.ServiceSpec{Replicas: 2, Version: "v1", Image: oldImage}))
	if router == nil {
		router = env.Router
	}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{env.Workload},
			Metrics:   []progressive.MetricSource{&metrics{healthy: true}},
		},
		Store:        store,
		Logger:       quietLogger(),
		PollInterval: 20 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Weights: []float64{50}, Soak: 300 * time.Millisecond, Replicas: 1,
		Checks: []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: 100 * time.Millisecond}}}.
		Plan(tg, progressive.Release{Version: "v2", Image: newImage})
	require.NoError(t, err)
	return r, plan
}

// Run must not report an end it did not save. When the save of the final
// transition fails transiently, Reconcile returns the phase it set in memory
// (x.result after a failed x.save), and Run, seeing a terminal phase, returns
// the stored state, still progressing, with no error: the caller believes
// the rollout ended, and nobody drives it any more.
func TestRunReportsOnlySavedEnds(t *testing.T) {
	mem := rollout.NewMemoryStore()
	store := &flakyStore{StateStore: mem, match: func(st rollout.State) bool { return st.Phase.Terminal() },
		err: errors.Join(errors.New("injected: 503 on the final save"), progressive.ErrTransient)}
	r, plan := simRunner(t, store, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Execute(ctx, plan)
	stored, gerr := mem.Get(ctx, plan.Name)
	require.NoError(t, gerr)
	if err == nil {
		assert.True(t, stored.Phase.Terminal(), "Run returned no error and a state in phase %q; the store holds phase %q", st.Phase, stored.Phase)
	}
	assert.Equal(t, rollout.PhaseSucceeded, stored.Phase, "Run: %v", err)
}

// conflictingRouter fails its first SetRoutes with progressive.ErrConflict,
// as the istio router does when the VirtualService reads back with routes
// someone else wrote, or the kubernetes router when its conflict retries run
// out.
type conflictingRouter struct {
	progressive.TrafficRouter
	once sync.Once
}

func (c *conflictingRouter) SetRoutes(ctx context.Context, t progressive.Target, r progressive.Routes) error {
	var err error
	c.once.Do(func() {
		err = errors.Join(errors.New("injected: VirtualService read back with routes someone else wrote"), progressive.ErrConflict)
	})
	if err != nil {
		return err
	}
	return c.TrafficRouter.SetRoutes(ctx, t, r)
}

// A provider's ErrConflict is not a lost state conflict. Since stepFailed
// returns every ErrConflict as "another runner saved this rollout first",
// Run stops with the rollout mid-way (traffic possibly moved) on a conflict
// over the VirtualService or the Service, with no retry counted and no
// rollback.
func TestProviderConflictDoesNotStopRun(t *testing.T) {
	env := sim.New(sim.Options{})
	r, plan := simRunner(t, rollout.NewMemoryStore(), &conflictingRouter{TrafficRouter: env.Router})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Execute(ctx, plan)
	require.NoError(t, err, "Run stopped with the rollout %s at step %d", st.Phase, st.Step.Index+1)
	assert.True(t, st.Phase.Terminal(), "phase %s", st.Phase)
}

// commandingStore lets another process store a command (runner.Abort) just
// before the driver's n-th save, which then conflicts: the 409 the state
// ConfigMap answers when a CLI aborts a rollout that a controller drives.
type commandingStore struct {
	rollout.StateStore
	n       atomic.Int64
	at      int64
	command func()
}

func (s *commandingStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	if s.n.Add(1) == s.at {
		s.command()
	}
	return s.StateStore.Update(ctx, st)
}

// A command stored by another process is carried out by the process that
// drives the rollout. Today the driver's next save conflicts, Run returns
// ErrConflict, and the Abort waits in the store for a driver that has gone.
func TestAbortFromAnotherProcessIsCarriedOut(t *testing.T) {
	mem := rollout.NewMemoryStore()
	store := &commandingStore{StateStore: mem, at: 3}
	r, plan := simRunner(t, store, nil)
	cli, _ := simRunner(t, mem, nil) // another process: same store, its own runner
	store.command = func() {
		if err := cli.Abort(context.Background(), plan.Name, "stop it"); err != nil {
			t.Errorf("abort: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Execute(ctx, plan)
	require.NoError(t, err, "the driver stopped with the rollout %s at step %d", st.Phase, st.Step.Index+1)
	assert.Equal(t, rollout.PhaseAborted, st.Phase)
}
