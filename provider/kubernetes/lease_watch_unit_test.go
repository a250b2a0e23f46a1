package kubernetes

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/agentops/progressive"
)

// heldLease is a record held by holder, renewed at renewed, for seconds.
func heldLease(name, holder string, renewed time.Time, seconds int32) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renewed)
	var zero int32
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds,
			AcquireTime: &rt, RenewTime: &rt, LeaseTransitions: &zero},
	}
}

// countLeaseGets counts the direct GETs of Leases on cs.
func countLeaseGets(cs *fake.Clientset) *atomic.Int64 {
	var n atomic.Int64
	cs.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		n.Add(1)
		return false, nil, nil
	})
	return &n
}

// A waiting claim reads nothing while the holder keeps a long Lease, and wakes
// as soon as the informer shows the record released: well before the 30 s
// record would have expired.
func TestLeaseWatchWakesOnRelease(t *testing.T) {
	cs := fake.NewClientset(heldLease("progressive-orders", "other", time.Now(), 30))
	gets := countLeaseGets(cs)
	p := NewForClientset(cs, Options{})
	defer p.Close()
	l, err := p.Lease(progressive.Target{Namespace: "shop", Name: "orders"},
		LeaseOptions{Identity: "me", LeaseDuration: 30 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond, Wait: true})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := make(chan time.Time, 1)
	runErr := make(chan error, 1)
	go func() {
		runErr <- l.Run(ctx, func(context.Context) error { started <- time.Now(); return nil })
	}()
	time.Sleep(500 * time.Millisecond) // the first direct read, the informer's List
	before := gets.Load()
	time.Sleep(time.Second) // five RetryPeriods: a polling claim would GET five times
	assert.Equal(t, before, gets.Load(), "no GET while waiting")

	released := heldLease("progressive-orders", "", time.Now(), 1)
	_, err = cs.CoordinationV1().Leases("shop").Update(ctx, released, metav1.UpdateOptions{})
	require.NoError(t, err)
	at := time.Now()
	select {
	case s := <-started:
		t.Logf("started %s after the release", s.Sub(at).Round(time.Millisecond))
		assert.Less(t, s.Sub(at), 2*time.Second, "woken by the release, not by the record's expiry")
	case err := <-runErr:
		t.Fatalf("Run returned before fn started: %v", err)
	case <-ctx.Done():
		t.Fatal("not started after the release")
	}
	require.NoError(t, <-runErr)
}

// Under a Role without list and watch on Leases the informer is refused: it
// stops, and the claim polls its Lease every RetryPeriod as before, taking it
// at the record's expiry.
func TestLeaseWatchRefusedPolls(t *testing.T) {
	cs := fake.NewClientset(heldLease("progressive-orders", "other", time.Now(), 2))
	cs.PrependReactor("list", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "", nil)
	})
	gets := countLeaseGets(cs)
	p := NewForClientset(cs, Options{})
	defer p.Close()
	l, err := p.Lease(progressive.Target{Namespace: "shop", Name: "orders"},
		LeaseOptions{Identity: "me", LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond, Wait: true})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begin := time.Now()
	var started time.Time
	require.NoError(t, l.Run(ctx, func(context.Context) error { started = time.Now(); return nil }))
	t.Logf("taken after %s, %d GETs", started.Sub(begin).Round(time.Millisecond), gets.Load())
	assert.GreaterOrEqual(t, started.Sub(begin), 1500*time.Millisecond, "taken before the record expired")
	assert.GreaterOrEqual(t, gets.Load(), int64(5), "polled every RetryPeriod while the informer was refused")
	w := p.leases.get(p, "shop")
	require.NotNil(t, w)
	assert.True(t, w.disabled.Load(), "the refused informer stopped")
}
