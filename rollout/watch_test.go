package rollout_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// watchedWorkload is a Workload whose pods become ready only when the test says
// so, and which tells its subscribers (progressive.StatusWatcher) at that moment.
type watchedWorkload struct {
	mu             sync.Mutex
	canaryReplicas int
	canaryReady    int
	stableVersion  string
	stableUpdated  int // stable pods running the promoted release, all ready
	subs           []chan struct{}
	watchCtxs      []context.Context
	watchErr       error
	deployed       chan struct{} // closed by DeployCanary
	promoted       chan struct{} // closed by Promote
}

const stableReplicas = 2

func newWatchedWorkload() *watchedWorkload {
	return &watchedWorkload{stableVersion: "v1", deployed: make(chan struct{}), promoted: make(chan struct{})}
}

func (w *watchedWorkload) Name() string { return "watched" }

func (w *watchedWorkload) DeployCanary(_ context.Context, _ progressive.Target, _ progressive.Release, replicas int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.canaryReplicas = replicas
	select {
	case <-w.deployed:
	default:
		close(w.deployed)
	}
	return nil
}

func (w *watchedWorkload) ScaleCanary(_ context.Context, _ progressive.Target, replicas int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.canaryReplicas = replicas
	w.canaryReady = min(w.canaryReady, replicas)
	return nil
}

func (w *watchedWorkload) Status(context.Context, progressive.Target) (progressive.WorkloadStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	stable := progressive.VersionStatus{Version: w.stableVersion, Replicas: stableReplicas, Ready: stableReplicas, Updated: stableReplicas}
	if w.stableVersion != "v1" {
		stable.Updated, stable.Ready = w.stableUpdated, w.stableUpdated
	}
	return progressive.WorkloadStatus{
		Stable: stable,
		Canary: progressive.VersionStatus{Version: release.Version, Replicas: w.canaryReplicas, Ready: w.canaryReady, Updated: w.canaryReplicas},
	}, nil
}

func (w *watchedWorkload) Promote(context.Context, progressive.Target) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stableVersion = release.Version
	select {
	case <-w.promoted:
	default:
		close(w.promoted)
	}
	return nil
}

func (w *watchedWorkload) RollbackCanary(context.Context, progressive.Target) error {
	return w.ScaleCanary(context.Background(), service, 0)
}

func (w *watchedWorkload) WatchStatus(ctx context.Context, _ progressive.Target) (<-chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watchErr != nil {
		return nil, w.watchErr
	}
	ch := make(chan struct{}, 1)
	w.subs = append(w.subs, ch)
	w.watchCtxs = append(w.watchCtxs, ctx)
	return ch, nil
}

// set changes the pods under the lock and, with notify, tells the subscribers
// the way a watcher does: without blocking, coalescing.
func (w *watchedWorkload) set(notify bool, f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	if !notify {
		return
	}
	for _, ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *watchedWorkload) subscriptions() []context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]context.Context(nil), w.watchCtxs...)
}

var _ progressive.StatusWatcher = (*watchedWorkload)(nil)

// deployPromotePlan deploys two canary pods and promotes them: two steps that
// wait for pods.
func deployPromotePlan(name string) progressive.Plan {
	return progressive.Plan{
		Name:    name,
		Target:  service,
		Release: release,
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 2}},
			{Promote: &progressive.PromoteStep{}},
		},
	}
}

func watchRunner(t *testing.T, w *watchedWorkload, fc *testingclock.FakeClock) *rollout.Runner {
	t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Workloads: []progressive.Workload{w}},
		Clock:     fc,
		// An hour between polls, on a clock that does not move unless the test
		// steps it: only a notification can end a wait.
		PollInterval: time.Hour,
		Logger:       slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return r
}

type runResult struct {
	st  rollout.State
	err error
}

func runAsync(ctx context.Context, r *rollout.Runner, id string) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		st, err := r.Run(ctx, id)
		done <- runResult{st, err}
	}()
	return done
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestRunWakesOnStatusNotification: with the clock frozen and an hour-long poll
// interval, a deploy step and a promote step each end as soon as the workload
// reports that its pods are ready.
func TestRunWakesOnStatusNotification(t *testing.T) {
	w := newWatchedWorkload()
	fc := testingclock.NewFakeClock(t0)
	r := watchRunner(t, w, fc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Start(ctx, deployPromotePlan("watched"))
	require.NoError(t, err)

	done := runAsync(ctx, r, st.ID)
	waitClosed(t, w.deployed, "the canary to be deployed")
	require.Eventually(t, fc.HasWaiters, 10*time.Second, 5*time.Millisecond, "Run waits for the canary's pods")
	start := time.Now()
	w.set(true, func() { w.canaryReady = 2 })
	waitClosed(t, w.promoted, "the deploy step to end and the promotion to start")
	deployWake := time.Since(start)
	w.set(true, func() { w.stableUpdated = stableReplicas })

	var res runResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end after the promoted pods were reported ready")
	}
	t.Logf("deploy step ended %s after the notification (poll interval %s, clock frozen)", deployWake, time.Hour)
	require.NoError(t, res.err)
	assert.Equal(t, rollout.PhaseSucceeded, res.st.Phase, "decisions: %+v", res.st.Record.Decisions)
	assert.Equal(t, t0, fc.Now(), "the clock never moved: no poll interval elapsed")
	subs := w.subscriptions()
	require.Len(t, subs, 1, "one subscription per Run")
	assert.Error(t, subs[0].Err(), "the subscription ends with Run")
}

// TestRunPollsWithoutNotifications: a change the workload does not report, or a
// watcher that cannot subscribe, is found at the next poll.
func TestRunPollsWithoutNotifications(t *testing.T) {
	for _, tc := range []struct {
		name     string
		watchErr error
	}{
		{"silent watcher", nil},
		{"failing watcher", fmt.Errorf("watch deployments: forbidden: %w", progressive.ErrInvalid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWatchedWorkload()
			w.watchErr = tc.watchErr
			fc := testingclock.NewFakeClock(t0)
			r := watchRunner(t, w, fc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := r.Start(ctx, deployPromotePlan("polled"))
			require.NoError(t, err)

			done := runAsync(ctx, r, st.ID)
			waitClosed(t, w.deployed, "the canary to be deployed")
			require.Eventually(t, fc.HasWaiters, 10*time.Second, 5*time.Millisecond)
			w.set(false, func() { w.canaryReady = 2; w.stableUpdated = stableReplicas })
			select {
			case <-w.promoted:
				t.Fatal("the deploy step ended without a notification or a poll")
			case <-time.After(200 * time.Millisecond):
			}
			for {
				select {
				case res := <-done:
					require.NoError(t, res.err)
					assert.Equal(t, rollout.PhaseSucceeded, res.st.Phase)
					assert.Equal(t, t0.Add(time.Hour), fc.Now(), "one poll interval: the deploy step; the promotion was ready at once")
					return
				case <-time.After(10 * time.Millisecond):
					if fc.HasWaiters() {
						fc.Step(time.Hour)
					}
				case <-ctx.Done():
					t.Fatal("Run did not end")
				}
			}
		})
	}
}
