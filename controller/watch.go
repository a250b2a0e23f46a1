package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// StateChange is what a watch of the runner's store saw of one rollout's
// stored state.
type StateChange struct {
	// ID is the rollout's id.
	ID string
	// Version is the state's version (rollout.State.Version).
	Version int64
	// Command reports that the state holds a command not carried out yet
	// (rollout.State.Command): one stored by Runner.Abort, Rollback, Promote
	// or Continue, from this process or another.
	Command bool
}

// StateHandler returns the event handler of a watch of the runner's store:
// the ConfigMaps of provider/kubernetes' Store, say, each turned into a
// StateChange by change (false: not a rollout's state). When a state holds a
// command, or a version newer than the one the Reconciler last drove, the
// object whose rollout it is is reconciled at once: a command stored by
// another program (a CLI calling Runner.Abort) takes effect within the
// watch's latency instead of at the rollout's next requeue, which a soak can
// put minutes away. The Reconciler's own writes reconcile nothing more.
//
// Give it to SetupWithManager in a source of the same manager, for example
//
//	source.Kind(mgr.GetCache(), &corev1.ConfigMap{}, controller.StateHandler(r, decode))
//
// with the ConfigMaps of the state namespace in the manager's cache; or,
// for a store watched some other way, source.Channel with a channel of
// StateChange values and change the identity. Deletions are ignored.
func StateHandler[T client.Object, O any](r *Reconciler[T], change func(O) (StateChange, bool)) handler.TypedEventHandler[O, reconcile.Request] {
	enqueue := func(obj O, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		c, ok := change(obj)
		if !ok {
			return
		}
		if req, ok := r.stateChanged(c); ok {
			q.Add(req)
		}
	}
	return handler.TypedFuncs[O, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[O], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[O], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.ObjectNew, q)
		},
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[O], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}

// stateChanged decides whether c is worth a reconcile, and of which object.
func (r *Reconciler[T]) stateChanged(c StateChange) (reconcile.Request, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key, ok := r.ids[c.ID]
	if !ok {
		// No object of this Reconciler carries it, or none was reconciled
		// yet (the controller's first list reconciles every object anyway).
		return reconcile.Request{}, false
	}
	t := r.objects[key]
	if c.Version > t.version {
		// The reconcile must see this version: the store's reads may come
		// from a cache of their own, behind this watch (end).
		t.pending = max(t.pending, c.Version)
	}
	switch {
	case c.Command:
		// Even during a reconcile of the object: the workqueue reconciles it
		// again once this one returns.
		return reconcile.Request{NamespacedName: key}, true
	case c.Version <= t.version:
		return reconcile.Request{}, false
	case t.driving:
		// Most likely the reconcile's own writes; end compares with the
		// version it ends with.
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: key}, true
}

// begin marks key's reconcile as running, for rollout id.
func (r *Reconciler[T]) begin(key types.NamespacedName, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.objects[key]
	if t == nil || t.id != id {
		if t != nil {
			delete(r.ids, t.id)
		}
		t = &tracked{id: id}
		r.objects[key] = t
	}
	r.ids[id] = key
	t.driving = true
}

// saw records the state version a reconcile of key ends with.
func (r *Reconciler[T]) saw(key types.NamespacedName, version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.objects[key]; t != nil {
		t.version = max(t.version, version)
	}
}

// refreshed reports whether key's rollout state was read fresh by this
// Reconciler (see tracked.refreshed).
func (r *Reconciler[T]) refreshed(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.objects[key]
	return t != nil && t.refreshed
}

func (r *Reconciler[T]) markRefreshed(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.objects[key]; t != nil {
		t.refreshed = true
	}
}

// maxStale bounds the reconciles in a row that end behind a version the watch
// showed (end): a state deleted since would otherwise requeue for good.
const maxStale = 100

// end marks key's reconcile as returned; it reports whether the watch showed
// a state newer than the one it ended with, which the object's next
// reconcile must see.
func (r *Reconciler[T]) end(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.objects[key]
	if t == nil {
		return false
	}
	t.driving = false
	if t.pending > t.version && t.stale < maxStale {
		t.stale++
		return true
	}
	t.pending, t.stale = 0, 0
	return false
}

// forget drops what the Reconciler keeps of an object that is gone.
func (r *Reconciler[T]) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.objects[key]; t != nil {
		delete(r.ids, t.id)
		delete(r.objects, key)
	}
}

// lastStatus is the Status whose result key's object shows, as far as this
// Reconciler knows.
func (r *Reconciler[T]) lastStatus(key types.NamespacedName) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.objects[key]; t != nil && t.written {
		return t.status, true
	}
	return Status{}, false
}

// wrote records that key's object shows s.
func (r *Reconciler[T]) wrote(key types.NamespacedName, s Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.objects[key]; t != nil {
		t.status, t.written = s, true
	}
}

// sameToAPerson reports whether a and b differ at most in what every
// measurement changes: the latest analysis's values, reasons and times,
// UpdatedAt and the State. A check's outcome, the phase, step, weight,
// message and conditions are what a person reads and acts on.
func sameToAPerson(a, b Status) bool {
	if a.RolloutID != b.RolloutID || a.Phase != b.Phase || a.Reason != b.Reason ||
		a.Step != b.Step || a.Steps != b.Steps || a.StepName != b.StepName ||
		a.CanaryWeight != b.CanaryWeight || a.Message != b.Message ||
		!a.StartedAt.Equal(b.StartedAt) || a.ObservedGeneration != b.ObservedGeneration ||
		a.Command != b.Command || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i, c := range a.Conditions {
		d := b.Conditions[i]
		if c.Type != d.Type || c.Status != d.Status || c.Reason != d.Reason || c.Message != d.Message || c.ObservedGeneration != d.ObservedGeneration {
			return false
		}
	}
	if (a.Analysis == nil) != (b.Analysis == nil) {
		return false
	}
	if a.Analysis == nil {
		return true
	}
	if len(a.Analysis.Checks) != len(b.Analysis.Checks) {
		return false
	}
	for i, c := range a.Analysis.Checks {
		d := b.Analysis.Checks[i]
		if c.Name != d.Name || c.Outcome != d.Outcome {
			return false
		}
	}
	return true
}
