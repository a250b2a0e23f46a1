package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Binding is what a Reconciler needs to know of a user's resource type T, a
// pointer to a struct such as *v1alpha1.ProgressiveRollout.
type Binding[T client.Object] interface {
	// Plan returns the plan obj asks for. It is called only while obj has no
	// rollout; the Reconciler sets the plan's Name to the rollout id. An
	// error wrapping progressive.ErrInvalid makes obj Invalid until it
	// changes; any other error is retried with the controller's backoff.
	Plan(ctx context.Context, obj T) (progressive.Plan, error)
	// SetStatus copies status into obj's status (in memory, typically with
	// SetConditions for the conditions). The Reconciler compares obj before
	// and after and patches the status subresource only when it changed.
	SetStatus(obj T, status Status)
}

// Commander is implemented by a Binding whose objects carry commands for
// their rollout, such as an annotation a person sets with kubectl.
type Commander[T client.Object] interface {
	// Command returns the command obj asks for that was not stored yet: one
	// whose ID differs from the last Status.Command the binding kept. A
	// command waits while the rollout has not started (a Pending object).
	Command(obj T) (Command, bool)
}

// Ender is implemented by a Binding whose objects remember that their
// rollout ended (a terminal phase and the rollout id in the status). The
// Reconciler asks it when an object's rollout is not in the store: one that
// ended and was deleted since (Runner.Prune, a Pruner) is left as its status
// reports it, instead of being started again. A Binding without it must not
// be given a store that is pruned.
type Ender[T client.Object] interface {
	// Ended reports whether obj's status says its rollout id has ended.
	Ended(obj T, id string) bool
}

// Command is an instruction a person gives a rollout through its object.
type Command struct {
	// Kind is abort, rollback, promote or resume (Runner.Continue).
	Kind rollout.CommandKind
	// Reason goes to the decision record and the rollout's events.
	Reason string
	// ID tells this command from the ones before it (the annotation's value,
	// say). Once the command is stored, the Reconciler reports it as
	// Status.Command.
	ID string
}

// Defaults of Options.
const (
	// DefaultBusyRetry is how often a Pending object whose target another
	// rollout holds tries to start.
	DefaultBusyRetry = 10 * time.Second
	// DefaultRetryAfter is the wait after a transient failure (a store or
	// metrics backend that did not answer).
	DefaultRetryAfter = 5 * time.Second
	// DefaultFinalizer is the finalizer that makes deleting an object abort
	// its unfinished rollout first.
	DefaultFinalizer = "progressive.agentops.dev/rollout"
)

// requeueNow is the wait before reloading a rollout whose state another
// writer changed: at once, but through the workqueue, so the key is
// reconciled by one worker at a time.
const requeueNow = time.Millisecond

// requeueStale is the wait before reconciling again an object whose rollout's
// state the store's watch showed newer than the store's reads did.
const requeueStale = 20 * time.Millisecond

// Options configure a Reconciler. The zero value selects the documented
// defaults.
type Options[T client.Object] struct {
	// RolloutID names the rollout of an object. It must be a DNS label and
	// must not change while the rollout runs. Default RolloutID: the
	// namespace, the name and the start of the UID.
	RolloutID func(obj T) string
	// Recorder receives the Reconciler's own Events on the object (a target
	// another rollout holds, a rejected plan). The runner's events are
	// recorded by Events, given to the runner as an observer.
	Recorder events.EventRecorder
	// BusyRetry is how long a Pending object whose target another rollout
	// holds waits before trying to start again. Default DefaultBusyRetry.
	BusyRetry time.Duration
	// RetryAfter is the wait after a transient failure. Default
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Finalizer is put on each object before its rollout starts, so that
	// deleting the object aborts an unfinished rollout before the object
	// goes. Default DefaultFinalizer.
	Finalizer string
	// NoFinalizer leaves objects without a finalizer: deleting one leaves its
	// rollout where it is, undriven, holding its target, until someone
	// aborts it (Runner.Abort) and drives it (a rollout.Manager).
	NoFinalizer bool
	// EveryMeasurement writes the status at every measurement. By default a
	// reconcile whose status differs from the last one written only in what
	// each measurement changes (the values, reasons and times of the latest
	// analysis, UpdatedAt, the State) leaves the object as it is: the status
	// is patched when something a person acts on changes (the phase, the step,
	// the weight, the message, a condition, a check's outcome), and then
	// carries the latest values. A soak measured every 30 s would otherwise
	// cost a status write, a watch event and a cache update every 30 s per
	// rollout.
	EveryMeasurement bool
}

