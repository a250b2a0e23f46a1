// Package kubernetes is the native Kubernetes provider: progressive delivery with
// nothing but apps/v1 Deployments, a core/v1 Service, EndpointSlices, Jobs,
// ConfigMaps and Leases. No service mesh, no CRD and no controller are needed.
//
// # The pieces
//
// New(restConfig, Options) returns a Provider holding one client; it hands out
//
//   - Workload: a progressive.Workload and progressive.Roller on Deployments.
//     The Deployment named by the target is the stable side; the canary is a
//     second Deployment, <name>-canary, made from it (server-side apply).
//   - Router: a progressive.TrafficRouter ("kubernetes") that moves traffic
//     with the selector of the Service named by the target: replica-ratio
//     weights, and blue-green switches in one write.
//   - Store: a rollout.StateStore keeping each rollout in a ConfigMap, with the
//     resourceVersion as the optimistic-concurrency token.
//   - Lease: a coordination.k8s.io Lease per target, so exactly one runner
//     drives a rollout (RunWithLease).
//   - JobHook: a rollout.Hook that runs a Job (a schema migration) and waits
//     for it; a failed Job stops the rollout before any traffic moves.
//
// # Labels: telling stable from canary
//
// Both sides' pods carry the stable Deployment's labels, so one Service can
// select both; RoleLabel (progressive.agentops.io/role) tells them apart:
// "stable" on the stable pods, "canary" on the canary's. A target is adopted
// before its first canary (Provider.Adopt): the stable pod template gets
// RoleLabel=stable (Kubernetes replaces the pods once, at the same version; put
// the label in your manifests to avoid it), and the Service's selector gets
// RoleLabel=stable added, its original kept in SelectorAnnotation. From then on
// the canary's pods receive no traffic until the router sends them some.
//
// The stable Deployment's own selector is immutable and also matches the canary's
// pods. That is harmless to the Deployment controller, which manages only the
// ReplicaSets it owns (their selectors include the pod-template-hash), but tools
// that count pods by that selector (a HorizontalPodAutoscaler targeting the
// stable Deployment, kubectl get pods -l) see both sides.
//
// # Traffic without a mesh
//
// Without a proxy the only lever is which pods a Service selects, so a weight is
// a pod ratio: the canary is scaled to c = round(w·S/(100−w)) pods beside the S
// stable ones, which stay at full size so that a rollback never lacks capacity,
// and the Service selects both. GetRoutes reads the EndpointSlices and reports
// the canary's share of the ready endpoints, as achieved: 2 canary pods beside 20
// stable ones are 9.09%, not 10%. Weight 0 selects RoleLabel=stable and 100
// selects RoleLabel=canary, each in one Update of the Service guarded by its
// resourceVersion, read back and then confirmed by the EndpointSlices. Header
// and cookie matches and mirroring return progressive.ErrUnsupported.
//
// With a mesh, the Workload still deploys and promotes the canary while the
// mesh's router moves the traffic: set Options.LeaveServiceSelector so that
// the Service keeps selecting both sides (Istio's subsets select by RoleLabel
// among the Service's endpoints).
//
// # Rolling updates in place
//
// The Workload is also a progressive.Roller. A Deployment cannot be told to stop
// at an exact number of new pods (StatefulSets have a partition; Deployments do
// not), so RollTo drives the Deployment controller itself: it writes the new
// template with maxSurge and maxUnavailable clamped to the batch, unpauses, waits
// until the controller has given the new ReplicaSet the batch's pods, and pauses
// the Deployment (spec.paused) until the plan's next RollTo. The pace between
// batches is the plan's; readiness is read from the ReplicaSets (RollStatus). A
// batch can overshoot by one wave of the controller if pods become ready faster
// than the pause lands; RollStatus reports what happened (in the tests the
// batches of 3 of 30 landed exactly). The alternative, a second Deployment scaled
// up while the first scales down, counts pods exactly but is not an update in
// place: it has no revision history for Undo and would replace every pod again
// when it hands back to the stable Deployment.
//
// Undo is kubectl rollout undo [--to-revision]: the template of the ReplicaSet
// with that revision annotation (the previous one for 0) is copied into the
// Deployment, which unpauses and rolls back with the controller's own rolling
// update; the strategy RollTo replaced is restored from
// PreviousStrategyAnnotation.
//
// # State, leases and hooks
//
// Provider.Store keeps each rollout's state in a ConfigMap (one per rollout, plain
// JSON up to MaxPlainState, gzipped above) and uses its resourceVersion for
// optimistic concurrency: an Update is one write, and a write by anyone else since
// the state was read is progressive.ErrConflict. It leaves rollout.ObservationLog
// out: the runner keeps the newest measurements in the state. Its Get reads a
// ConfigMap informer of the namespace, read-your-writes (see Store); with list
// and watch on configmaps a steady-state Get makes no request.
//
// Provider.Lease and RunWithLease run runner.Run only while holding a
// coordination.k8s.io Lease for the target, renewed with client-go's
// tools/leaderelection every RetryPeriod (default 2s). A second runner fails
// with progressive.ErrConflict naming the holder while the holder renews it (or
// waits for it, with LeaseOptions.Wait). A runner that stops normally releases
// the lease after its rollout step returned, so a successor starts at once. A
// runner started after one was killed presumes the holder dead once the record
// went unrenewed for 2 × RetryPeriod + 1s, takes the lease at the record's own
// expiry (RenewTime + LeaseDuration, default 15s) and resumes from the store;
// the runners' clocks are assumed to agree. The trade-off: a shorter
// LeaseDuration resumes a killed runner's rollout sooner, but needs a shorter
// RenewDeadline (default 10s), and a runner stalled longer than RenewDeadline
// loses the lease and stops (Run returns ErrLeaseLost).
//
// Provider.JobHook runs a Job (a schema migration) as a rollout.Hook and waits for
// it: Complete passes; Failed stops the rollout with the Job's reason and the
// failed pods' termination messages. In a blue-green plan the migration runs
// before green exists, so a failed migration moves no traffic.
//
// # Writes
//
// The provider's own objects (the canary Deployment) are written with
// server-side apply as field manager "progressive", forcing ownership. Objects
// it shares with their owners (the stable Deployment, the Service) get targeted
// patches or read-modify-write Updates with the resourceVersion as
// precondition, retried on conflict with client-go's util/retry, so a
// concurrent writer is never overwritten unseen. Every write names the field
// manager. With Options.DryRun every write is a server-side dry run: the
// apiserver validates and admits it and nothing changes (waits that depend on a
// write are skipped); use it to check a plan's objects before a rollout. Errors
// wrap the sentinels of package progressive (ErrNotFound, ErrInvalid,
// ErrConflict, ErrTransient, ErrUnsupported) and keep the API error in the
// chain.
//
// Events (client-go tools/record) are recorded on the stable Deployment:
// Adopted, CanaryDeployed, TrafficShifted, Promoted, CanaryRolledBack, Rolling,
// Undone. Provider.Stats counts the provider's reads and writes (not the Events).
//
// # Least privilege
//
// Role returns the namespaced RBAC Role the provider needs (also in role.yaml):
// no delete verb, nothing cluster-wide, no Secrets. The tests run a whole
// blue-green rollout (migration Job, store, Lease, Events) as a ServiceAccount
// bound to it and nothing else, with a TokenRequest token.
//
// # What it costs, measured on the test control plane
//
// On internal/testenv (two shared cores): a traffic change is one API write (the
// Service's selector, or the canary's scale once the selector selects both) plus
// one the first time a weight between 0 and 100 is set; the EndpointSlices show a
// change 15 to 80 ms after the write; Workload.Status is three reads, and none
// while a WatchStatus subscription runs the namespace's informers (one, the
// ReplicaSet List, under role.yaml, which grants no watch on replicasets). The
// other Deployment reads (adopting the target, Promote, RollbackCanary, the
// Service router's canary checks) read the same informers then, and
// Store.Get and Store.List the state ConfigMaps' informer: driving one rollout
// through a deploy, two pauses, a scale and a promote made 0 reads per idle
// tick (0.58 with direct GETs) and 0.57 per advancing tick (1.57), besides
// its state writes (TestAPIRequestsPerTick). A rollback decision to all traffic verified
// back on stable took 105 to 125 ms, and an in-place rolling update undone was
// back to 30 ready pods of the old revision 420 ms after the decision. The design document's
// scenarios run as programs in examples/k8s-canary, examples/k8s-bluegreen and
// examples/k8s-rolling, against any cluster (--kubeconfig) or a throwaway local
// control plane (--testenv).
package kubernetes
