// Package progressive is the shared vocabulary of the progressive delivery SDK.
//
// A rollout moves a service from a stable release to a new one a step at a time,
// and at every step it can go back. Four interfaces carry that work, each backed by
// adapters under provider/:
//
//   - TrafficRouter shifts requests between the stable and the canary version
//     (weights, header or cookie matches, mirroring): Istio, Linkerd, Gateway API,
//     or plain Kubernetes Services and replica ratios.
//   - MetricSource answers the queries that decide whether the canary is healthy
//     (Prometheus, or the simulator). It tells a value apart from no data, NaN,
//     a bad query and an unreachable backend, because missing data is never a pass.
//   - FlagStore reads and writes feature-flag rollouts (LaunchDarkly, Flagsmith,
//     the in-memory store), so a release can be decoupled from a deploy.
//   - Strategy turns what the user wants (a canary of 10, 50, 100 percent, a
//     blue-green switch, a rolling update) into a Plan.
//
// A Workload is what gets deployed: it brings the canary up, scales it, promotes it
// and takes it down again.
//
// A Plan is a value: a list of Steps that can be validated (every problem reported
// at once with its field path), explained as a timeline, dry-run, and executed by
// the rollout package's Runner, which persists its state after every transition so
// that a restarted process resumes exactly where it stopped. The analysis package
// turns metric observations into verdicts; the rollout package writes a decision
// record for every rollout.
//
// This package imports nothing else of the module: providers, analysis, strategy and
// rollout all build on it, never the other way round.
package progressive