// Reconciler drives the rollout each object of type T carries: it implements
// reconcile.Reconciler for a controller For(T). See the package
// documentation.
type Reconciler[T client.Object] struct {
	client  client.Client
	runner  *rollout.Runner
	binding Binding[T]
	opts    Options[T]
	typ     reflect.Type // what T points to

	// startMu serializes Runner.Start: its one-rollout-per-target check and
	// the store's create are two steps, and two objects for one target
	// reconciled by two workers at the same instant must not both pass the
	// check. (Across processes, leader election leaves one Reconciler.)
	startMu sync.Mutex

	// mu guards objects and ids: what the Reconciler knows of each object,
	// for StateHandler (which object carries a rollout, which state version
	// it last saw) and for writeStatus (the status it last wrote).
	mu      sync.Mutex
	objects map[types.NamespacedName]*tracked
	ids     map[string]types.NamespacedName
}

// tracked is what the Reconciler keeps of one object.
type tracked struct {
	id string
	// version is the state version the last reconcile ended with; driving is
	// set while a reconcile of the object runs.
	version int64
	driving bool
	// refreshed is set once the rollout's state was read from the store's
	// backend (rollout.Runner.Refresh) by this Reconciler: its first drive
	// may follow another process's, whose last write the cache may not show.
	refreshed bool
	// pending is the newest version a watch showed that no reconcile has
	// seen yet; stale counts the reconciles in a row that ended behind it.
	pending int64
	stale   int
	// status is the Status last given to the binding whose result the object
	// shows (written, or already there); written reports it is set.
	status  Status
	written bool
}

var _ reconcile.Reconciler = (*Reconciler[*corev1.ConfigMap])(nil)

// NewReconciler returns a Reconciler of the objects of type T that c reads
// and writes (the manager's client, whose scheme knows T), driving their
// rollouts with runner.
func NewReconciler[T client.Object](c client.Client, runner *rollout.Runner, b Binding[T], opts Options[T]) (*Reconciler[T], error) {
	var zero T
	typ := reflect.TypeOf(zero)
	switch {
	case c == nil || runner == nil || b == nil:
		return nil, fmt.Errorf("controller: reconciler: client, runner and binding are required: %w", progressive.ErrInvalid)
	case typ == nil || typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct:
		return nil, fmt.Errorf("controller: reconciler: the object type must be a pointer to a struct, not %v: %w", typ, progressive.ErrInvalid)
	case opts.BusyRetry < 0 || opts.RetryAfter < 0:
		return nil, fmt.Errorf("controller: reconciler: BusyRetry and RetryAfter must not be negative: %w", progressive.ErrInvalid)
	}
	if opts.RolloutID == nil {
		opts.RolloutID = func(obj T) string { return RolloutID(obj) }
	}
	if opts.BusyRetry == 0 {
		opts.BusyRetry = DefaultBusyRetry
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.Finalizer == "" {
		opts.Finalizer = DefaultFinalizer
	}
	return &Reconciler[T]{client: c, runner: runner, binding: b, opts: opts, typ: typ.Elem(),
		objects: map[types.NamespacedName]*tracked{}, ids: map[string]types.NamespacedName{}}, nil
}

func (r *Reconciler[T]) newObject() T { return reflect.New(r.typ).Interface().(T) }

// Predicate passes the changes of an object worth a reconcile: its creation
// and deletion, a new generation (the spec changed), new annotations (a
// command) and the start of its deletion, and not the status writes of the
// Reconciler itself, which would otherwise reconcile every rollout twice per
// transition.
func Predicate() predicate.Predicate {
	deletionStarted := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld != nil && e.ObjectNew != nil &&
			e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	}}
	return predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted)
}

// SetupWithManager adds a controller For(T) with Predicate to mgr, reconciled
// by r. name names the controller (default: T's kind, lowercased); opts are
// its options (MaxConcurrentReconciles: how many rollouts make progress at
// the same instant; controller-runtime's default is 1). sources are more
// watches of the controller: a watch of the store's objects with
// StateHandler makes commands stored by other programs take effect at once.
func (r *Reconciler[T]) SetupWithManager(mgr manager.Manager, name string, opts crcontroller.Options, sources ...source.TypedSource[reconcile.Request]) error {
	b := builder.ControllerManagedBy(mgr).
		For(r.newObject(), builder.WithPredicates(Predicate())).
		WithOptions(opts)
	for _, src := range sources {
		b = b.WatchesRawSource(src)
	}
	if name != "" {
		b = b.Named(name)
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("controller: set up the controller: %w", err)
	}
	return nil
}

