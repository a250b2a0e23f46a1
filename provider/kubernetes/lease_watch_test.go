package kubernetes_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLeaseWaitersWatch: claims waiting for Leases another runner holds read
// nothing while they wait (one Lease informer per process carries every
// change, where each claim used to read its Lease every RetryPeriod: with a
// thousand rollouts and three replicas that read storm made the API server
// time out the holders' renewals), and each still starts within a second of
// its holder releasing the Lease.
func TestLeaseWaitersWatch(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	holderP := newProvider(t, e.Config(), fastOptions())
	// The waiters' own provider, so that its Stats count only their requests.
	waiterP := newProvider(t, e.Config(), fastOptions())
	const n = 3
	release := make(chan struct{})
	holds := make([]*leaseHolding, n)
	for i := range holds {
		l, err := holderP.Lease(target(ns, fmt.Sprintf("svc-%d", i)), testLease("holder", false))
		require.NoError(t, err)
		holds[i] = holdLease(t, context.Background(), l, release)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var wg sync.WaitGroup
	started := make([]time.Time, n)
	errs := make([]error, n)
	for i := range n {
		l, err := waiterP.Lease(target(ns, fmt.Sprintf("svc-%d", i)), testLease("waiter", true))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started[i], errs[i] = runStart(ctx, l)
		}()
	}
	// Give the waiters their first (direct) read and the informer its List.
	time.Sleep(time.Second)
	before := waiterP.Stats()
	// Four RetryPeriods: polling claims would have read each Lease four times.
	time.Sleep(2 * time.Second)
	during := waiterP.Stats()
	close(release)
	for _, h := range holds {
		h.wait(t)
		require.NoError(t, h.err)
	}
	wg.Wait()
	t.Logf("waiters' requests: %+v before the 2 s window, %+v after it, %+v in all", before, during, waiterP.Stats())
	assert.Equal(t, before, during, "no request while the claims wait")
	for i := range n {
		require.NoError(t, errs[i], "waiter %d", i)
		t.Logf("waiter %d started %s after its holder's fn returned", i, started[i].Sub(holds[i].ended).Round(time.Millisecond))
		assert.True(t, started[i].After(holds[i].ended), "waiter %d started while the holder's fn ran", i)
		assert.LessOrEqual(t, started[i].Sub(holds[i].ended), time.Second, "waiter %d woken by the release", i)
	}
}

// TestLeaseWatchedDeadHolder: a waiting claim whose holder died (never
// renews) takes the Lease at its record's expiry also when it reads the
// record from the informer: renewals wake nobody, so the claim's own timer at
// the record's expiry must do it.
func TestLeaseWatchedDeadHolder(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	p := newProvider(t, e.Config(), fastOptions())
	// A live-looking record (renewed just now) that nobody will renew: the
	// claim waits, watching, for the full 3 s.
	renewed := time.Now()
	expiry := renewed.Add(3 * time.Second)
	leaseAt(t, cs, ns, "watched-dead", "killed-runner", renewed, 3, 0)
	l, err := p.Lease(target(ns, "payments"), namedLease("restarted", "watched-dead", true))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	started, err := runStart(ctx, l)
	require.NoError(t, err)
	t.Logf("taken %s after the record's expiry", started.Sub(expiry).Round(time.Millisecond))
	assert.False(t, started.Before(expiry.Add(-20*time.Millisecond)), "taken %s before the record expired", expiry.Sub(started))
	assert.LessOrEqual(t, started.Sub(expiry), time.Second, "taken over too late")
}
