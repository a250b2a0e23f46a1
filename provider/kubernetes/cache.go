package kubernetes

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/agentops/progressive"
)

// rsInformer is the ReplicaSet informer a namespace's status watch runs
// alongside its Deployment informer. It is optional: when its List or watch is
// refused it stops, off is closed, and Status lists ReplicaSets directly.
type rsInformer struct {
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   appslisters.ReplicaSetLister
	cancel   context.CancelFunc
	// synced is closed once it has listed the namespace.
	synced chan struct{}
	// off is closed, with disabled set, when it stopped for good.
	off      chan struct{}
	offOnce  sync.Once
	disabled atomic.Bool
}

// startReplicaSets runs a ReplicaSet informer on ns until parent ends. notify
// receives the name of the Deployment owning a ReplicaSet that changed.
func startReplicaSets(parent context.Context, p *Provider, ns string, notify func(deployment string)) *rsInformer {
	ctx, cancel := context.WithCancel(parent)
	r := &rsInformer{cancel: cancel, synced: make(chan struct{}), off: make(chan struct{})}
	r.factory = informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithNamespace(ns), informers.WithTransform(dropManagedFields))
	rsi := r.factory.Apps().V1().ReplicaSets()
	r.informer = rsi.Informer()
	r.lister = rsi.Lister()
	log := p.opts.Logger.With("namespace", ns)
	_ = r.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		// Before the first List, any error; after it, a refused watch (role.yaml
		// grants list but not watch on replicasets): a cache that cannot follow
		// the changes must not be read.
		if !r.informer.HasSynced() || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			r.disable()
			if ctx.Err() == nil {
				log.Debug("kubernetes: no ReplicaSet informer (Status lists ReplicaSets instead; grant list and watch on replicasets to avoid it)", "err", err)
			}
		}
	})
	owner := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(metav1.Object); ok {
			if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Deployment" {
				notify(ref.Name)
			}
		}
	}
	_, _ = r.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				owner(obj)
			}
		},
		UpdateFunc: func(_, obj any) { owner(obj) },
		DeleteFunc: owner,
	})
	r.factory.StartWithContext(ctx)
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
			close(r.synced)
		}
	}()
	return r
}

func (r *rsInformer) disable() {
	r.offOnce.Do(func() {
		r.disabled.Store(true)
		close(r.off)
		r.cancel()
	})
}

// usable reports whether Status may read ReplicaSets from the cache.
func (r *rsInformer) usable() bool {
	return r != nil && !r.disabled.Load() && r.informer.HasSynced()
}

func (r *rsInformer) shutdown() {
	if r == nil {
		return
	}
	r.cancel()
	r.factory.Shutdown()
}

// writtenDeployments are the provider's latest writes of each Deployment
// (namespace/name), as the API server answered them, until the namespace's
// informer shows them: a read from the cache never returns a Deployment older
// than the provider's own write, and needs no GET to avoid it.
type writtenDeployments struct {
	mu    sync.Mutex
	byKey map[string]*appsv1.Deployment
}

func (w *writtenDeployments) record(d *appsv1.Deployment) {
	if d == nil || d.ResourceVersion == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byKey == nil {
		w.byKey = map[string]*appsv1.Deployment{}
	}
	key := d.Namespace + "/" + d.Name
	if old, ok := w.byKey[key]; ok && rvAtLeast(old.ResourceVersion, d.ResourceVersion) {
		return
	}
	d = d.DeepCopy()
	d.ManagedFields = nil
	w.byKey[key] = d
}

// newer returns a copy of the provider's latest write of ns/name when a cached
// copy at resourceVersion have ("" when the cache lacks the object) is older,
// and nil otherwise, forgetting the write once the cache shows it.
func (w *writtenDeployments) newer(ns, name, have string) *appsv1.Deployment {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := ns + "/" + name
	d, ok := w.byKey[key]
	if !ok {
		return nil
	}
	if have != "" && rvAtLeast(have, d.ResourceVersion) {
		delete(w.byKey, key)
		return nil
	}
	return d.DeepCopy()
}

