package kubernetes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/agentops/progressive/rollout"
)

// storeSyncWait bounds how long the first use of a namespace's Store waits for
// its ConfigMap informer to list; it reads directly meanwhile.
const storeSyncWait = 5 * time.Second

// storeCaches are the ConfigMap informers of a Provider's Stores, one per
// namespace, started on a Store's first Get or Update and stopped by
// Provider.Close.
type storeCaches struct {
	mu     sync.Mutex
	closed bool
	byNS   map[string]*cmCache
}

// cmCache is the ConfigMap informer of one namespace, selecting the state
// ConfigMaps (ManagedByLabel and ComponentLabel=rollout-state), plus the newest
// copies this process wrote or read directly that the informer has not shown
// yet, so that reads are read-your-writes. It is optional: when its List or
// watch is refused (role.yaml grants no watch on configmaps) it stops and the
// Stores read directly.
type cmCache struct {
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   corelisters.ConfigMapLister
	cancel   context.CancelFunc
	synced   chan struct{}
	off      chan struct{}
	offOnce  sync.Once
	disabled atomic.Bool

	mu sync.Mutex
	// known are objects newer than the informer's, by name.
	known map[string]*corev1.ConfigMap
	// deleted are objects this process deleted that the informer may still
	// show, by name, with the last resourceVersion seen before the delete.
	deleted map[string]string
	// decoded are the states List decoded, by name, kept while their
	// resourceVersion is current: a List decodes only what changed.
	decoded map[string]decodedState
}

// decodedState is a state ConfigMap's state at one resourceVersion.
type decodedState struct {
	rv string
	st rollout.State
}

// get returns the informer of ns, starting it on first use and waiting (up to
// storeSyncWait or ctx) for its List; nil when the provider is closed.
func (sc *storeCaches) get(ctx context.Context, p *Provider, ns string) *cmCache {
	sc.mu.Lock()
	if sc.closed || p.opts.DryRun {
		sc.mu.Unlock()
		return nil
	}
	c := sc.byNS[ns]
	if c == nil {
		c = startConfigMaps(p, ns)
		if sc.byNS == nil {
			sc.byNS = map[string]*cmCache{}
		}
		sc.byNS[ns] = c
	}
	sc.mu.Unlock()
	t := time.NewTimer(storeSyncWait)
	defer t.Stop()
	select {
	case <-c.synced:
	case <-c.off:
	case <-ctx.Done():
	case <-t.C:
	}
	return c
}

func (sc *storeCaches) close() {
	sc.mu.Lock()
	sc.closed = true
	all := sc.byNS
	sc.byNS = nil
	sc.mu.Unlock()
	for _, c := range all {
		c.cancel()
		c.factory.Shutdown()
	}
}

func startConfigMaps(p *Provider, ns string) *cmCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &cmCache{cancel: cancel, synced: make(chan struct{}), off: make(chan struct{}), known: map[string]*corev1.ConfigMap{}, deleted: map[string]string{}, decoded: map[string]decodedState{}}
	sel := labels.Set{ManagedByLabel: p.opts.FieldManager, ComponentLabel: "rollout-state"}.String()
	c.factory = informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithNamespace(ns),
		informers.WithTransform(dropManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	ci := c.factory.Core().V1().ConfigMaps()
	c.informer = ci.Informer()
	c.lister = ci.Lister()
	log := p.opts.Logger.With("namespace", ns)
	_ = c.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		// Only a refusal stops it: after other errors the reflector lists and
		// watches again, and Gets read directly until it has listed.
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			c.offOnce.Do(func() {
				c.disabled.Store(true)
				close(c.off)
				cancel()
			})
			if ctx.Err() == nil {
				log.Debug("kubernetes store: no ConfigMap informer (Get reads each state; grant list and watch on configmaps to avoid it)", "err", err)
			}
		}
	})
	// Forget a known copy once the informer shows it or a later change.
	forget := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			c.mu.Lock()
			if k := c.known[cm.Name]; k != nil && rvAtLeast(cm.ResourceVersion, k.ResourceVersion) {
				delete(c.known, cm.Name)
			}
			c.mu.Unlock()
		}
	}
	_, _ = c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    forget,
		UpdateFunc: func(_, obj any) { forget(obj) },
		DeleteFunc: func(obj any) {
			forget(obj)
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				c.mu.Lock()
				delete(c.decoded, cm.Name)
				c.mu.Unlock()
			}
		},
	})
	c.factory.StartWithContext(ctx)
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
			close(c.synced)
		}
	}()
	return c
}

