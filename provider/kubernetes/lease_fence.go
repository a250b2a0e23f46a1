package kubernetes

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// fencedLock is the elector's LeaseLock, remembering the RenewTime of the
// last record it wrote successfully: the time the other runners judge the
// record by.
//
// client-go's elector gives the lease up RenewDeadline after its last renewal
// *returned*, but the record it wrote expires LeaseDuration after the
// RenewTime it *sent*. When the API server is slow, the two drift apart by
// the renewal's latency: with 30s/20s/5s and a 6 s renewal, a waiting runner
// took the lease over while the holder still drove the rollout (seen with a
// thousand rollouts on two shared cores: six overlaps of up to 2 s).
type fencedLock struct {
	resourcelock.Interface
	mu      sync.Mutex
	renewed time.Time
}

func (l *fencedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, ler)
	if err == nil {
		l.wrote(ler)
	}
	return err
}

func (l *fencedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, ler)
	if err == nil {
		l.wrote(ler)
	}
	return err
}

func (l *fencedLock) wrote(ler resourcelock.LeaderElectionRecord) {
	if ler.HolderIdentity == "" {
		return // the release
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := ler.RenewTime.Time; t.After(l.renewed) {
		l.renewed = t
	}
}

func (l *fencedLock) lastRenewal() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewed
}

// fence cancels stop once the holder's own record is about to expire
// unrenewed: at the last RenewTime written + RenewDeadline + RetryPeriod,
// which is when client-go's elector would have given up had the renewal been
// instant, and LeaseDuration − RenewDeadline − RetryPeriod before a waiting
// runner may take over. It returns a function that disarms it and reports
// whether it fired.
func (l *fencedLock) fence(budget time.Duration, stop context.CancelFunc) (disarm func() bool) {
	var (
		mu    sync.Mutex
		fired bool
		done  bool
		timer *time.Timer
	)
	var check func()
	check = func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		left := time.Until(l.lastRenewal().Add(budget))
		if left > 0 {
			timer = time.AfterFunc(left, check)
			return
		}
		fired, done = true, true
		stop()
	}
	mu.Lock()
	timer = time.AfterFunc(time.Until(l.lastRenewal().Add(budget)), check)
	mu.Unlock()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		done = true
		timer.Stop()
		return fired
	}
}
