package kubernetes_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Environment of the helper process: the test binary started again as a runner
// process that the test can kill.
const (
	helperEnv     = "PROGRESSIVE_K8S_TEST_HELPER"
	helperKubecfg = "PROGRESSIVE_K8S_TEST_KUBECONFIG"
	helperNS      = "PROGRESSIVE_K8S_TEST_NAMESPACE"
	helperRollout = "PROGRESSIVE_K8S_TEST_ROLLOUT"
	helperID      = "PROGRESSIVE_K8S_TEST_IDENTITY"
)

func testLease(identity string, wait bool) k8s.LeaseOptions {
	return k8s.LeaseOptions{Identity: identity, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond, Wait: wait}
}

// runHelperProcess runs a rollout under a Lease when the test binary was started
// as a helper process, and reports whether it was.
func runHelperProcess() bool {
	if os.Getenv(helperEnv) != "runner" {
		return false
	}
	err := func() error {
		cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(helperKubecfg))
		if err != nil {
			return err
		}
		p, err := k8s.New(cfg, fastOptions())
		if err != nil {
			return err
		}
		defer p.Close()
		store, err := p.Store(os.Getenv(helperNS))
		if err != nil {
			return err
		}
		r, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{
				Routers:   []progressive.TrafficRouter{p.Router()},
				Workloads: []progressive.Workload{p.Workload()},
				Metrics:   []progressive.MetricSource{newFixedMetrics(0.2, 0.3)},
			},
			Store: store, PollInterval: 100 * time.Millisecond, RetryBackoff: 200 * time.Millisecond, Logger: quietLogger(),
		})
		if err != nil {
			return err
		}
		id := os.Getenv(helperRollout)
		st, err := store.Get(context.Background(), id)
		if err != nil {
			return err
		}
		lease, err := p.Lease(st.Plan.Target, testLease(os.Getenv(helperID), false))
		if err != nil {
			return err
		}
		fmt.Println("running")
		_, err = k8s.RunWithLease(context.Background(), lease, r, id)
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// TestKilledRunnerResumesAndSecondRunnerRefused starts a runner in a separate
// process, refuses a second runner on the same target while the first holds the
// Lease, kills the first with SIGKILL half-way through the canary, and resumes
// the rollout from the ConfigMap StateStore in a new runner once the dead
// runner's Lease expired.
func TestKilledRunnerResumesAndSecondRunnerRefused(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "payments", 4, "registry.example/payments:v1")
	p := newProvider(t, e.Config(), fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	r := newRunner(t, p, store, newFixedMetrics(0.2, 0.3), nil)
	tg := target(ns, "payments")
	plan, err := strategy.Canary{Weights: []float64{25, 50}, Soak: 4 * time.Second, Checks: errorRate(), Replicas: 1}.
		Plan(tg, progressive.Release{Version: "v2", Image: "registry.example/payments:v2"})
	require.NoError(t, err)
	_, err = r.Start(ctx, plan)
	require.NoError(t, err)
	analyze50 := -1
	for i, s := range plan.Steps {
		if s.Name == "analyze-50" {
			analyze50 = i
		}
	}
	require.Positive(t, analyze50)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=runner", helperKubecfg+"="+e.Kubeconfig(), helperNS+"="+ns, helperRollout+"="+plan.Name, helperID+"=runner-one")
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "running", strings.TrimSpace(line))

	// Wait until the first runner soaks at 50%.
	eventually(t, testTimeout, func() error {
		st, err := store.Get(ctx, plan.Name)
		if err != nil {
			return err
		}
		if st.Phase != rollout.PhaseProgressing || st.Step.Index != analyze50 {
			return errorf("phase %s step %d", st.Phase, st.Step.Index)
		}
		return nil
	})

	// A second runner on the same target is refused while the first holds the Lease.
	second, err := p.Lease(tg, testLease("runner-two", false))
	require.NoError(t, err)
	_, err = k8s.RunWithLease(ctx, second, r, plan.Name)
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "held by runner-one")
	holder, _, err := second.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "runner-one", holder)

	// Kill the first runner mid-analysis: it cannot release its Lease.
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killed = true
	atKill, err := store.Get(ctx, plan.Name)
	require.NoError(t, err)
	require.Equal(t, analyze50, atKill.Step.Index)

	// A new runner waits for the dead runner's Lease to expire and resumes.
	third, err := p.Lease(tg, testLease("runner-three", true))
	require.NoError(t, err)
	dead, err := cs.CoordinationV1().Leases(ns).Get(ctx, "progressive-payments", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "runner-one", *dead.Spec.HolderIdentity)
	expiry := dead.Spec.RenewTime.Add(time.Duration(*dead.Spec.LeaseDurationSeconds) * time.Second)
	// Watch for the new holder, to measure the takeover against the record's expiry.
	tookOver := make(chan time.Time, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		for pollCtx.Err() == nil {
			if l, err := cs.CoordinationV1().Leases(ns).Get(pollCtx, "progressive-payments", metav1.GetOptions{}); err == nil &&
				l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "runner-three" {
				tookOver <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, 2*testTimeout)
	defer cancel()
	final, err := k8s.RunWithLease(runCtx, third, r, plan.Name)
	require.NoError(t, err)
	t.Logf("resumed and finished %s after the kill (lease duration 3s)", time.Since(start).Round(time.Millisecond))
	select {
	case at := <-tookOver:
		t.Logf("the killed runner's lease was taken over %s after its record expired", at.Sub(expiry).Round(time.Millisecond))
		assert.LessOrEqual(t, at.Sub(expiry), time.Second)
	default:
		t.Errorf("never saw runner-three hold the lease")
	}
	assert.Equal(t, rollout.PhaseSucceeded, final.Phase)
	rec, err := r.Record(ctx, plan.Name)
	require.NoError(t, err)
	acts := actions(rec)
	assert.Equal(t, 1, count(acts, "deploy"), "the canary was deployed once: %v", acts)
	assert.Equal(t, 2, count(acts, "route"), "weights 25 and 50 were each set once: %v", acts)

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/payments:v2", d.Spec.Template.Spec.Containers[0].Image)
	canary, err := cs.AppsV1().Deployments(ns).Get(ctx, "payments-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *canary.Spec.Replicas)
	got, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
	holder, _, err = third.Holder(ctx)
	require.NoError(t, err)
	assert.Empty(t, holder, "the Lease is released when the runner stops")
}

// leaseAt writes the Lease name in ns by hand, as holder would have left it
// when it last renewed at renewed: how a runner killed without releasing its
// lease leaves the record.
func leaseAt(t *testing.T, cs kubernetes.Interface, ns, name, holder string, renewed time.Time, seconds, transitions int32) {
	t.Helper()
	rt := metav1.NewMicroTime(renewed)
	_, err := cs.CoordinationV1().Leases(ns).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &seconds,
			AcquireTime: &rt, RenewTime: &rt, LeaseTransitions: &transitions,
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func leaseSpec(t *testing.T, cs kubernetes.Interface, ns, name string) coordinationv1.LeaseSpec {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return l.Spec
}

func namedLease(identity, name string, wait bool) k8s.LeaseOptions {
	o := testLease(identity, wait)
	o.Name = name
	return o
}

// leaseHolding runs Lease.Run in a goroutine with an fn that holds the lease
// until release is closed (or its context ends), and waits until fn started.
type leaseHolding struct {
	started, ended time.Time // when fn started and returned
	returned       time.Time // when Run returned
	err            error
	done           chan struct{}
}

func holdLease(t *testing.T, ctx context.Context, l *k8s.Lease, release <-chan struct{}) *leaseHolding {
	t.Helper()
	h := &leaseHolding{done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(h.done)
		h.err = l.Run(ctx, func(ctx context.Context) error {
			h.started = time.Now()
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
			h.ended = time.Now()
			return nil
		})
		h.returned = time.Now()
	}()
	select {
	case <-started:
	case <-h.done:
		t.Fatalf("lease %s not acquired: %v", l.Identity(), h.err)
	case <-time.After(testTimeout):
		t.Fatalf("lease %s not acquired after %s", l.Identity(), testTimeout)
	}
	return h
}

func (h *leaseHolding) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(testTimeout):
		t.Fatalf("Lease.Run did not return after %s", testTimeout)
	}
}

// runStart runs Lease.Run with an fn that returns at once, and returns when fn
// started.
func runStart(ctx context.Context, l *k8s.Lease) (time.Time, error) {
	var started time.Time
	err := l.Run(ctx, func(context.Context) error {
		started = time.Now()
		return nil
	})
	return started, err
}

// TestLeaseDeadHolderTakenAtExpiry: a runner killed without releasing its lease
// (its record written by hand, last renewed 2.5 s ago with a 3 s duration, so
// it looks dead: a live holder renews every 500 ms) is replaced at the record's
// expiry, not a LeaseDuration after the new runner first saw it; without Wait
// as well, since a dead holder is no live conflict.
func TestLeaseDeadHolderTakenAtExpiry(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	p := newProvider(t, e.Config(), fastOptions())
	for _, wait := range []bool{false, true} {
		t.Run(fmt.Sprintf("wait=%t", wait), func(t *testing.T) {
			name := fmt.Sprintf("dead-wait-%t", wait)
			renewed := time.Now().Add(-2500 * time.Millisecond)
			expiry := renewed.Add(3 * time.Second)
			leaseAt(t, cs, ns, name, "killed-runner", renewed, 3, 4)
			l, err := p.Lease(target(ns, "payments"), namedLease("restarted", name, wait))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			begin := time.Now()
			started, err := runStart(ctx, l)
			require.NoError(t, err)
			t.Logf("dead holder's lease taken over %s after its expiry (%s after the new runner started; lease duration 3s)",
				started.Sub(expiry).Round(time.Millisecond), started.Sub(begin).Round(time.Millisecond))
			assert.False(t, started.Before(expiry.Add(-20*time.Millisecond)), "taken %s before the record expired", expiry.Sub(started))
			assert.LessOrEqual(t, started.Sub(expiry), time.Second, "taken over too late")
			sp := leaseSpec(t, cs, ns, name)
			assert.Equal(t, int32(5), *sp.LeaseTransitions, "one transition, killed-runner to restarted")
			assert.Empty(t, *sp.HolderIdentity, "released when Run returned")
		})
	}
}

// TestLeaseLiveHolderRefused: a runner holding the lease renews it, so a second
// runner without Wait fails at once with ErrConflict however long the first has
// held it (here longer than the 2 s after which an unrenewed holder is presumed
// dead).
func TestLeaseLiveHolderRefused(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	p := newProvider(t, e.Config(), fastOptions())
	tg := target(ns, "payments")
	first, err := p.Lease(tg, testLease("runner-one", false))
	require.NoError(t, err)
	release := make(chan struct{})
	h := holdLease(t, context.Background(), first, release)
	defer func() { close(release); h.wait(t); require.NoError(t, h.err) }()
	time.Sleep(2500 * time.Millisecond)

	second, err := p.Lease(tg, testLease("runner-two", false))
	require.NoError(t, err)
	begin := time.Now()
	ran := false
	err = second.Run(context.Background(), func(context.Context) error { ran = true; return nil })
	took := time.Since(begin)
	t.Logf("second runner refused after %s", took.Round(time.Millisecond))
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "held by runner-one")
	assert.False(t, ran)
	assert.Less(t, took, time.Second, "refused at once")
}

