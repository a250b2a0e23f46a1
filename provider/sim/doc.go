// Package sim is a simulated platform for rehearsing rollouts: an in-memory traffic
// router, workload, feature-flag store and metric source that implement the
// interfaces of package progressive, all reading the time from one injected clock.
//
// # Why a simulator
//
// A rollout policy is code that decides, from noisy numbers, when to move traffic
// and when to give up. Whether "3 consecutive failures at a 1-minute interval" rolls
// a bad canary back before 10% of users saw it, whether a canary with no traffic is
// ever promoted, whether a rollback is one write: these are questions to answer in a
// unit test, not in production. Kubernetes, a mesh and Prometheus are too slow and
// too big for that, and a week-long flag rollout cannot wait a week. With a
// k8s.io/utils/clock/testing FakeClock the simulator runs an hour-long rollout in
// milliseconds, and with a fixed seed it runs the same way every time.
//
// # What is simulated
//
// New returns an Env whose parts see each other:
//
//   - Router keeps each target's Routes (weights, matches, mirroring), validates
//     them, counts writes, records a timed history and fails writes on demand
//     (FailNextWrites).
//   - Workload keeps a stable and a canary Deployment per target (AddService). Pods
//     pass readiness Options.ReadyDelay after they are created, unless their image
//     was marked NeverReady; Status reports ProgressDeadlineExceeded after
//     Options.ProgressDeadline without progress. As a Roller it updates in place and
//     numbers its templates like ReplicaSet revisions, so Undo behaves like kubectl
//     rollout undo.
//   - FlagStore keeps flags (AddFlag) and segments (AddSegment), validates every
//     write and evaluates flags with LaunchDarkly's rules (Evaluate): off variation,
//     individual targets, rules, and a percentage rollout that buckets each user by a
//     stable hash, so the users inside at 10% are still inside at 50%.
//   - Metrics answers the series request_rate, error_rate, success_rate,
//     latency_p50, latency_p95, latency_p99 and cpu for a target and a role. Each
//     role's share of the traffic is read from the Router, so moving the weight
//     moves the canary's request rate; the numbers are drawn around a per-target
//     Profile with realistic noise (Poisson requests in a one-minute window, binomial
//     errors, log-normal latency). A canary without traffic has no data, a window
//     without requests is NaN, an unknown series is a bad query (ErrInvalid) and a
//     BackendDown incident an unreachable backend (ErrTransient): the four answers an
//     analysis must never mistake for a pass.
//
// Every component is safe for concurrent use and holds no package-level state; two
// Envs never share anything.
//
// # Scripting an incident
//
// An Incident changes a target's metrics, for one role or both, from Start until End
// (zero End: for good). Kinds multiply or set the error rate, multiply latency, stop
// traffic, set CPU, or take the metrics backend down:
//
//	env.Metrics.Inject(sim.Incident{
//		Target: target, Role: progressive.Canary,
//		Kind:   sim.ErrorRateSet, Value: 8, // percent of 5xx
//		Start:  start.Add(10 * time.Minute),
//	})
//
// A readiness failure is scripted on the workload instead: env.Workload.NeverReady
// with the bad release's image.
//
// # Driving the clock
//
// A rollout runner waits on clock timers between its steps. Drive steps a FakeClock
// in the background whenever something waits on it, so the runner proceeds in
// virtual time as fast as it can compute; AdvanceUntil does the same in the calling
// goroutine until a condition holds:
//
//	fc := testingclock.NewFakeClock(start)
//	env := sim.New(sim.Options{Clock: fc, Seed: 42})
//	stop := sim.Drive(ctx, fc, time.Second)
//	defer stop()
//	// run the rollout against env.Router, env.Workload, env.Metrics, env.Flags
//
// The components also work alone (NewRouter, NewWorkload, NewFlagStore, NewMetrics),
// and with clock.RealClock for demos.
package sim
