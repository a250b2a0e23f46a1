// Package telemetry turns the rollout runner's events into the three signals an
// operator already watches: Prometheus metrics, OpenTelemetry traces and
// Kubernetes Events on the target. Each is a rollout.Observer; pass the ones you
// want in rollout.Options.Observers (or the controller's runner options) and the
// runner feeds them as it works.
//
//	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
//	if err != nil { ... }
//	if err := m.Register(ctrlmetrics.Registry); err != nil { ... } // or any prometheus.Registerer
//	runner, err := rollout.New(rollout.Options{
//		Providers: providers,
//		Observers: []rollout.Observer{m, telemetry.NewTraces(telemetry.TraceOptions{Provider: tp}), events},
//	})
//
// # Why a separate package
//
// The runner knows nothing of Prometheus, OpenTelemetry or client-go's event
// recorders, and a program that wants none of them should not link them. The
// runner's Event already says what happened (a step started, the routes moved,
// a check measured, a rollback began), and since the events carry the target,
// the release, the checks' thresholds, the error behind a failure and the
// decision record's impact, an observer needs nothing else: it never reads the
// state store, so it cannot slow a reconcile down with a request.
//
// # Metrics
//
// Metrics exposes, under the namespace "progressive" by default:
//
//   - progressive_rollouts{phase}: rollouts in flight, by phase (progressing,
//     held, rolling-back); ended ones are counted by decisions_total instead.
//   - progressive_rollout_phase{rollout,namespace,target,phase}: 1 for the
//     phase the rollout is in, 0 for the others, kube-state-metrics style, so a
//     change of phase is a change of value rather than a series appearing.
//   - progressive_rollout_info{rollout,namespace,target,release,image}: 1.
//   - progressive_rollout_canary_weight{rollout,namespace,target}: the share of
//     traffic the router reported after the last change, read back.
//   - progressive_rollout_check_value{rollout,namespace,target,check,role}: the
//     latest measured value of each check; role is canary, stable (the
//     baseline of a baseline check) or compared (the ratio or difference a
//     baseline check is judged on). NaN when the measurement had no data.
//   - progressive_rollout_check_threshold{rollout,namespace,target,check,role,bound}:
//     the check's min and max, on the role they judge, so that a dashboard can
//     plot the value against its limit.
//   - progressive_rollout_decisions_total{decision}: advance, hold, rollback,
//     retry, promoted, rolled-back, aborted and the manual-* commands.
//   - progressive_rollout_step_duration_seconds{kind,result}: histograms of
//     how long each kind of step took, completed or ended by a rollback.
//   - progressive_rollout_duration_seconds{outcome}: from start to the end.
//   - progressive_rollout_time_to_detect_seconds and
//     progressive_rollout_time_to_recover_seconds: the decision record's
//     detection and recovery times of rolled-back rollouts.
//   - progressive_rollout_provider_errors_total{kind,step}: errors of
//     providers by kind (transient, invalid, not-found, unsupported,
//     conflict, timeout, other) and the step kind that met them.
//
// Durations are measured on the runner's clock (the events' times), so a
// rollout rehearsed in virtual time reports its virtual durations.
//
// # Cardinality
//
// Only the gauges carry a rollout label, and they are deleted once the rollout
// has ended and MetricsOptions.Grace has passed (10 minutes by default: long
// enough for a few scrapes to see how it ended). Counters and histograms are
// labelled by bounded enumerations only. A controller that runs thousands of
// rollouts therefore keeps series for the rollouts in flight plus those that
// ended within the grace, and no more. Expiry is checked on every event and on
// every scrape, so it needs no goroutine of its own.
//
// # Traces
//
// Traces makes a span per rollout and a child span per step (and one for the
// rollback), timed by the events, with the target, the release, the canary
// weight and the analysis verdict as attributes and each measurement as a span
// event. It is off unless TraceOptions.Provider is set, and off it returns
// before doing anything: no allocation, no lock (see BenchmarkTracesOff).
//
// # Kubernetes Events
//
// KubeEvents records an Event for every phase change and every decision
// (started, step started, traffic shifted, analysis verdicts, held, rollback
// started and done, promoted, commands, errors) on an object chosen per event:
// by default the target Deployment, with the Deployment's UID when a
// DeploymentLookup finds it, so that kubectl describe deployment lists them.
// It writes through either of client-go's recorders, tools/record (core/v1
// Events) or tools/events (events.k8s.io/v1), wrapped by CoreV1Recorder or
// EventsV1Recorder. The controller package's Events observer is this one,
// pointed at the object its reconciler works on.
package telemetry
