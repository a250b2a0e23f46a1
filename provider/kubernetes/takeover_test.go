package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// slowWatches delays every chunk of a ConfigMap watch stream: the process's
// state informer shows each write late, as the informer of a replica talking
// to a loaded API server does (seconds at a thousand rollouts).
type slowWatches struct {
	rt    http.RoundTripper
	delay time.Duration
}

func (s slowWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if err == nil && req.URL.Query().Get("watch") == "true" && strings.HasSuffix(req.URL.Path, "/configmaps") {
		resp.Body = slowBody{ReadCloser: resp.Body, delay: s.delay}
	}
	return resp, err
}

type slowBody struct {
	io.ReadCloser
	delay time.Duration
}

func (b slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		time.Sleep(b.delay)
	}
	return n, err
}

// sideEffects is a workload that counts its actions: a scale to n pods done
// twice is a step carried out twice. Its pods are ready at once.
type sideEffects struct {
	mu       sync.Mutex
	replicas int
	deploys  int
	scales   map[int][]string // replicas -> the processes that scaled to it
}

func (w *sideEffects) Name() string { return "side-effects" }

func (w *sideEffects) DeployCanary(ctx context.Context, _ progressive.Target, _ progressive.Release, replicas int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deploys++
	w.replicas = replicas
	return nil
}

// scaleBy returns the workload as process name sees it.
func (w *sideEffects) scaleBy(name string) progressive.Workload { return processWorkload{w, name} }

type processWorkload struct {
	*sideEffects
	process string
}

func (w processWorkload) ScaleCanary(ctx context.Context, _ progressive.Target, replicas int) error {
	if err := ctx.Err(); err != nil {
		// The process let go of the rollout: nothing happens.
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scales[replicas] = append(w.scales[replicas], w.process)
	w.replicas = replicas
	return nil
}

func (w *sideEffects) ScaleCanary(context.Context, progressive.Target, int) error {
	return fmt.Errorf("side effects: scale through a process's view: %w", progressive.ErrInvalid)
}

func (w *sideEffects) Status(context.Context, progressive.Target) (progressive.WorkloadStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return progressive.WorkloadStatus{
		Stable: progressive.VersionStatus{Version: "v1", Replicas: 2, Ready: 2, Updated: 2},
		Canary: progressive.VersionStatus{Version: "v2", Replicas: w.replicas, Ready: w.replicas, Updated: w.replicas},
	}, nil
}

func (w *sideEffects) Promote(context.Context, progressive.Target) error        { return nil }
func (w *sideEffects) RollbackCanary(context.Context, progressive.Target) error { return nil }

// TestTakeoverDrivesFromThePreviousOwnersLastWrite: two processes, each with
// its own provider whose state informer shows writes two seconds late, hand
// one rollout back and forth after every step, as replicas whose Leases change
// hands do. Each takes over right after the other's last state write, while
// its own informer still shows the state as it left it. Run's fresh read
// (Store.GetFresh) makes the new owner start from the other's last write: no
// scale step is carried out twice. Without it, every handover redid the step
// the previous owner had just completed (its state write then refused).
func TestTakeoverDrivesFromThePreviousOwnersLastWrite(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	const steps = 10
	plan := progressive.Plan{
		Name:    "handover-v2",
		Target:  target(ns, "handover"),
		Release: progressive.Release{Version: "v2", Image: "registry.example/handover:v2"},
		Steps:   []progressive.Step{{Deploy: &progressive.DeployStep{Replicas: 1}}},
	}
	for n := 2; n < 2+steps; n++ {
		plan.Steps = append(plan.Steps, progressive.Step{Scale: &progressive.ScaleStep{Replicas: n}})
	}
	w := &sideEffects{scales: map[int][]string{}}

	type process struct {
		name   string
		store  *k8s.Store
		runner *rollout.Runner
		// let go ends the current drive once a step's completion is stored.
		letGo atomic.Pointer[context.CancelFunc]
	}
	newProcess := func(name string) *process {
		cfg := rest.CopyConfig(e.Config())
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return slowWatches{rt: rt, delay: 2 * time.Second} })
		pr := &process{name: name}
		p := newProvider(t, cfg, fastOptions())
		var err error
		pr.store, err = p.Store(ns)
		require.NoError(t, err)
		pr.runner, err = rollout.New(rollout.Options{
			Providers: rollout.Providers{Workloads: []progressive.Workload{w.scaleBy(name)}},
			Store:     pr.store,
			Observers: []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, ev rollout.Event) {
				// A step starts after the previous one's completion was
				// stored (scale steps are stored as they complete).
				if ev.Type == rollout.EventStepStarted {
					if cancel := pr.letGo.Load(); cancel != nil {
						(*cancel)()
					}
				}
			})},
			PollInterval: 50 * time.Millisecond,
			Logger:       quietLogger(),
		})
		require.NoError(t, err)
		return pr
	}
	procs := []*process{newProcess("a"), newProcess("b")}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := procs[0].runner.Start(ctx, plan)
	require.NoError(t, err)
	lagged, rounds := 0, 0
	for round := 0; !st.Phase.Terminal(); round++ {
		require.Less(t, round, 4*steps, "the rollout did not end")
		pr := procs[round%2]
		before, err := pr.store.Get(ctx, st.ID)
		require.NoError(t, err)
		if before.Version < st.Version {
			lagged++
		}
		rounds++
		drive, stop := context.WithCancel(ctx)
		pr.letGo.Store(&stop)
		st, err = pr.runner.Run(drive, st.ID)
		stop()
		if !st.Phase.Terminal() {
			require.True(t, errors.Is(err, context.Canceled), "process %s stopped driving with %v", pr.name, err)
		}
		// What the process that let go stored last: the next owner must
		// start there.
		st, err = pr.store.Get(ctx, st.ID)
		require.NoError(t, err)
	}
	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %v", actions(st.Record))
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Equal(t, 1, w.deploys, "the canary was deployed once")
	for n := 2; n < 2+steps; n++ {
		assert.Len(t, w.scales[n], 1, "the scale to %d pods was carried out by %v", n, w.scales[n])
	}
	// The informers were behind at the handovers: what the test is about.
	assert.Greater(t, lagged, steps/2, "handovers whose new owner's informer showed an older state")
	t.Logf("%d drives; the new owner's informer was behind at %d of them", rounds, lagged)
}
