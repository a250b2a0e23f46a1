package kubernetes_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// slowRenewals delays the first Lease write after it is armed by late (the
// write still lands, its RenewTime already stale), and fails every later one
// after fail: an API server that grew slow, then unreachable, for the holder.
type slowRenewals struct {
	next       http.RoundTripper
	armed      atomic.Bool
	writes     atomic.Int32
	late, fail time.Duration
}

func (s *slowRenewals) RoundTrip(req *http.Request) (*http.Response, error) {
	if !s.armed.Load() || req.Method != http.MethodPut || !strings.Contains(req.URL.Path, "/leases/") {
		return s.next.RoundTrip(req)
	}
	delay := s.late
	if s.writes.Add(1) > 1 {
		delay = s.fail
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-t.C:
	}
	if delay == s.fail {
		return nil, errors.New("slowRenewals: the API server did not answer")
	}
	return s.next.RoundTrip(req)
}

// TestSlowRenewalsNeverLetTwoRunnersDrive: the holder's renewal lands 1.7 s
// after it was sent (its RenewTime is 1.7 s old when the API server stores
// it) and every later renewal fails. The record expires 3 s after that
// RenewTime, when the waiting runner takes over; client-go's elector alone
// gives up 2 s after the late renewal *returned* plus a 0.5 s retry period,
// about 1.2 s after the takeover. The holder stops its fn first.
func TestSlowRenewalsNeverLetTwoRunnersDrive(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	slow := &slowRenewals{late: 1700 * time.Millisecond, fail: 2500 * time.Millisecond}
	cfg := rest.CopyConfig(e.Config())
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { slow.next = rt; return slow })
	holderP := newProvider(t, cfg, fastOptions())
	waiterP := newProvider(t, e.Config(), fastOptions())
	tg := target(ns, "payments")

	holder, err := holderP.Lease(tg, testLease("slow-holder", false))
	require.NoError(t, err)
	release := make(chan struct{})
	defer close(release)
	h := holdLease(t, context.Background(), holder, release)
	slow.armed.Store(true)

	waiter, err := waiterP.Lease(tg, testLease("waiter", true))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	took, err := runStart(ctx, waiter)
	require.NoError(t, err)
	h.wait(t)

	require.ErrorIs(t, h.err, k8s.ErrLeaseLost, "the holder learns it lost the lease")
	require.False(t, h.ended.IsZero())
	t.Logf("holder stopped %s before the waiter took over", took.Sub(h.ended).Round(time.Millisecond))
	assert.True(t, h.ended.Before(took), "the holder drove until %s, after the waiter took over at %s",
		h.ended.Format("15:04:05.000"), took.Format("15:04:05.000"))
	assert.GreaterOrEqual(t, slow.writes.Load(), int32(2), "the late renewal and at least one failed one")
}