// TestLeaseReleasedOnStop: a runner that stops normally, because fn returned or
// because its context was cancelled, releases the lease after fn returned, and
// a successor without Wait starts at once.
func TestLeaseReleasedOnStop(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	p := newProvider(t, e.Config(), fastOptions())
	for _, how := range []string{"fn returns", "ctx cancelled"} {
		t.Run(strings.ReplaceAll(how, " ", "-"), func(t *testing.T) {
			name := "stop-" + strings.ReplaceAll(how, " ", "-")
			first, err := p.Lease(target(ns, "payments"), namedLease("runner-one", name, false))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			release := make(chan struct{})
			h := holdLease(t, ctx, first, release)
			time.Sleep(time.Second) // renewed a few times
			if how == "fn returns" {
				close(release)
			} else {
				cancel()
			}
			h.wait(t)
			if how == "fn returns" {
				require.NoError(t, h.err)
			}
			sp := leaseSpec(t, cs, ns, name)
			assert.Empty(t, *sp.HolderIdentity, "released")
			assert.Equal(t, int32(1), *sp.LeaseDurationSeconds)

			second, err := p.Lease(target(ns, "payments"), namedLease("runner-two", name, false))
			require.NoError(t, err)
			started, err := runStart(context.Background(), second)
			require.NoError(t, err)
			t.Logf("%s: successor started %s after the first runner's fn returned, %s after its Run returned",
				how, started.Sub(h.ended).Round(time.Millisecond), started.Sub(h.returned).Round(time.Millisecond))
			assert.True(t, h.ended.Before(h.returned), "Run returns after fn")
			assert.LessOrEqual(t, started.Sub(h.returned), time.Second)
		})
	}
}