// usable reports whether reads may come from the cache.
func (c *cmCache) usable() bool {
	return c != nil && !c.disabled.Load() && c.informer.HasSynced()
}

// read returns the newest copy of ConfigMap name the cache and the known
// copies hold, nil when neither has it.
func (c *cmCache) read(ns, name string) *corev1.ConfigMap {
	cached, err := c.lister.ConfigMaps(ns).Get(name)
	if err != nil {
		cached = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rv, ok := c.deleted[name]; ok {
		if cached == nil || !rvAtLeast(rv, cached.ResourceVersion) {
			// The informer saw the delete, or a newer object by that name.
			delete(c.deleted, name)
		} else {
			return nil
		}
	}
	k := c.known[name]
	switch {
	case k == nil:
		return cached
	case cached != nil && rvAtLeast(cached.ResourceVersion, k.ResourceVersion):
		delete(c.known, name)
		return cached
	default:
		return k
	}
}

// remember keeps cm, written or read directly, until the informer shows it.
func (c *cmCache) remember(cm *corev1.ConfigMap) {
	if c == nil || cm == nil || cm.ResourceVersion == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.known[cm.Name]; k != nil && rvAtLeast(k.ResourceVersion, cm.ResourceVersion) {
		return
	}
	if cached, err := c.lister.ConfigMaps(cm.Namespace).Get(cm.Name); err == nil && rvAtLeast(cached.ResourceVersion, cm.ResourceVersion) {
		return
	}
	cm = cm.DeepCopy()
	cm.ManagedFields = nil
	c.known[cm.Name] = cm
}

// forget drops ConfigMap name, deleted by this process, from what reads see
// until the informer sees the delete too.
func (c *cmCache) forget(ns, name string) {
	if c == nil {
		return
	}
	rv := "0"
	if cached, err := c.lister.ConfigMaps(ns).Get(name); err == nil {
		rv = cached.ResourceVersion
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.known[name]; k != nil && rvAtLeast(k.ResourceVersion, rv) {
		rv = k.ResourceVersion
	}
	delete(c.known, name)
	c.deleted[name] = rv
}

// list returns the state ConfigMaps of ns as reads see them: the informer's,
// replaced by newer copies this process wrote or read directly, without those
// it deleted, and with those it wrote that the informer has not shown yet.
func (c *cmCache) list(ns string) []*corev1.ConfigMap {
	cached, err := c.lister.ConfigMaps(ns).List(labels.Everything())
	if err != nil {
		cached = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*corev1.ConfigMap, 0, len(cached)+len(c.known))
	listed := make(map[string]bool, len(cached))
	for _, cm := range cached {
		listed[cm.Name] = true
		if rv, ok := c.deleted[cm.Name]; ok && rvAtLeast(rv, cm.ResourceVersion) {
			continue
		}
		if k := c.known[cm.Name]; k != nil && !rvAtLeast(cm.ResourceVersion, k.ResourceVersion) {
			cm = k
		}
		out = append(out, cm)
	}
	for name, k := range c.known {
		if !listed[name] {
			out = append(out, k)
		}
	}
	return out
}

// decode is decodeConfigMap, remembered by resourceVersion.
func (c *cmCache) decode(cm *corev1.ConfigMap) (rollout.State, error) {
	c.mu.Lock()
	d, ok := c.decoded[cm.Name]
	c.mu.Unlock()
	if ok && d.rv == cm.ResourceVersion && cm.ResourceVersion != "" {
		return d.st, nil
	}
	st, err := decodeConfigMap(cm)
	if err != nil {
		return rollout.State{}, err
	}
	c.mu.Lock()
	c.decoded[cm.Name] = decodedState{rv: cm.ResourceVersion, st: st}
	c.mu.Unlock()
	return st, nil
}
