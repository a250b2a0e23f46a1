// Package decisionbench measures how well canary decision rules decide: how fast a
// bad canary is rolled back, how often a good one is rolled back anyway, how often
// a bad one is promoted, and how long a good rollout takes. It runs every rule on
// the same simulated traffic, in virtual time, and prints comparison tables:
//
//	go run ./examples/decision-benchmark
//
// It also exports the models of Flagger's and Argo Rollouts' rules as a replay
// API, so that live runs of the real controllers (internal/anchors) can check,
// on the same scripted metric stream, that each model decides what its tool does.
//
// # The world
//
// A service receives RequestRate requests per second (10, 100 and 1,000 by
// default), split between stable and canary by the canary's weight, with a
// healthy error rate of 0.1%, 0.5% or 2%. Each minute of each version is drawn
// from a PCG generator keyed by the guide, the request rate, the run, the
// minute, the version and the weight (so every rule that has the canary at the
// same weight in the same minute sees the same numbers, and the scenarios and
// error rates of a run share their noise):
//
//   - requests: Poisson, at the version's share of traffic, times a diurnal swing
//     of ±30% (the run's phase of day is random);
//   - errors: binomial among those requests, at the healthy rate (swinging ±30%
//     over the day, both versions alike);
//   - p95 latency: the sample 95th percentile of that many log-normal latencies
//     (σ 0.5, as provider/sim) whose true p95 is 120 ms (±10% over the day), drawn
//     from the sample quantile's asymptotic normal distribution: its error shrinks
//     as 1/√n.
//
// A query over a window that cuts a minute (Argo's retries 10s after an error)
// reads that minute thinned binomially to the share it covers. A canary that
// never served has no series (Measurement.NoData: Prometheus returns an empty
// vector); one that served before but not in the window reads NaN (0/0). There is
// no scrape delay: a request counts at once. The analysis engine reads the same
// minutes through a progressive.MetricSource (whole minutes, NaN for a canary
// without requests, which the engine's NoData policy treats like an empty
// result).
//
// The rollout is the guide's: 10% for 15 minutes, 50% for 15 minutes, then
// promotion. The thresholds are the guide's error rate > 1% and p95 > 500 ms,
// with the error threshold scaled to twice the healthy error rate (Plan.For: 1%
// at 0.5%, 0.2% at 0.1%, 4% at 2%): a team sets its threshold above its
// service's normal errors. A regressed canary is regressed from its first
// request; times are measured from that first request.
//
// # Scenarios
//
// healthy (an A/A test), errors x1.5, x2, x5 and x10, latency +20% and +100%, a
// canary that receives no traffic, an outage of the metrics backend from minute
// 5 to 10 (every query fails; the data itself is not lost, as when the query
// path and not the scraping fails), and a noisy spike: one minute, the seventh,
// when the whole service, stable and canary alike, fails 5% of its requests and
// is 5 times slower (a shared dependency's hiccup).
//
// Each scenario has a kind (Scenario.Kind) at each error rate: Good (healthy,
// outage, spike: rolling back is a false rollback), Absolute (the regression
// crosses the absolute thresholds at the day's mean, or the canary serves
// nothing: every rule is asked to stop it; errors x5 and x10) and RelativeOnly
// (worse than stable but under the thresholds: errors x1.5 and x2, whose 1.0%
// under a "> 1%" rule is not a breach, and both latency scenarios, 240 ms being
// under 500 ms). A rule with only absolute thresholds (Rule.Relative false) is
// not asked to stop a RelativeOnly canary (Cell.Asked): the tables print its
// promotions in parentheses and do not count them as misses.
//
// # Rules
//
// Every rule appears with its defaults and with one documented tuning, at the
// same thresholds (Rules):
//
//   - flagger defaults: the plan's weights as stepWeights [10, 50], interval 60s,
//     threshold 1, metrics over 1m; flagger tutorial: the Istio tutorial's
//     interval 1m, threshold 5, stepWeight 10, maxWeight 50. Flagger advances one
//     step per passing analysis and cannot hold a weight, so it promotes after 2
//     or 5 minutes instead of the plan's 30.
//   - argo defaults: the plan's steps (setWeight 10, pause 15m, setWeight 50,
//     pause 15m) with a background analysis of the success rate and p95 every
//     1m (Argo has no default interval), failureLimit 0, consecutiveErrorLimit
//     4, inconclusiveLimit 0, no initialDelay; argo docs example: interval 5m,
//     failureLimit 3 (the background analysis of Argo's analysis
//     documentation). The success rate, not the error rate: an error-rate
//     query has no series until the canary's first 5xx, which Argo counts as an
//     error (measured live by internal/anchors).
//   - engine thresholds defaults: this SDK's analysis engine with threshold
//     checks every minute and its defaults (failureLimit 0, inconclusiveLimit 3,
//     missing data inconclusive); tuned: failureLimit 3 with
//     consecutiveFailureLimit 2 (rides out isolated noisy minutes).
//   - ours defaults: the statistical judges (StatisticalChecks: a sequential test
//     of the error rate, a Mann-Whitney comparison of p95) with the engine's
//     defaults otherwise (inconclusiveLimit 3, missing data inconclusive); ours
//     tuned: inconclusiveLimit 10 and missing data a failure, for a metrics
//     backend that may be away for minutes (the judges read ranges and catch up).
//
// The engine rules run the real analysis.Engine phase by phase, the way
// rollout.Runner drives it. KayentaLike (one Mann-Whitney judgement per phase)
// models no tool's code and is only added on request.
//
// # The models and their sources
//
// The Flagger and Argo rules call ReplayFlagger and ReplayArgo, the models the
// live comparison checks. Each behaviour they encode cites the anchor's source,
// fluxcd/flagger v1.44.0 and argoproj/argo-rollouts v1.10.2 (paths inside the
// module, lines as of those versions):
//
// Flagger:
//
//   - defaults: interval 60s (pkg/apis/flagger/v1beta1/canary.go:33, 638-640),
//     at least 10s (canary.go:647-649); threshold 1 when unset
//     (canary.go:655-659); metric interval 1m (canary.go:36,
//     pkg/controller/scheduler_metrics.go:144-146); max weight the last of
//     stepWeights, else maxWeight, else 100 (pkg/controller/scheduler.go:41-51,
//     53-56); the step from a weight (scheduler.go:58-88);
//   - tick 0 detects the revision and scales the canary up (scheduler.go:323,
//     908-930); tick 1, at weight 0, runs no metric check
//     (scheduler.go:449-458) and routes the first step (scheduler.go:493-503);
//   - a failed-checks count that has reached the threshold rolls back at the
//     start of the next tick, before any query (scheduler.go:430-438); the
//     count only resets on a new revision (scheduler.go:340-346);
//   - an analysis runs the metrics in order and stops at the first failure
//     (scheduler.go:765-773, scheduler_metrics.go:143-255, 271-350); a value
//     outside thresholdRange fails (scheduler_metrics.go:167-176, 239-248,
//     331-340); a query error and "no values found" fail alike
//     (scheduler_metrics.go:154-162, 227-235, 317-325), and the Prometheus
//     client returns "no values found" for an empty result and for NaN
//     (pkg/metrics/providers/prometheus.go:170-172); a failed analysis adds one
//     to the count and keeps the weight (scheduler.go:461-465);
//   - a passing analysis below the max weight advances one step, capped at 100
//     (scheduler.go:570-613, 595-598); at the max weight it promotes (phase
//     Promoting, scheduler.go:617-636); the next tick routes all traffic to
//     the primary (Finalising, scheduler.go:381-389, 519-529) and the one after
//     scales the canary down (Succeeded, scheduler.go:393-409);
//   - the tutorial's settings: docs/gitbook/tutorials/istio-progressive-delivery.md:113-135.
//
// Argo Rollouts:
//
//   - defaults: failureLimit 0 and inconclusiveLimit 0 (analysis/analysis.go:662-679),
//     consecutiveErrorLimit 4 (utils/defaults/defaults.go:37, 250-255), count 1
//     without an interval and unlimited with one
//     (pkg/apis/rollouts/v1alpha1/analysis_types.go:159-169), the retry after an
//     error 10s (analysis.go:30);
//   - the first measurement after initialDelay (analysis.go:204-222); the next
//     one interval after the previous finished, or 10s after one that errored,
//     whatever the interval (analysis.go:233-247, 735-753); no more once count
//     is reached (analysis.go:224-228, 612-648); metrics due together are
//     measured in one reconcile (analysis.go:312-426);
//   - a failed query is an Error measurement
//     (metricproviders/prometheus/prometheus.go:93-96); an empty result cannot
//     be indexed by result[0], so the condition's evaluation errors
//     (utils/evaluate/evaluate.go:23-33, evaluate_test.go:365-373); NaN fails a
//     success condition and, with both conditions, is Inconclusive
//     (evaluate.go:36-57; no condition: always Successful, evaluate.go:37-39);
//   - Successful, Failed and Inconclusive count and reset the consecutive
//     errors, Error only adds to them (analysis.go:385-405); a metric is Failed
//     when failed > failureLimit, Inconclusive when inconclusive >
//     inconclusiveLimit, Error when consecutive errors > consecutiveErrorLimit
//     (analysis.go:658-687);
//   - once a metric is Failed, Error or Inconclusive the run measures nothing
//     more (analysis.go:179, 200-203) and takes the worst phase
//     (analysis.go:560-567, utils/analysis/helpers.go:47-55, 84-101) at once,
//     the status update re-queueing it (analysis/controller.go:138-140);
//   - Failed or Error aborts the rollout, traffic back to stable
//     (rollout/analysis.go:379-385, rollout/trafficrouting.go:204-205);
//     Inconclusive pauses it for a person (rollout/analysis.go:377-378);
//   - timed pauses and setWeight steps complete on their own; a background
//     analysis does not hold them (rollout/canary.go:307-344); it starts at
//     startingStep (utils/replicaset/canary.go:435-444) and is cancelled when the
//     rollout is fully promoted (rollout/analysis.go:73-84);
//   - the docs example: docs/features/analysis.md:82-86.
//
// Not modelled: webhooks and confirmation gates, mirroring, A/B and blue/green,
// Flagger's progress deadline, Argo's consecutiveSuccessLimit, dry-run metrics
// and step analyses. Pods are ready at every tick, queries and reconciles take no
// time, and Flagger's ticker is aligned with the canary's start.
//
// # Replay API (for the live comparison)
//
// ReplayFlagger and ReplayArgo run the models on a scripted metric stream and
// return the tool's decisions, so that a live run of the real controller can be
// compared with the model decision by decision:
//
//	func ReplayFlagger(cfg FlaggerConfig, stream Stream) []Decision
//	func ReplayArgo(cfg ArgoConfig, stream Stream) []Decision
//	type Stream func(Query) Measurement
//	type Query struct{ Tick, Metric int; At time.Duration; Weight float64 }
//	type Measurement struct{ Value float64; NoData, Err bool }
//	type Decision struct{ At time.Duration; Kind DecisionKind; Weight float64; Tick int; Metric, Phase, Reason string }
//
// The stream is called once per query the tool would make, in order; it sees
// which metric (index into the config's Metrics), the tick (Flagger) or the
// metric's measurement number (Argo, retries included), the virtual time and
// the canary's weight. NaN in Value is a series whose value is NaN, NoData an
// empty result, Err a failed query. Time 0 is, for Flagger, the tick that
// detected the revision (analyses run from tick 2, one interval after the first
// step) and, for Argo, the rollout's first step.
//
// The zero value of every config field behaves as the tool's default:
// FlaggerConfig interval 60s (under 10s: 10s), threshold 1, maxWeight 100 (the
// last stepWeights entry when they are set), no step: never advances;
// ArgoMetric failureLimit 0 (negative: never fails), inconclusiveLimit 0,
// consecutiveErrorLimit 4 (nil; Int(0) for zero), count 1 without an interval
// and unlimited with one, no initialDelay; ArgoConfig startingStep 0. Both
// replays end at Horizon (default two hours): a replay without a rollback,
// pause or promotion by then has held.
//
// Decision kinds: KindStart; KindAdvance (Flagger's step after a passing
// analysis, Argo's setWeight); KindHold (Flagger's failed analysis: the weight
// stays, Reason has the failed-checks count); KindMeasure (one Argo
// measurement, Phase Successful, Failed, Inconclusive or Error); KindPromote
// (Flagger: phase Promoting at the max weight; Argo: fully promoted, Weight
// 100); KindFinalize and KindSucceed (Flagger's two ticks after promoting);
// KindRollback (Flagger's phase Failed, Argo's abort; Weight 0); KindPause
// (Argo's inconclusive run). The benchmark's Flagger and Argo rules call the
// same two functions (Flagger.run, Argo.run), so the table and the live check
// test one model per tool.
//
// # Reading the tables
//
// The command prints, per healthy error rate and request rate (columns) and
// rule (rows): false rollbacks of healthy canaries, held healthy canaries
// (neither promoted nor rolled back by the end, reported apart), missed
// regressions that cross the thresholds, missed relative-only regressions (in
// parentheses where the rule was not asked), the outage and the spike, the
// median time to detect errors x5 over all runs ('-' when fewer than half were
// rolled back) and the median time to promote a healthy canary. Result.Goals
// evaluates the project's goals for a rule under every condition and for every
// seed (Config.Seeds deals the runs of a cell to the seeds in turn); the tables
// mark where a goal does not hold. With -details the command prints every
// scenario under every condition.
package decisionbench
