// Package livecanary runs canaries exactly as a user would, on the real stack,
// and holds the tests and the measuring command (cmd/measure) built on them.
//
// # Why
//
// The simulator (provider/sim) answers every query instantly, at the new
// weight: the moment the runner sets 20%, the canary's error rate is the one
// of a 20% canary. Prometheus does not work that way. A measurement is a
// rate over a window, and a window taken a moment after a weight change
// describes the traffic before it; a fresh canary's error series does not
// exist until its first error; a scrape lands every second, not when the
// runner asks. Two faults lived in that gap, and were only seen live: a
// regression that began at 50% was promoted (every weight was judged on the
// previous weight's traffic), and a Flagger-style error-rate query, whose
// numerator exists only after the first 5xx, rolled back every healthy
// canary (no data is never a pass). The analysis engine now places each
// window after its step's weight change, passes a step only on a measurement
// taken at or after its soak deadline, lets a fresh canary wait for data
// during a warm-up and asks for a minimum sample size. These scenarios keep
// it that way, on the real components.
//
// # The stack
//
// One Stack serves every scenario of a test binary (RunMain) or of the
// measuring command (StartStack):
//
//   - internal/testenv: a real control plane (etcd, kube-apiserver,
//     controllers, kwok nodes) with the Istio CRDs;
//   - internal/promtest: a real Prometheus scraping every second, and one
//     App that books 100 req/s per service, deterministically, splitting
//     them between stable and canary by the canary's share;
//   - a namespace and a service per scenario.
//
// The App's canary share follows the real VirtualService (Weights, a watch
// with Istio's typed client), as Envoy follows istiod: the traffic split
// changes when the VirtualService changes, not when the runner decides to
// change it.
//
// A Driver is wired as a user wires one: provider/kubernetes (Workload with
// LeaveServiceSelector, the ConfigMap StateStore, the Lease), provider/istio
// (router creating the VirtualService and DestinationRule), provider/prometheus
// as the MetricSource, rollout.New's defaults otherwise, and
// kubernetes.RunWithLease. The plan is strategy.Canary{StepWeight: 10,
// MaxWeight: 50, Soak: 10s} with one check, the error rate written the way
// Flagger writes it, at most 2%, with at least MinSamplesFor(2, 100)
// requests per window (ErrorRateCheck).
//
// # Scenarios
//
//   - a regression (10% errors) injected the moment the VirtualService shows
//     each weight in turn: rolled back before the next weight is set;
//   - a healthy canary (0.5% errors, its error series appears after 200
//     requests): waits for data during its warm-up, then is promoted;
//   - a canary without any series: waits, is inconclusive three times and is
//     rolled back at its first weight;
//   - a driver SIGKILLed mid-analysis (a child process, MaybeRunDriver): the
//     next one measures at max(next due, the dead driver's lease expiry).
//
// Tests assert only what the specification says (rolled back before the next
// weight, within a second of the lease expiry); wall-clock figures belong to
// cmd/measure, which runs the same scenarios N times and prints the
// reference table:
//
//	go run ./internal/livecanary/cmd/measure -runs 3
package livecanary