// Reconcile implements reconcile.Reconciler: it starts the object's rollout
// when it has none, carries out what is due now and returns at once, with
// RequeueAfter set to when the rollout has something to do next.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	obj := r.newObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("controller: get %s: %w", req.NamespacedName, err)
	}
	ctx = ContextWithObject(ctx, obj)
	id := r.opts.RolloutID(obj)
	r.begin(req.NamespacedName, id)
	defer func() {
		if r.end(req.NamespacedName) && err == nil && (res.RequeueAfter <= 0 || res.RequeueAfter > requeueStale) {
			// The store's watch showed a state this reconcile did not see:
			// another writer's (a CLI's command), read from a cache behind
			// the watch. Go on from it as soon as the cache shows it.
			res.RequeueAfter = requeueStale
		}
	}()
	if obj.GetDeletionTimestamp() != nil {
		return r.deleting(ctx, obj, id)
	}
	st, err := r.runner.Get(ctx, id)
	switch {
	case errors.Is(err, progressive.ErrNotFound):
		if ender, ok := r.binding.(Ender[T]); ok && ender.Ended(obj, id) {
			// Ended and pruned since: its status already says how it ended.
			return reconcile.Result{}, nil
		}
		return r.start(ctx, obj, id)
	case err != nil:
		return r.result(ctx, id, rollout.Result{}, fmt.Errorf("read the rollout: %w", err))
	}
	return r.drive(ctx, obj, st)
}

// start builds the object's plan and starts it.
func (r *Reconciler[T]) start(ctx context.Context, obj T, id string) (reconcile.Result, error) {
	plan, err := r.binding.Plan(ctx, obj)
	if err != nil {
		if errors.Is(err, progressive.ErrInvalid) {
			return r.notStarted(ctx, obj, id, PhaseInvalid, ReasonPlanRejected, err, 0)
		}
		return reconcile.Result{}, fmt.Errorf("controller: plan of %s: %w", r.describe(obj), err)
	}
	plan.Name = id
	if !r.opts.NoFinalizer && !controllerutil.ContainsFinalizer(obj, r.opts.Finalizer) {
		// Before anything moves: a rollout whose object could vanish without
		// a word would hold its target forever.
		before := obj.DeepCopyObject().(T)
		controllerutil.AddFinalizer(obj, r.opts.Finalizer)
		if err := r.client.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("controller: add the finalizer to %s: %w", r.describe(obj), err)
		}
	}
	began := time.Now()
	r.startMu.Lock()
	st, err := r.runner.Start(ctx, plan)
	r.startMu.Unlock()
	logf.FromContext(ctx).V(1).Info("rollout start", "rollout", id, "took", time.Since(began).String(), "error", errString(err))
	switch {
	case err == nil:
		return r.drive(ctx, obj, st)
	case errors.Is(err, rollout.ErrTargetBusy):
		return r.notStarted(ctx, obj, id, PhasePending, ReasonTargetBusy, err, r.opts.BusyRetry)
	case errors.Is(err, progressive.ErrConflict):
		// Created meanwhile, by another replica or a CLI: read it again.
		return reconcile.Result{RequeueAfter: requeueNow}, nil
	case errors.Is(err, progressive.ErrInvalid):
		return r.notStarted(ctx, obj, id, PhaseInvalid, ReasonPlanRejected, err, 0)
	case progressive.IsTransient(err):
		return r.notStarted(ctx, obj, id, PhasePending, ReasonStartFailed, err, r.opts.RetryAfter)
	}
	if _, serr := r.notStarted(ctx, obj, id, PhasePending, ReasonStartFailed, err, 0); serr != nil {
		return reconcile.Result{}, serr
	}
	return reconcile.Result{}, fmt.Errorf("controller: start the rollout of %s: %w", r.describe(obj), err)
}

// notStarted reports an object whose rollout did not start, and when to try
// again (zero: when the object changes).
func (r *Reconciler[T]) notStarted(ctx context.Context, obj T, id string, phase Phase, reason string, cause error, retry time.Duration) (reconcile.Result, error) {
	s := Status{RolloutID: id, Phase: phase, Reason: reason, Message: cause.Error()}
	s.Conditions = conditionsOf(s)
	changed, err := r.writeStatus(ctx, obj, s.WithGeneration(obj.GetGeneration()))
	if err != nil {
		return reconcile.Result{}, err
	}
	if changed && r.opts.Recorder != nil {
		r.opts.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "Start", "%s", note(cause.Error()))
	}
	return reconcile.Result{RequeueAfter: retry}, nil
}