// forget drops the write of ns/name: the informer saw the Deployment deleted.
func (w *writtenDeployments) forget(ns, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byKey, ns+"/"+name)
}

// rvAtLeast reports whether resourceVersion have is want or later. Kubernetes
// calls resourceVersions opaque, but the apiserver's are etcd revisions,
// increasing integers; anything else is "not known to be later".
func rvAtLeast(have, want string) bool {
	if have == want {
		return true
	}
	h, err1 := strconv.ParseUint(have, 10, 64)
	w, err2 := strconv.ParseUint(want, 10, 64)
	return err1 == nil && err2 == nil && h >= w
}

// wroteDeployment records the resourceVersion of a Deployment the provider wrote.
func (p *Provider) wroteDeployment(d *appsv1.Deployment) {
	if d == nil || p.opts.DryRun {
		return
	}
	p.written.record(d)
}

// statusCache returns the informers of ns when WatchStatus runs them and they
// have listed, else nil.
func (sw *statusWatches) statusCache(ns string) *nsWatch {
	sw.mu.Lock()
	nw := sw.byNS[ns]
	sw.mu.Unlock()
	if nw == nil {
		return nil
	}
	select {
	case <-nw.synced:
		return nw
	default:
		return nil
	}
}

// cachedStatus is Status from the informers of nw: the Deployments from the
// cache (getStable, getCanary), the ReplicaSets from the cache unless its
// informer is off or lacks a Deployment's current one.
func (p *Provider) cachedStatus(ctx context.Context, nw *nsWatch, t progressive.Target) (progressive.WorkloadStatus, error) {
	stable, err := p.getStable(ctx, t)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	canary, err := p.getCanary(ctx, t)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	sel := bothSides(stable.Spec.Selector)
	if nw.rs.usable() {
		if rss, ok := cachedReplicaSets(nw.rs.lister, t.Namespace, sel, stable, canary); ok {
			return status(stable, canary, rss), nil
		}
	}
	rss, err := p.replicaSets(ctx, t.Namespace, sel, stable, canary)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	return status(stable, canary, rss), nil
}

// cachedDeployment reads Deployment ns/name from the informer of nw: the
// cached copy, or the provider's own write when the cache has not shown it yet
// (read-your-writes without a request). A missing one is nil. It reports false
// when the cache cannot answer.
//
// A copy whose controller has not observed its latest generation is read as it
// is: its status is not the new template's yet, which every reader takes for
// "not yet" (rolledOut, progressDeadlineExceeded and the ReplicaSet of the
// current template all look at it), and the controller's next status write
// reaches the cache and wakes the subscribers. A GET would answer the same
// until then.
func (p *Provider) cachedDeployment(nw *nsWatch, ns, name string) (*appsv1.Deployment, bool) {
	d, err := nw.deployments.Deployments(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		d = nil
	case err != nil:
		return nil, false
	}
	have := ""
	if d != nil {
		have = d.ResourceVersion
	}
	if w := p.written.newer(ns, name, have); w != nil {
		d = w
	} else if d != nil {
		d = d.DeepCopy()
	}
	if d != nil && d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	return d, true
}

// cachedReplicaSets is replicaSets from the cache. It reports false when the
// cache lacks the current ReplicaSet of a Deployment whose controller has
// observed its generation (and so made it): the cache is behind.
func cachedReplicaSets(l appslisters.ReplicaSetLister, ns string, sel *metav1.LabelSelector, owners ...*appsv1.Deployment) (map[types.UID][]appsv1.ReplicaSet, bool) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, false
	}
	list, err := l.ReplicaSets(ns).List(s)
	if err != nil {
		return nil, false
	}
	out := map[types.UID][]appsv1.ReplicaSet{}
	for _, d := range owners {
		if d == nil {
			continue
		}
		for _, rs := range list {
			if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
				out[d.UID] = append(out[d.UID], *rs)
			}
		}
		if d.Status.ObservedGeneration >= d.Generation && currentReplicaSet(d, out[d.UID]) == nil {
			return nil, false
		}
	}
	return out, true
}
