package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/agentops/progressive"
)

var _ progressive.StatusWatcher = (*Workload)(nil)

// WatchStatus implements progressive.StatusWatcher: the channel receives a value
// after any change to the target's stable or canary Deployment (its spec, or the
// status the Deployment controller writes when a ReplicaSet's pods become ready,
// which is what Status counts), and is closed when ctx ends or the Provider
// closes.
//
// All subscriptions of a Provider in one namespace share one Deployment
// informer (a List then one long watch request, or one watch that starts with
// the list where the apiserver streams it), started by the first
// subscription and stopped when the last one ends or the Provider closes: a
// process driving a hundred rollouts holds one watch per namespace, not a
// hundred polls. Its requests go through the provider's client, so Stats count
// them as reads: the List, and each watch once when it opens, however many
// events it carries (client-go reopens a watch every few minutes).
//
// Alongside it runs a ReplicaSet informer on the same namespace, with the same
// lifetime; its changes notify the owning Deployment's subscribers too. While
// the informers run, Status reads from their caches and makes no request (see
// Status for when it still reads directly). The ReplicaSet informer is
// optional: when the Role does not grant list and watch on replicasets
// (role.yaml grants list only), it stops and Status lists ReplicaSets directly,
// one request per call.
//
// WatchStatus returns once the informers have listed the namespace, so that
// every change after it returns is delivered. It fails when the Deployment List
// fails, typically because the Role lacks list and watch on deployments (which
// role.yaml grants); callers then poll.
func (w *Workload) WatchStatus(ctx context.Context, t progressive.Target) (<-chan struct{}, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes: watch status of %q: %w", t.String(), err)
	}
	if t.Namespace == "" {
		// An informer on namespace "" would watch every Deployment of the cluster.
		return nil, fmt.Errorf("kubernetes: watch status of %q: the target needs a namespace: %w", t.String(), errInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kubernetes: watch status of %s: %w", t, err)
	}
	s, err := w.p.watches.subscribe(w.p, t)
	if err != nil {
		return nil, err
	}
	nw := s.nw
	select {
	case <-nw.synced:
	case <-nw.failed:
		w.p.watches.fail(nw)
		return nil, classify(nw.err, "kubernetes: watch Deployments in %s for %s (status notifications need list and watch on deployments, beyond role.yaml)", t.Namespace, t)
	case <-ctx.Done():
		w.p.watches.unsubscribe(s)
		return nil, fmt.Errorf("kubernetes: watch status of %s: %w", t, ctx.Err())
	}
	go func() {
		select {
		case <-ctx.Done():
			w.p.watches.unsubscribe(s)
		case <-s.done:
		}
	}()
	return s.ch, nil
}

// statusWatches are a Provider's Deployment informers, one per namespace with
// subscribers. The zero value is ready; mu guards everything but the counter.
type statusWatches struct {
	mu     sync.Mutex
	closed bool
	byNS   map[string]*nsWatch

	// started counts the informers ever started, for tests.
	started atomic.Int64
}

// nsWatch is the informer of one namespace and its subscriptions.
type nsWatch struct {
	ns     string
	cancel context.CancelFunc
	// factory is stopped by cancel; Shutdown waits for its goroutines.
	factory informers.SharedInformerFactory
	// synced is closed once the informer has listed the namespace.
	synced chan struct{}
	// failed is closed, after err is set, when the first List fails.
	failed chan struct{}
	// deployments reads the Deployment informer's cache.
	deployments appslisters.DeploymentLister
	// rs is the optional ReplicaSet informer.
	rs       *rsInformer
	failOnce sync.Once
	err      error
	stopOnce sync.Once
	// subs are the subscriptions by Deployment name (guarded by statusWatches.mu).
	subs map[string]map[*statusSub]struct{}
}

// statusSub is one WatchStatus subscription: the stable and canary Deployments
// of a target.
type statusSub struct {
	nw    *nsWatch
	names [2]string
	ch    chan struct{}
	// done is closed with ch, when the subscription ends.
	done   chan struct{}
	closed bool
}

// subscribe registers a subscription for t, starting the namespace's informer if
// it has none yet. The subscription exists before the informer lists, so no
// change after the List is missed.
func (sw *statusWatches) subscribe(p *Provider, t progressive.Target) (*statusSub, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return nil, fmt.Errorf("kubernetes: watch status of %s: the provider is closed: %w", t, errInvalid)
	}
	nw := sw.byNS[t.Namespace]
	if nw == nil {
		nw = sw.start(p, t.Namespace)
		if sw.byNS == nil {
			sw.byNS = map[string]*nsWatch{}
		}
		sw.byNS[t.Namespace] = nw
	}
	s := &statusSub{nw: nw, names: [2]string{t.Name, CanaryName(t)}, ch: make(chan struct{}, 1), done: make(chan struct{})}
	for _, name := range s.names {
		if nw.subs[name] == nil {
			nw.subs[name] = map[*statusSub]struct{}{}
		}
		nw.subs[name][s] = struct{}{}
	}
	return s, nil
}

