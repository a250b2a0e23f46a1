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
// # Writes
//
// The provider's own objects (the canary Deployment, Jobs) are written with
// server-side apply as field manager "progressive", forcing ownership. Objects
// it shares with their owners (the stable Deployment, the Service) get targeted
// patches or read-modify-write Updates with the resourceVersion as
// precondition, retried on conflict with client-go's util/retry, so a
// concurrent writer is never overwritten unseen. With Options.DryRun every
// write is a server-side dry run: the apiserver validates and admits it and
// nothing changes. Errors wrap the sentinels of package progressive
// (ErrNotFound, ErrInvalid, ErrConflict, ErrTransient, ErrUnsupported).
//
// Events (client-go tools/record) are recorded on the stable Deployment:
// Adopted, CanaryDeployed, TrafficShifted, Promoted, CanaryRolledBack, Rolling,
// Undone.
//
// # Least privilege
//
// Role returns the namespaced RBAC Role the provider needs (also in role.yaml);
// the tests run the provider as a ServiceAccount bound to nothing else.
package kubernetes
