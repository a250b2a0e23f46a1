package kubernetes

// ReplicaSetInformerOff reports whether the status informers of ns run without
// their ReplicaSet informer (false when none run), for tests.
func ReplicaSetInformerOff(p *Provider, ns string) bool {
	nw := p.watches.statusCache(ns)
	return nw != nil && nw.rs.disabled.Load()
}
