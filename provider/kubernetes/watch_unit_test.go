package kubernetes

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/agentops/progressive"
)

// TestWatchStatusSharesOneInformerPerNamespace runs WatchStatus on a fake
// clientset: subscriptions share their namespace's informer, are told about
// their own Deployments only, end with their context, and the informer stops
// with its last subscription or the Provider.
func TestWatchStatusSharesOneInformerPerNamespace(t *testing.T) {
	dep := func(ns, name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	cs := fake.NewClientset(dep("shop", "checkout"), dep("shop", "checkout-canary"), dep("shop", "cart"))
	p := NewForClientset(cs, Options{NoEvents: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w := p.Workload()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	checkout, err := w.WatchStatus(ctx, progressive.Target{Namespace: "shop", Name: "checkout"})
	require.NoError(t, err)
	var others []<-chan struct{}
	for i := range 20 {
		ch, err := w.WatchStatus(ctx, progressive.Target{Namespace: "shop", Name: fmt.Sprintf("svc-%d", i)})
		require.NoError(t, err)
		others = append(others, ch)
	}
	cartCtx, cancelCart := context.WithCancel(ctx)
	cart, err := w.WatchStatus(cartCtx, progressive.Target{Namespace: "shop", Name: "cart"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, p.informersStarted(), "22 subscriptions in one namespace, one informer")

	// The fake clientset's watch may start just after the informer's List:
	// touch the canary until a notification comes.
	touch := func(name string) {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"touched":%q}}}`, time.Now().String())
		_, err := cs.AppsV1().Deployments("shop").Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		touch("checkout-canary")
		select {
		case <-checkout:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, 10*time.Second, time.Millisecond, "a change of the canary Deployment reaches the target's subscriber")
	for i, ch := range others {
		assert.Empty(t, ch, "svc-%d is not told about checkout", i)
	}

	cancelCart()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-cart:
			return !ok
		default:
			return false
		}
	}, 5*time.Second, time.Millisecond, "the subscription's channel is closed when its context ends")

	_, err = w.WatchStatus(ctx, progressive.Target{Namespace: "orders", Name: "orders"})
	require.NoError(t, err)
	assert.EqualValues(t, 2, p.informersStarted(), "another namespace, another informer")

	// An idle namespace's informer stops; the next subscription starts a new one.
	soloCtx, cancelSolo := context.WithCancel(ctx)
	solo, err := w.WatchStatus(soloCtx, progressive.Target{Namespace: "billing", Name: "billing"})
	require.NoError(t, err)
	cancelSolo()
	require.Eventually(t, func() bool { _, ok := <-solo; return !ok }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		p.watches.mu.Lock()
		defer p.watches.mu.Unlock()
		return p.watches.byNS["billing"] == nil
	}, 5*time.Second, time.Millisecond)
	_, err = w.WatchStatus(ctx, progressive.Target{Namespace: "billing", Name: "billing"})
	require.NoError(t, err)
	assert.EqualValues(t, 4, p.informersStarted())

	p.Close()
	for range checkout { // a pending notification, then the end
	}
	_, err = w.WatchStatus(ctx, progressive.Target{Namespace: "shop", Name: "checkout"})
	assert.ErrorIs(t, err, progressive.ErrInvalid, "no subscriptions after Close")
}

// TestWatchStatusEndsWithCanceledContext: a canceled context subscribes nothing.
func TestWatchStatusEndsWithCanceledContext(t *testing.T) {
	p := NewForClientset(fake.NewClientset(), Options{NoEvents: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Workload().WatchStatus(ctx, progressive.Target{Namespace: "shop", Name: "checkout"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 0, p.informersStarted())
	_, err = p.Workload().WatchStatus(context.Background(), progressive.Target{Name: "no-namespace"})
	assert.ErrorIs(t, err, progressive.ErrInvalid, "no cluster-wide informer")
	p.Close()
}
