package kubernetes_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// TestProgressDeadlineRollsBack: a canary whose pods never become Ready exceeds
// its progress deadline; the runner rolls back before any traffic moved.
func TestProgressDeadlineRollsBack(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "search", 4, "registry.example/search:v1")
	opts := fastOptions()
	opts.CanaryProgressDeadline = 2 * time.Second
	p := newProvider(t, e.Config(), opts)
	r := newRunner(t, p, nil, newFixedMetrics(0.1, 0.1), nil)
	plan, err := strategy.Canary{Weights: []float64{10}, Soak: time.Second, Checks: errorRate(), Replicas: 2}.
		Plan(target(ns, "search"), progressive.Release{Version: "v2", Image: "registry.example/search:v2-" + testenv.NeverReadyImageMarker})
	require.NoError(t, err)
	st, err := r.Execute(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	assert.Contains(t, st.Rollback.Reason, "progress deadline")
	assert.Zero(t, st.Applied.MaxCanaryWeight, "no traffic was ever moved")
	if assert.NotNil(t, st.Applied.Routes, "the routes were prepared with the deploy") {
		assert.Equal(t, progressive.AllStable(), *st.Applied.Routes)
	}
	canary, err := cs.AppsV1().Deployments(ns).Get(ctx, "search-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *canary.Spec.Replicas)
	got, err := p.Router().GetRoutes(ctx, target(ns, "search"))
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "search", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/search:v1", d.Spec.Template.Spec.Containers[0].Image, "stable untouched")
}

// conflictOnce is a transport that, before the first update of a Service passes,
// lets another writer change that Service, so the update is refused with 409.
type conflictOnce struct {
	next  http.RoundTripper
	other kubernetes.Interface
	once  sync.Once
	hit   bool
}

func (c *conflictOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/services/") {
		c.once.Do(func() {
			parts := strings.Split(r.URL.Path, "/")
			ns, name := parts[4], parts[6]
			svc, err := c.other.CoreV1().Services(ns).Get(r.Context(), name, metav1.GetOptions{})
			if err == nil {
				if svc.Annotations == nil {
					svc.Annotations = map[string]string{}
				}
				svc.Annotations["team.example/owner"] = "payments"
				_, err = c.other.CoreV1().Services(ns).Update(r.Context(), svc, metav1.UpdateOptions{})
			}
			c.hit = err == nil
		})
	}
	return c.next.RoundTrip(r)
}

// stateRace saves the rollout's state through another store just before the next
// state update passes, once armed.
type stateRace struct {
	next  http.RoundTripper
	store *k8s.Store
	id    string
	mu    sync.Mutex
	armed bool
	done  bool
}

func (s *stateRace) arm() { s.mu.Lock(); s.armed = true; s.mu.Unlock() }

func (s *stateRace) fired() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.done }

func (s *stateRace) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/configmaps/") {
		s.mu.Lock()
		if s.armed && !s.done {
			s.done = true
			if st, err := s.store.Get(r.Context(), s.id); err == nil {
				st.Record.Learning = append(st.Record.Learning, "edited by someone else")
				_, _ = s.store.Update(r.Context(), st)
			}
		}
		s.mu.Unlock()
	}
	return s.next.RoundTrip(r)
}

