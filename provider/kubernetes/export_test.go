package kubernetes

import corev1 "k8s.io/api/core/v1"

// ReplicaSetInformerOff reports whether the status informers of ns run without
// their ReplicaSet informer (false when none run), for tests.
func ReplicaSetInformerOff(p *Provider, ns string) bool {
	nw := p.watches.statusCache(ns)
	return nw != nil && nw.rs.disabled.Load()
}

// StoreCacheRV is the resourceVersion of ConfigMap name in the Stores' informer
// of ns ("" when it has none or no informer runs), for tests.
func StoreCacheRV(p *Provider, ns, name string) string {
	p.stores.mu.Lock()
	c := p.stores.byNS[ns]
	p.stores.mu.Unlock()
	if !c.usable() {
		return ""
	}
	cm, err := c.lister.ConfigMaps(ns).Get(name)
	if err != nil {
		return ""
	}
	return cm.ResourceVersion
}

// StoreCacheOff reports whether the Stores' informer of ns stopped (refused).
func StoreCacheOff(p *Provider, ns string) bool {
	p.stores.mu.Lock()
	c := p.stores.byNS[ns]
	p.stores.mu.Unlock()
	return c != nil && c.disabled.Load()
}

// InjectStaleConfigMap puts cm into the Stores' informer cache of its
// namespace, as if the informer were behind, for tests.
func InjectStaleConfigMap(p *Provider, cm *corev1.ConfigMap) error {
	p.stores.mu.Lock()
	c := p.stores.byNS[cm.Namespace]
	p.stores.mu.Unlock()
	return c.informer.GetIndexer().Update(cm.DeepCopy())
}
