package kubernetes_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// TestWatchStatusNotifiesWhenCanaryReady: a WatchStatus subscriber hears of the
// canary's pods becoming ready within a second of an independent 20 ms poll
// seeing it, and many subscriptions cost no request beyond the first one's
// List and watch.
func TestWatchStatusNotifiesWhenCanaryReady(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seed(t, cs, ns, "checkout", 2, "registry.example/checkout:v1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := newProvider(t, e.Config(), fastOptions())
	w := p.Workload()
	tgt := target(ns, "checkout")

	before := p.Stats()
	ch, err := w.WatchStatus(ctx, tgt)
	require.NoError(t, err)
	first := p.Stats()
	t.Logf("the first subscription cost %d read(s) (the namespace's Deployments: a List and a watch, or one streaming watch)", first.Reads-before.Reads)
	for i := range 50 {
		name := fmt.Sprintf("svc-%d", i)
		if i%10 == 0 {
			name = "checkout" // a few more on the same target
		}
		_, err := w.WatchStatus(ctx, target(ns, name))
		require.NoError(t, err)
	}
	assert.Equal(t, first, p.Stats(), "50 more subscriptions share the informer: no List, no watch")

	// An independent poll says when the canary becomes ready, as Status counts it.
	poller := k8s.NewForClientset(cs, k8s.Options{NoEvents: true}).Workload()
	var readyAt atomic.Pointer[time.Time]
	go func() {
		for ctx.Err() == nil {
			if s, err := poller.Status(ctx, tgt); err == nil && s.Canary.Ready >= 2 {
				now := time.Now()
				readyAt.Store(&now)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	drainChan(ch)
	start := time.Now()
	require.NoError(t, w.DeployCanary(ctx, tgt, progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"}, 2))
	notifications := 0
	var heardAt time.Time
	for heardAt.IsZero() {
		select {
		case <-ch:
			notifications++
			s, err := w.Status(ctx, tgt)
			require.NoError(t, err)
			if s.Canary.Ready >= 2 {
				heardAt = time.Now()
			}
		case <-ctx.Done():
			t.Fatalf("no notification told of the ready canary (%d notifications)", notifications)
		}
	}
	require.Eventually(t, func() bool { return readyAt.Load() != nil }, 10*time.Second, 10*time.Millisecond)
	lag := heardAt.Sub(*readyAt.Load())
	t.Logf("canary ready %s after DeployCanary; the subscriber knew %s after the 20 ms poll (%d notifications)",
		readyAt.Load().Sub(start).Round(time.Millisecond), lag.Round(time.Millisecond), notifications)
	assert.Less(t, lag, time.Second, "the subscriber hears of readiness within a second")
}

// TestRunWithStatusWatchDoesNotWaitForPolls: with a one-minute poll interval, a
// deploy and a promote step on the real apiserver end as soon as the pods are
// ready, because the runner wakes on the workload's notifications.
func TestRunWithStatusWatchDoesNotWaitForPolls(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seed(t, cs, ns, "cart", 2, "registry.example/cart:v1")
	p := newProvider(t, e.Config(), fastOptions())
	const poll = time.Minute
	r, err := rollout.New(rollout.Options{
		Providers:    rollout.Providers{Workloads: []progressive.Workload{p.Workload()}},
		PollInterval: poll,
		Logger:       quietLogger(),
	})
	require.NoError(t, err)
	plan := progressive.Plan{
		Name:    "cart-v2",
		Target:  target(ns, "cart"),
		Release: progressive.Release{Version: "v2", Image: "registry.example/cart:v2"},
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 2}},
			{Promote: &progressive.PromoteStep{}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	st, err := r.Execute(ctx, plan)
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %+v", st.Record.Decisions)
	t.Logf("deploy and promote took %s with a %s poll interval; %d reads, %d writes", took.Round(time.Millisecond), poll, p.Stats().Reads, p.Stats().Writes)
	assert.Less(t, took, 30*time.Second, "the steps did not wait for the poll interval")
}

// TestWatchStatusWithoutWatchPermission: a ServiceAccount that may not list or
// watch Deployments (bound to nothing) gets ErrInvalid naming the refusal at
// once, and the runner polls instead; under role.yaml the watch works.
func TestWatchStatusWithoutWatchPermission(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seed(t, cs, ns, "orders", 1, "registry.example/orders:v1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	exp := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	require.NoError(t, err)
	admin := e.Config()
	unbound := &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: tok.Status.Token}
	p := newProvider(t, unbound, fastOptions())
	start := time.Now()
	_, err = p.Workload().WatchStatus(ctx, target(ns, "orders"))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "forbidden")
	assert.Less(t, time.Since(start), 10*time.Second, "no waiting for a List that cannot succeed")
	t.Logf("%s after %s", err, time.Since(start).Round(time.Millisecond))

	scoped := newProvider(t, serviceAccountConfig(t, e.Config(), cs, ns), fastOptions())
	ch, err := scoped.Workload().WatchStatus(ctx, target(ns, "orders"))
	require.NoError(t, err, "role.yaml grants list and watch on Deployments")
	require.NotNil(t, ch)
}

func drainChan(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