// drive stores the object's command, if any, reconciles the rollout and
// writes the status.
func (r *Reconciler[T]) drive(ctx context.Context, obj T, st rollout.State) (reconcile.Result, error) {
	var stored string
	if cmdr, ok := r.binding.(Commander[T]); ok {
		if cmd, ok := cmdr.Command(obj); ok {
			if err := r.command(ctx, st.ID, cmd); err != nil {
				return reconcile.Result{}, fmt.Errorf("controller: %s of %s: %w", cmd.Kind, r.describe(obj), err)
			}
			stored = cmd.ID
		}
	}
	res := rollout.Result{Phase: st.Phase, Step: st.Step.Index}
	var rerr error
	if !st.Phase.Terminal() {
		key := client.ObjectKeyFromObject(obj)
		if !r.refreshed(key) {
			if err := r.runner.Refresh(ctx, st.ID); err != nil {
				return r.result(ctx, st.ID, rollout.Result{}, err)
			}
			r.markRefreshed(key)
		}
		began := time.Now()
		res, rerr = r.runner.Reconcile(ctx, st.ID)
		logf.FromContext(ctx).V(1).Info("rollout reconciled", "rollout", st.ID, "phase", res.Phase, "step", res.Step,
			"requeueAfter", res.RequeueAfter.String(), "took", time.Since(began).String(), "error", errString(rerr))
		// The store's Get reads its cache (provider/kubernetes), which shows
		// the writes just made: no request.
		if latest, err := r.runner.Get(ctx, st.ID); err == nil {
			st = latest
		}
	}
	r.saw(client.ObjectKeyFromObject(obj), st.Version)
	s := StatusOf(st)
	s.Command = stored
	if _, err := r.writeStatus(ctx, obj, s.WithGeneration(obj.GetGeneration())); err != nil {
		return reconcile.Result{}, err
	}
	return r.result(ctx, st.ID, res, rerr)
}

// command stores cmd with the rollout; one given to a rollout that ended is
// dropped (nothing is left to abort or promote).
func (r *Reconciler[T]) command(ctx context.Context, id string, cmd Command) error {
	reason := cmd.Reason
	if reason == "" {
		reason = "requested through the object"
	}
	var err error
	switch cmd.Kind {
	case rollout.CommandAbort:
		err = r.runner.Abort(ctx, id, reason)
	case rollout.CommandRollback:
		err = r.runner.Rollback(ctx, id, reason)
	case rollout.CommandPromote:
		err = r.runner.Promote(ctx, id, reason)
	case rollout.CommandResume:
		err = r.runner.Continue(ctx, id, reason)
	default:
		err = fmt.Errorf("unknown command %q (abort, rollback, promote or resume): %w", cmd.Kind, progressive.ErrInvalid)
	}
	if err != nil && errors.Is(err, progressive.ErrInvalid) {
		// Not retried: the object must change. Logged, and reported as stored
		// so that it is not given again at every reconcile.
		logf.FromContext(ctx).Info("command not carried out", "rollout", id, "command", cmd.Kind, "reason", err.Error())
		return nil
	}
	return err
}

// deleting aborts the rollout of an object being deleted and removes the
// finalizer once the rollout has ended.
func (r *Reconciler[T]) deleting(ctx context.Context, obj T, id string) (reconcile.Result, error) {
	if r.opts.NoFinalizer || !controllerutil.ContainsFinalizer(obj, r.opts.Finalizer) {
		return reconcile.Result{}, nil
	}
	st, err := r.runner.Get(ctx, id)
	switch {
	case errors.Is(err, progressive.ErrNotFound):
		// Never started: nothing to undo.
	case err != nil:
		return r.result(ctx, id, rollout.Result{}, fmt.Errorf("read the rollout: %w", err))
	case !st.Phase.Terminal():
		if st.Phase != rollout.PhaseRollingBack && st.Command == nil {
			if err := r.runner.Abort(ctx, id, r.describe(obj)+" was deleted"); err != nil && !errors.Is(err, progressive.ErrInvalid) {
				return r.result(ctx, id, rollout.Result{}, fmt.Errorf("abort: %w", err))
			}
		}
		res, rerr := r.runner.Reconcile(ctx, id)
		if latest, err := r.runner.Get(ctx, id); err == nil {
			st = latest
		}
		r.saw(client.ObjectKeyFromObject(obj), st.Version)
		if _, err := r.writeStatus(ctx, obj, StatusOf(st).WithGeneration(obj.GetGeneration())); err != nil {
			return reconcile.Result{}, err
		}
		if !st.Phase.Terminal() {
			return r.result(ctx, id, res, rerr)
		}
	}
	before := obj.DeepCopyObject().(T)
	controllerutil.RemoveFinalizer(obj, r.opts.Finalizer)
	if err := r.client.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("controller: remove the finalizer of %s: %w", r.describe(obj), err)
	}
	r.forget(client.ObjectKeyFromObject(obj))
	return reconcile.Result{}, nil
}

