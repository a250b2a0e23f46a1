// Package apifaults makes a Kubernetes apiserver misbehave on purpose, for
// tests: an Injector is an http.RoundTripper wrapper, installed with
// rest.Config.Wrap (Injector.Config does it on a copy), that sits between a
// client and the apiserver and answers a share of the requests itself.
//
// # Why
//
// The SDK's promise is "no silent success": a rollout either promotes with its
// checks passed or rolls back and says why. A real apiserver sometimes
// refuses a write with 409 Conflict, fails with 500 or 503, does not answer in
// time, or drops a watch. The providers classify those answers
// (progressive.ErrTransient, ErrConflict...) and the runner retries, rolls
// back or stops on them. This package checks that, whatever the apiserver
// does, a rollout is never stuck, its recorded weights always add up to 100,
// a rollback always completes, and the state it stores matches the cluster.
//
// # The faults
//
// With probability Options.Rate a request gets one fault, drawn uniformly from
// Options.Kinds among those that apply to it:
//
//   - Conflict (updates, PUT, only): 409 with a Status of reason Conflict;
//   - InternalError: 500 with a Status of reason InternalError;
//   - Unavailable: 503 with a Status of reason ServiceUnavailable (no
//     Retry-After, so client-go does not retry it by itself);
//   - Timeout: no answer until the request's context ends or Options.Timeout
//     (the client's timeout) passed, then the error an http.Client gives when
//     its Timeout runs out;
//   - LostReply (writes only, not a default): the write is carried out and
//     its answer lost, like Timeout;
//   - WatchDrop (the only fault of a watch request, ?watch=true): the stream
//     ends with io.ErrUnexpectedEOF after one to Options.MaxWatchEvents
//     chunks (the apiserver flushes one event per chunk) or after
//     Options.WatchLifetime.
//
// All but LostReply and WatchDrop answer without reaching the apiserver, so
// the cluster is left as it was. Leases (coordination.k8s.io) pass untouched
// unless Options.Leases is set: a lost lease is a topic of its own (see
// provider/kubernetes' lease tests).
//
// # Replaying a failure
//
// The faults are drawn from math/rand/v2 PCG streams seeded with Options.Seed,
// one stream per request key: the method and the path with the namespace
// replaced (tests use fresh, randomly named namespaces) and watches apart. The
// n-th GET of a given ConfigMap gets the same fate in every run with the same
// seed, however the requests of other paths interleave with it; requests on
// one path from concurrent goroutines (informers beside the runner) can still
// swap fates between runs. Stats counts the requests and the faults by kind
// and by resource; a test logs them with its seed.
//
// # The suite
//
// The package's tests run every strategy that works on the native Kubernetes
// provider and on the Istio router (canary, blue-green, A/B and mirroring on
// Istio; a replica canary, blue-green and a rolling update on plain
// Kubernetes) on internal/testenv's real control plane, with 10% faults on
// every provider client (Workload, router, ConfigMap StateStore), once with
// a healthy release and once with a failing one, and checks each run's end
// against the cluster as read by a client without faults. See
// suite_test.go for the options chosen and why. TestRolloutsUnderAPIFaults
// uses every default kind; TestRolloutsUnderTransientAPIFaults leaves client
// timeouts out, to show what holds apart from their classification.
// bugs_test.go holds one small deterministic reproducer per defect the suite
// found; they need no control plane.
package apifaults