// start runs a Deployment informer on namespace ns. sw.mu is held.
func (sw *statusWatches) start(p *Provider, ns string) *nsWatch {
	ctx, cancel := context.WithCancel(context.Background())
	nw := &nsWatch{
		ns:     ns,
		cancel: cancel,
		synced: make(chan struct{}),
		failed: make(chan struct{}),
		subs:   map[string]map[*statusSub]struct{}{},
	}
	// No resync: a resync would wake every subscriber without a change. The
	// transform drops managedFields, which nothing reads; Status reads the rest.
	nw.factory = informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithNamespace(ns), informers.WithTransform(dropManagedFields))
	dinf := nw.factory.Apps().V1().Deployments()
	inf := dinf.Informer()
	nw.deployments = dinf.Lister()
	log := p.opts.Logger.With("namespace", ns)
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if !inf.HasSynced() {
			nw.failOnce.Do(func() { nw.err = err; close(nw.failed) })
			return
		}
		if !errors.Is(err, io.EOF) && ctx.Err() == nil {
			// The reflector lists and watches again on its own.
			log.Debug("kubernetes: Deployment watch interrupted; reconnecting", "err", err)
		}
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				sw.notify(nw, obj)
			}
		},
		UpdateFunc: func(_, obj any) { sw.notify(nw, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(metav1.Object); ok {
				// A write of the provider's before the delete must not be
				// read as the Deployment.
				p.written.forget(o.GetNamespace(), o.GetName())
			}
			sw.notify(nw, obj)
		},
	})
	nw.factory.StartWithContext(ctx)
	nw.rs = startReplicaSets(ctx, p, ns, func(name string) { sw.notifyName(nw, name) })
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return
		}
		// The ReplicaSets have listed too, or will not be read from the cache.
		select {
		case <-nw.rs.synced:
		case <-nw.rs.off:
		case <-ctx.Done():
			return
		}
		close(nw.synced)
	}()
	sw.started.Add(1)
	return nw
}

// dropManagedFields is the informers' transform: the object without its
// managedFields, which the provider never reads.
func dropManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// notify tells the subscribers of the Deployment obj names, without blocking: a
// subscriber that has not read the previous value gets nothing more, since one
// pending value already says "read Status again".
func (sw *statusWatches) notify(nw *nsWatch, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	sw.notifyName(nw, name)
}

// notifyName tells the subscribers of Deployment name, as notify does.
func (sw *statusWatches) notifyName(nw *nsWatch, name string) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for s := range nw.subs[name] {
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
}

// unsubscribe ends s, and stops its informer when s was the last subscription.
func (sw *statusWatches) unsubscribe(s *statusSub) {
	sw.mu.Lock()
	nw := s.nw
	sw.endLocked(s)
	idle := len(nw.subs) == 0 && sw.byNS[nw.ns] == nw
	if idle {
		delete(sw.byNS, nw.ns)
	}
	sw.mu.Unlock()
	if idle {
		nw.stop()
	}
}

// fail forgets nw after its List failed, ending its subscriptions, so that the
// next subscription tries again with a new informer.
func (sw *statusWatches) fail(nw *nsWatch) {
	sw.mu.Lock()
	sw.dropLocked(nw)
	sw.mu.Unlock()
	nw.stop()
}

// close stops every informer and ends every subscription (Provider.Close).
func (sw *statusWatches) close() {
	sw.mu.Lock()
	sw.closed = true
	all := make([]*nsWatch, 0, len(sw.byNS))
	for _, nw := range sw.byNS {
		all = append(all, nw)
		sw.dropLocked(nw)
	}
	sw.mu.Unlock()
	for _, nw := range all {
		nw.stop()
	}
}

// dropLocked ends nw's subscriptions and removes it. sw.mu is held.
func (sw *statusWatches) dropLocked(nw *nsWatch) {
	for _, subs := range nw.subs {
		for s := range subs {
			sw.endLocked(s)
		}
	}
	if sw.byNS[nw.ns] == nw {
		delete(sw.byNS, nw.ns)
	}
}

// endLocked removes s from its informer and closes its channel, once. sw.mu is
// held, which notify holds too while sending, so nothing sends on a closed
// channel.
func (sw *statusWatches) endLocked(s *statusSub) {
	if s.closed {
		return
	}
	s.closed = true
	for _, name := range s.names {
		delete(s.nw.subs[name], s)
		if len(s.nw.subs[name]) == 0 {
			delete(s.nw.subs, name)
		}
	}
	close(s.ch)
	close(s.done)
}

// stop cancels the informer and waits for its goroutines. It must not be called
// with statusWatches.mu held: the event handler may be waiting for it.
func (nw *nsWatch) stop() {
	nw.stopOnce.Do(func() {
		nw.cancel()
		nw.factory.Shutdown()
		nw.rs.shutdown()
	})
}

// informersStarted reports how many informers the provider has started, for
// tests.
func (p *Provider) informersStarted() int64 { return p.watches.started.Load() }