// TestConflictingWrites: a write by someone else between the provider's read and
// write of the Service is detected by the apiserver (resourceVersion) and retried
// on a fresh read, keeping the other writer's change; a write by someone else to a
// rollout's state makes the runner's save lose (ErrConflict), and Run reloads and
// carries on from that state, leaving traffic where it was (never
// half-switched); a person in another process can still abort it.
func TestConflictingWrites(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "cart", 4, "registry.example/cart:v1")

	cfg := e.Config()
	inject := &conflictOnce{other: cs}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { inject.next = rt; return inject })
	p := newProvider(t, cfg, fastOptions())
	tg := target(ns, "cart")
	require.NoError(t, p.Router().Initialize(ctx, tg))
	require.True(t, inject.hit, "the competing write happened")
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "cart", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "payments", svc.Annotations["team.example/owner"], "the other writer's change survives")
	assert.Equal(t, "stable", svc.Spec.Selector[k8s.RoleLabel], "and ours landed on the retry")

	// Someone else saves the rollout's state between the runner's read and its
	// write (a transport arms the competing write just before the runner's next
	// save goes out).
	other := newProvider(t, e.Config(), fastOptions())
	otherStore, err := other.Store(ns)
	require.NoError(t, err)
	cfg2 := e.Config()
	race := &stateRace{store: otherStore}
	cfg2.Wrap(func(rt http.RoundTripper) http.RoundTripper { race.next = rt; return race })
	p2 := newProvider(t, cfg2, fastOptions())
	store, err := p2.Store(ns)
	require.NoError(t, err)
	r := newRunner(t, p2, store, newFixedMetrics(0.1, 0.1), nil)
	plan, err := strategy.Canary{Weights: []float64{25}, Soak: time.Minute, Checks: errorRate(), Replicas: 1}.
		Plan(tg, progressive.Release{Version: "v2", Image: "registry.example/cart:v2"})
	require.NoError(t, err)
	race.id = plan.Name
	_, err = r.Start(ctx, plan)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := r.Run(ctx, plan.Name); done <- err }()
	eventually(t, testTimeout, func() error {
		st, err := store.Get(ctx, plan.Name)
		if err != nil {
			return err
		}
		if st.Step.Analysis == nil {
			return errorf("step %d not analyzing yet", st.Step.Index+1)
		}
		return nil
	})
	before, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	require.InDelta(t, 20, before.CanaryWeight, 1e-9, "25%% of 4 stable pods: 1 canary pod, 1 of 5 endpoints")
	race.arm()
	// The runner's save loses to the other writer (ErrConflict from the store);
	// Run reloads and carries on from the other writer's state, whose edit
	// survives the runner's next saves.
	eventually(t, testTimeout, func() error {
		if !race.fired() {
			return errorf("the competing write has not happened yet")
		}
		st, err := store.Get(ctx, plan.Name)
		if err != nil {
			return err
		}
		for _, l := range st.Record.Learning {
			if l == "edited by someone else" {
				return nil
			}
		}
		return errorf("the other writer's edit is not in the state: %v", st.Record.Learning)
	})
	select {
	case err := <-done:
		t.Fatalf("the runner stopped on the lost write: %v", err)
	default:
	}
	after, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, before, after, "traffic stays exactly where it was")

	// A fresh runner (fresh store, another provider) aborts it: the running
	// runner carries the command out.
	store2, err := p.Store(ns)
	require.NoError(t, err)
	r2 := newRunner(t, p, store2, newFixedMetrics(0.1, 0.1), nil)
	require.NoError(t, r2.Abort(ctx, plan.Name, "someone else edited the rollout"))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(testTimeout):
		t.Fatal("the runner did not carry out the abort")
	}
	// The runner's own store reads its writes (another process's informer
	// may be a moment behind).
	st, err := store.Get(ctx, plan.Name)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseAborted, st.Phase)
	got, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
}

func migrationJob(labels map[string]string) batchv1.JobSpec {
	return batchv1.JobSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "migrate", Image: "registry.example/orders-migrations:v2"}}},
	}}
}

// TestFailedMigrationStopsBeforeTraffic: a blue-green rollout whose migration Job
// fails never deploys green and never touches the Service.
func TestFailedMigrationStopsBeforeTraffic(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "orders", 3, "registry.example/orders:v1")
	p := newProvider(t, e.Config(), fastOptions())
	hooks := map[string]rollout.Hook{"migrate": p.JobHook(migrationJob(map[string]string{testenv.CustomStageLabel: "fail"}), k8s.JobHookOptions{})}
	r := newRunner(t, p, nil, newFixedMetrics(0.1, 0.1), hooks)
	plan, err := strategy.BlueGreen{Replicas: 3, Migration: &progressive.HookSpec{Name: "migrate", Timeout: 30 * time.Second},
		Checks: errorRate(), Monitor: time.Second, DecommissionDelay: time.Second}.
		Plan(target(ns, "orders"), progressive.Release{Version: "v2", Image: "registry.example/orders:v2"})
	require.NoError(t, err)
	st, err := r.Execute(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	assert.Contains(t, st.Rollback.Reason, "BackoffLimitExceeded")
	assert.Contains(t, st.Rollback.Reason, "column already exists")
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1)
	if ttl := jobs.Items[0].Spec.TTLSecondsAfterFinished; assert.NotNil(t, ttl, "the finished Job is deleted by Kubernetes after a while") {
		assert.Equal(t, int32(k8s.DefaultJobTTL/time.Second), *ttl)
	}
	_, err = cs.AppsV1().Deployments(ns).Get(ctx, "orders-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "green was never deployed")
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "orders"}, svc.Spec.Selector, "the Service was never touched")
}

// TestDryRun: with Options.DryRun the apiserver validates every write and
// nothing changes.
func TestDryRun(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "web", 2, "registry.example/web:v1")
	opts := fastOptions()
	opts.DryRun = true
	p := newProvider(t, e.Config(), opts)
	tg := target(ns, "web")
	require.NoError(t, p.Workload().DeployCanary(ctx, tg, progressive.Release{Version: "v2", Image: "registry.example/web:v2"}, 2))
	require.NoError(t, p.Router().SetRoutes(ctx, tg, progressive.AllStable()))
	assert.Positive(t, p.Stats().Writes, "the writes went to the apiserver")
	_, err := cs.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no canary was created")
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, d.Spec.Template.Labels, k8s.RoleLabel, "stable was not relabelled")
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "web"}, svc.Spec.Selector)

	// The apiserver's validation still answers: a canary progress deadline below
	// the Deployment's minReadySeconds is refused, and nothing was written.
	_, err = cs.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"minReadySeconds":5}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	opts.CanaryProgressDeadline = 2 * time.Second
	p2 := newProvider(t, e.Config(), opts)
	err = p2.Workload().DeployCanary(ctx, tg, progressive.Release{Version: "v2", Image: "registry.example/web:v2"}, 2)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "minReadySeconds")
}