// TestLeaseWaitForRelease: with Wait, a runner waiting for a live holder starts
// within a second of the holder releasing the lease (here after 2 s), and never
// while the holder's fn runs.
func TestLeaseWaitForRelease(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	p := newProvider(t, e.Config(), fastOptions())
	tg := target(ns, "payments")
	first, err := p.Lease(tg, testLease("runner-one", false))
	require.NoError(t, err)
	release := make(chan struct{})
	h := holdLease(t, context.Background(), first, release)
	time.AfterFunc(2*time.Second, func() { close(release) })

	second, err := p.Lease(tg, testLease("runner-two", true))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	begin := time.Now()
	started, err := runStart(ctx, second)
	require.NoError(t, err)
	h.wait(t)
	require.NoError(t, h.err)
	t.Logf("waiting runner started %s after the holder's fn returned, %s after its Run returned (waited %s)",
		started.Sub(h.ended).Round(time.Millisecond), started.Sub(h.returned).Round(time.Millisecond), started.Sub(begin).Round(time.Millisecond))
	assert.True(t, started.After(h.ended), "started while the holder's fn ran")
	assert.LessOrEqual(t, started.Sub(h.ended), time.Second)
}

// TestLeaseClaimRace: two runners claiming the same expired lease at once: the
// resourceVersion guard lets exactly one in; the other finds it held by a live
// runner and fails with ErrConflict.
func TestLeaseClaimRace(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	p := newProvider(t, e.Config(), fastOptions())
	leaseAt(t, cs, ns, "race", "killed-runner", time.Now().Add(-10*time.Second), 3, 0)
	var (
		mu      sync.Mutex
		running int
		overlap bool
		errs    = make([]error, 2)
		wg      sync.WaitGroup
	)
	loserDone := make(chan struct{}, 2)
	for i := range errs {
		l, err := p.Lease(target(ns, "payments"), namedLease(fmt.Sprintf("runner-%d", i), "race", false))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Run(context.Background(), func(context.Context) error {
				mu.Lock()
				running++
				overlap = overlap || running > 1
				mu.Unlock()
				select { // hold the lease until the other runner gave up
				case <-loserDone:
				case <-time.After(10 * time.Second):
				}
				mu.Lock()
				running--
				mu.Unlock()
				return nil
			})
			if errs[i] != nil {
				loserDone <- struct{}{}
			}
		}()
	}
	wg.Wait()
	assert.False(t, overlap, "both runners held the lease")
	var won, refused int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, progressive.ErrConflict):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, won)
	assert.Equal(t, 1, refused)
	assert.Equal(t, int32(1), *leaseSpec(t, cs, ns, "race").LeaseTransitions)
}

// The elector's own lines ("Attempting to acquire leader lease",
// "Successfully acquired lease") go to the provider's slog logger at debug
// level, not to klog's stderr, and a normal release is no error there.
func TestLeaseLogsThroughTheProvidersLogger(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf syncBuffer
		opts := fastOptions()
		opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		p := newProvider(t, e.Config(), opts)
		lease, err := p.Lease(target(ns, "payments"), namedLease("runner-one", "logs-"+strings.ToLower(level.String()), false))
		require.NoError(t, err)
		require.NoError(t, lease.Run(context.Background(), func(context.Context) error { return nil }))
		if level == slog.LevelDebug {
			assert.Contains(t, buf.String(), `level=DEBUG msg="Successfully acquired lease"`)
		} else {
			assert.NotContains(t, buf.String(), "acquired lease", "debug lines stay out of an info logger")
		}
		assert.NotContains(t, buf.String(), "level=ERROR")
	}
}

// syncBuffer is a bytes.Buffer safe for the elector's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