// result turns what Runner.Reconcile returned into what controller-runtime
// takes.
func (r *Reconciler[T]) result(ctx context.Context, id string, res rollout.Result, err error) (reconcile.Result, error) {
	switch {
	case err == nil:
		return Result(res), nil
	case errors.Is(err, rollout.ErrStateChanged):
		// Another writer (a command from a CLI, another replica) changed the
		// state since it was read: reload and go on from what it says.
		return reconcile.Result{RequeueAfter: requeueNow}, nil
	case progressive.IsTransient(err):
		wait := res.RequeueAfter
		if wait <= 0 {
			wait = r.opts.RetryAfter
		}
		logf.FromContext(ctx).Info("rollout failed transiently; trying again", "rollout", id, "after", wait.String(), "error", err.Error())
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	return reconcile.Result{}, fmt.Errorf("controller: rollout %s: %w", id, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Result turns a Runner.Reconcile result into a reconcile.Result: requeue
// after the wait the runner asked for, never once the rollout ended. An
// unfinished rollout is always requeued (after rollout.DefaultPollInterval
// when the result names no wait), so that no rollout is left undriven.
func Result(res rollout.Result) reconcile.Result {
	switch {
	case res.Phase.Terminal():
		return reconcile.Result{}
	case res.RequeueAfter > 0:
		return reconcile.Result{RequeueAfter: res.RequeueAfter}
	}
	return reconcile.Result{RequeueAfter: rollout.DefaultPollInterval}
}

// writeStatus lets the binding set s and patches the status subresource when
// the object's status changed. The merge patch is computed against the object
// as read and carries only the status, so it cannot conflict with a spec or
// metadata edit made since; the status has one writer, the elected leader's
// Reconciler, which controller-runtime calls for one object at a time.
//
// Unless Options.EveryMeasurement, a status that differs from the last one
// written only in what a measurement changes (sameToAPerson) is given to the
// binding with the measurements of the last one, so the object is left as it
// is.
func (r *Reconciler[T]) writeStatus(ctx context.Context, obj T, s Status) (bool, error) {
	key := client.ObjectKeyFromObject(obj)
	if !r.opts.EveryMeasurement {
		if prev, ok := r.lastStatus(key); ok && sameToAPerson(prev, s) {
			s.Analysis, s.UpdatedAt, s.State = prev.Analysis, prev.UpdatedAt, prev.State
		}
	}
	before := obj.DeepCopyObject().(T)
	r.binding.SetStatus(obj, s)
	if equality.Semantic.DeepEqual(before, obj) {
		r.wrote(key, s)
		return false, nil
	}
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("controller: write the status of %s: %w", r.describe(obj), err)
	}
	r.wrote(key, s)
	return true, nil
}

// describe names an object for messages: "ProgressiveRollout shop/checkout".
func (r *Reconciler[T]) describe(obj T) string {
	kind := r.typ.Name()
	if gvk, err := apiutil.GVKForObject(obj, r.client.Scheme()); err == nil {
		kind = gvk.Kind
	}
	return fmt.Sprintf("%s %s/%s", kind, obj.GetNamespace(), obj.GetName())
}

// WithGeneration returns s for an object of generation gen: ObservedGeneration
// set, on the conditions too.
func (s Status) WithGeneration(gen int64) Status {
	s.ObservedGeneration = gen
	conds := make([]metav1.Condition, len(s.Conditions))
	for i, c := range s.Conditions {
		c.ObservedGeneration = gen
		conds[i] = c
	}
	s.Conditions = conds
	return s
}

// RolloutID is the default rollout id of an object: its namespace and name
// and the first 8 characters of its UID, a DNS label of at most 63
// characters. The UID makes an object deleted and created again under the
// same name a new rollout, instead of one that reports the old one's end.
func RolloutID(obj client.Object) string {
	base := dnsLabel(obj.GetNamespace() + "-" + obj.GetName())
	uid := dnsLabel(string(obj.GetUID()))
	uid = uid[:min(len(uid), 8)]
	if uid == "" {
		return base[:min(len(base), 63)]
	}
	base = strings.TrimRight(base[:min(len(base), 63-1-len(uid))], "-")
	return base + "-" + uid
}

// dnsLabel lowercases s and replaces every run of other characters than
// letters and digits with one '-', trimmed at both ends.
func dnsLabel(s string) string {
	var b strings.Builder
	dash := true
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "rollout"
	}
	return out
}
