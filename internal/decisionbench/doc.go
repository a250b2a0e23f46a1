// Package decisionbench measures how well canary decision rules decide: how fast a
// bad canary is rolled back, how often a good one is rolled back anyway, how often
// a bad one is promoted, and how long a good rollout takes. It runs every rule on
// the same simulated traffic, in virtual time, and prints a comparison table:
//
//	go run ./examples/decision-benchmark
//
// # The world
//
// A service receives RequestRate requests per second (10, 100 and 1,000 by default),
// split between stable and canary by the canary's weight. Each minute of each
// version is drawn from a PCG generator seeded by the benchmark's seed, the request
// rate, the run, the minute, the version and the weight (so every rule that has the
// canary at the same weight in the same minute sees the same numbers, and the
// scenarios of a run share their noise):
//
//   - requests: Poisson, at the version's share of traffic, times a diurnal swing
//     of ±30% (the run's phase of day is random);
//   - errors: binomial among those requests, at 0.5% (swinging ±30% over the day,
//     both versions alike);
//   - p95 latency: the sample 95th percentile of that many log-normal latencies
//     (σ 0.5, as provider/sim) whose true p95 is 120 ms (±10% over the day), drawn
//     from the sample quantile's asymptotic normal distribution: its error shrinks
//     as 1/√n.
//
// The rollout is the seed's: 10% for 15 minutes, 50% for 15 minutes, then promotion;
// the seed's thresholds are error rate > 1% and p95 > 500 ms. A regressed canary is
// regressed from its first request. Times are measured from that first request.
//
// # Scenarios
//
// healthy (an A/A test), errors x1.5, x2, x5 and x10, latency +20% and +100%, a
// canary that receives no traffic (its error rate and latency are NaN, 0/0), an
// outage of the metrics backend from minute 5 to 10 (every query fails as
// unreachable; the data itself is not lost, as when the query path and not the
// scraping fails), and a noisy spike: one minute, the seventh, when the whole
// service, stable and canary alike, fails 5% of its requests and is 5 times slower
// (a shared dependency's hiccup).
//
// # Rules
//
// Flagger and Argo Rollouts are modelled from their source and documentation (see
// Flagger and Argo): Flagger counts failed checks over the whole rollout, a failed
// check halts advancement, and it rolls back at the tick after the count reaches
// the threshold; Argo counts failed measurements (NaN fails a success condition)
// against failureLimit, aborts after more than consecutiveErrorLimit (4) errors in a
// row, and pauses on inconclusive measurements. The other rules are the real
// analysis.Engine reading the world through a progressive.MetricSource adapter,
// driven phase by phase the way rollout.Runner drives it: the seed's threshold checks
// with two failure-limit settings, a Kayenta-like Mann-Whitney judgement once per
// phase, and the statistical judges (StatisticalChecks).
//
// Every rule first measures one interval after the canary starts (Argo measures at
// once by default, and would get no data from a canary without traffic yet).
//
// # Replay API (for the live comparison)
//
// ReplayFlagger and ReplayArgo run the models of Flagger's and Argo Rollouts'
// rules on a scripted metric stream and return the tool's decisions, so that a
// live run of the real controller can be compared with the model decision by
// decision:
//
//	func ReplayFlagger(cfg FlaggerConfig, stream Stream) []Decision
//	func ReplayArgo(cfg ArgoConfig, stream Stream) []Decision
//	type Stream func(Query) Measurement
//	type Query struct{ Tick, Metric int; At time.Duration; Weight float64 }
//	type Measurement struct{ Value float64; NoData, Err bool }
//	type Decision struct{ At time.Duration; Kind DecisionKind; Weight float64; Tick int; Metric, Phase, Reason string }
//
// The stream is called once per query the tool would make, in order; it sees
// which metric (index into the config's Metrics), the tick or measurement
// number, the virtual time and the canary's weight. NaN in Value is a series
// whose value is NaN, NoData an empty result, Err a failed query. The zero
// value of every config field behaves as the tool's default (FlaggerConfig:
// interval 60s, threshold 1, maxWeight 100; ArgoMetric: failureLimit 0,
// inconclusiveLimit 0, consecutiveErrorLimit 4 (nil), count unlimited with an
// interval). Decision kinds: KindStart, KindAdvance, KindHold (Flagger's failed
// analysis), KindMeasure (one Argo measurement, with its Phase), KindPromote,
// KindFinalize and KindSucceed (Flagger), KindRollback, KindPause (Argo's
// inconclusive run). The benchmark's Flagger and Argo rules call the same two
// functions.
//
// # Reading the table
//
// For a good canary (healthy, outage, spike) "rolled back" is the false-rollback
// rate. For a bad one "promoted" is the missed-regression rate and TTD the time to
// detect. "time p50" is the median time to promotion of the promoted runs: the
// total rollout time of healthy runs. Result.Goals evaluates the goals.
package decisionbench
