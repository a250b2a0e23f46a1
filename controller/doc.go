// Package controller embeds the rollout runner in a controller-runtime
// manager (sigs.k8s.io/controller-runtime): the half of a progressive-delivery
// operator that every controller author would otherwise write again.
//
// # Why
//
// A controller that owns a resource such as a ProgressiveRollout needs the
// same glue whatever its resource looks like: derive a rollout id from the
// object, start the plan once, call Runner.Reconcile and turn its Result into
// a reconcile.Result, write the rollout's phase, step, weight, last analysis
// and conditions into the object's status without fighting the user's spec
// edits, turn the runner's events into Kubernetes Events on the object, abort
// the rollout when the object is deleted, carry a person's abort or promote to
// the rollout, resume everything after a restart or a change of leader, and
// route the runner's slog records into the manager's logr logger. Getting one
// of these wrong strands a target: a rollout nobody drives keeps its target
// busy (rollout.ErrTargetBusy) and its canary's share of traffic forever.
// Reconciler does all of it; the user's part is a Binding of three methods.
//
// # Reconcile never blocks
//
// Reconciler.Reconcile carries out what is due now (Runner.Reconcile) and
// returns at once with RequeueAfter set to when the rollout next has
// something to do: the end of a soak, the next measurement, the next look at
// pods that are starting. A worker is never held while a soak runs, and
// providers that must wait for the cluster (pods becoming ready, endpoints
// showing a new selector) answer "not yet" to the runner, which asks again
// after a short wait instead of polling inside the call. A reconcile of an
// idle rollout costs no API request: the state is read from the store's
// informer cache (provider/kubernetes), and the status is written only when it
// changed.
//
// Because the workqueue is the scheduler, the rollouts resume by themselves:
// when a controller starts, or a new leader is elected, controller-runtime
// lists every object and reconciles each, and the runner continues each
// rollout from its stored state, mid-soak or mid-rollback. Rollouts that have
// no object (started by a CLI or an HTTP handler with Runner.Start) are driven
// by a rollout.Manager instead: Runnable adds one to a controller-runtime
// manager, on the elected leader only by default.
//
// # Commands
//
// Abort, Rollback, Promote and Continue are commands stored with the
// rollout's state (Runner.Abort and the rest), not calls into a running
// loop: whichever process drives the rollout carries them out at its next
// reconcile. A Binding that also implements Commander lets a person give
// them through the object itself (an annotation set with kubectl, say); the
// change of the object triggers a reconcile, so the command takes effect at
// once, and Status.Command tells the binding it was stored. A command stored
// by another process (a CLI calling Runner.Abort) takes effect at the
// rollout's next requeue, or at once when the controller watches the store:
// StateHandler, given to SetupWithManager in a watch of the store's objects
// (the state ConfigMaps of provider/kubernetes), reconciles the object whose
// rollout's state holds a command or a version the Reconciler did not write.
//
// # One rollout per object, one object per target
//
// RolloutID derives the id from the object's namespace, name and UID, so a
// deleted and re-created object starts a new rollout rather than reporting
// the old one's end. A second object whose plan changes a target that an
// unfinished rollout holds does not start: its status says Pending with the
// reason TargetBusy and the holder's id (from rollout.ErrTargetBusy), and
// Start is tried again every Options.BusyRetry, so it starts once the holder
// ends. The Reconciler makes one Start at a time: the runner's check for a
// holder and its create are two steps, and two objects for one target
// reconciled by two workers at once must not both pass the check (across
// replicas, leader election leaves one Reconciler). A plan the runner rejects (a bad query, an invalid strategy) is
// reported as Invalid and tried again only when the object changes.
//
// # Deleting an object
//
// The Reconciler puts a finalizer on each object before its rollout starts.
// Deleting the object aborts an unfinished rollout (all traffic back to
// stable, the canary scaled away) and removes the finalizer once the rollout
// has ended, so no deleted object leaves a target half-shifted. The rollout's
// state and decision record stay in the store; a Pruner (Runner.Prune with a
// rollout.Retention, on the leader) deletes old ones. A Binding that
// implements Ender keeps an object whose ended rollout was pruned from
// starting it again.
//
// # Status and Events
//
// Status is the rollout's state as a resource reports it: a Kubernetes-style
// Phase (Pending, Progressing, Held, RollingBack, Succeeded, RolledBack,
// Aborted, Invalid), the step in flight ("3/6" for printer columns), the canary
// weight the router reports as achieved, the latest measurement of each
// check, a message saying why (the rollback's reason, the holder of a busy
// target) and Ready, Progressing and Degraded conditions (SetConditions keeps
// their transition times). The Binding copies it into the object; the
// Reconciler patches the status subresource only when the object's status
// changed in something a person reads (the phase, step, weight, message, a
// condition or a check's outcome; not the values and times of each
// measurement, unless Options.EveryMeasurement), with a merge patch computed
// against the object it read, so a status write never conflicts with a spec
// or metadata edit.
//
// Events turns the runner's events into Kubernetes Events (events.k8s.io) on
// the object whose reconcile caused them: the Reconciler puts the object in the
// context it passes to the runner (ContextWithObject), and the runner hands
// that context to its observers. Pass Events(recorder) in
// rollout.Options.Observers.
//
// # Logging
//
// Logger returns a *slog.Logger for rollout.Options.Logger that writes to the
// manager's logr.Logger, or, for records logged with a reconcile's context, to
// the logger controller-runtime put there, so the runner's records carry the
// controller, the object and the reconcile id. Going the other way,
// logr.FromSlogHandler makes a manager log through a program's slog handler.
package controller
