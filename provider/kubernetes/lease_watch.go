package kubernetes

import (
	"context"
	"sync"
	"sync/atomic"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

// leaseWatches are the Lease informers of a Provider's waiting claims, one per
// namespace, started the first time a claim in that namespace has to wait for
// another holder and stopped by Provider.Close.
//
// Why: a waiting claim used to read its Lease every RetryPeriod. With many
// rollouts and several replicas (each waiting for every rollout another
// replica holds), that was a read storm: 2,000 waiters at a 5 s RetryPeriod
// read 400 Leases a second, and the API server timed out the holders'
// renewals. One watch per process carries every change instead, and a waiter
// reads its record from the informer's cache: when the record changes hands
// (released, taken, deleted) and at the record's expiry.
type leaseWatches struct {
	mu     sync.Mutex
	closed bool
	byNS   map[string]*leaseWatch
}

// leaseWatch is the Lease informer of one namespace, and the claims waiting
// on it by Lease name. It is optional: when its List or watch is refused (a
// Role without list and watch on leases) it stops, and the claims read each
// record directly every RetryPeriod, as before.
type leaseWatch struct {
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   coordinationlisters.LeaseLister
	ns       string
	cancel   context.CancelFunc
	disabled atomic.Bool

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

// get returns the Lease informer of ns, starting it on first use; nil when the
// provider is closed. It does not wait for the informer's List: until it has
// listed, usable is false and the claims read directly.
func (lw *leaseWatches) get(p *Provider, ns string) *leaseWatch {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return nil
	}
	w := lw.byNS[ns]
	if w == nil {
		w = startLeaseWatch(p, ns)
		if lw.byNS == nil {
			lw.byNS = map[string]*leaseWatch{}
		}
		lw.byNS[ns] = w
	}
	return w
}

func (lw *leaseWatches) close() {
	lw.mu.Lock()
	lw.closed = true
	all := lw.byNS
	lw.byNS = nil
	lw.mu.Unlock()
	for _, w := range all {
		w.cancel()
		w.factory.Shutdown()
	}
}

func startLeaseWatch(p *Provider, ns string) *leaseWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &leaseWatch{ns: ns, cancel: cancel, waiters: map[string]map[chan struct{}]struct{}{}}
	w.factory = informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithNamespace(ns),
		informers.WithTransform(dropManagedFields))
	li := w.factory.Coordination().V1().Leases()
	w.informer = li.Informer()
	w.lister = li.Lister()
	log := p.opts.Logger.With("namespace", ns)
	_ = w.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		// Only a refusal stops it: after other errors the reflector lists and
		// watches again, and the claims read directly until it has listed.
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			if !w.disabled.Swap(true) {
				cancel()
				w.wakeAll()
				log.Debug("kubernetes lease: no Lease informer (waiting claims read their Lease every RetryPeriod; grant list and watch on leases to avoid it)", "err", err)
			}
		}
	})
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { w.changed(nil, obj) },
		UpdateFunc: func(old, obj any) {
			w.changed(old, obj)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			w.changed(nil, obj)
		},
	})
	w.factory.StartWithContext(ctx)
	return w
}

// changed wakes the claims waiting on a Lease whose record changed hands: it
// was created, deleted, released or taken. A renewal by the same holder wakes
// nobody (the waiters read the record again at its expiry anyway): with a
// thousand held Leases that is most of the events.
func (w *leaseWatch) changed(old, obj any) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	if prev, ok := old.(*coordinationv1.Lease); ok && sameHands(prev, lease) {
		return
	}
	w.wake(lease.Name)
}

// sameHands reports whether b only renews a: same holder, duration, acquire
// time and transitions.
func sameHands(a, b *coordinationv1.Lease) bool {
	ha, _, _ := leaseRecord(a)
	hb, _, _ := leaseRecord(b)
	if ha != hb || ha == "" {
		return false
	}
	eq32 := func(x, y *int32) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	sa, sb := a.Spec, b.Spec
	sameAcquire := (sa.AcquireTime == nil) == (sb.AcquireTime == nil) && (sa.AcquireTime == nil || sa.AcquireTime.Equal(sb.AcquireTime))
	return eq32(sa.LeaseDurationSeconds, sb.LeaseDurationSeconds) && eq32(sa.LeaseTransitions, sb.LeaseTransitions) && sameAcquire
}

func (w *leaseWatch) wake(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiters[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *leaseWatch) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, set := range w.waiters {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// subscribe returns a channel that receives (coalesced) when Lease name
// changes hands, and the function that ends the subscription.
func (w *leaseWatch) subscribe(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	set := w.waiters[name]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		w.waiters[name] = set
	}
	set[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiters[name], ch)
		if len(w.waiters[name]) == 0 {
			delete(w.waiters, name)
		}
	}
}

// usable reports whether a claim may read its record from the cache.
func (w *leaseWatch) usable() bool {
	return w != nil && !w.disabled.Load() && w.informer.HasSynced()
}

// read returns the cached Lease name (nil when the cache has none). The copy
// may lag the API server's: a claim that writes what it read is guarded by its
// resourceVersion, and reads directly after a conflict.
func (w *leaseWatch) read(name string) *coordinationv1.Lease {
	lease, err := w.lister.Leases(w.ns).Get(name)
	if err != nil {
		return nil
	}
	return lease
}
