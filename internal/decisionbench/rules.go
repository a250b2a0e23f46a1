package decisionbench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/analysis/stats"
)

// Plan is the rollout every rule drives: the canary takes Weights[i] percent of the
// requests for Phase each, then is promoted. The guide's: 10% -> 50% -> 100%, 15
// minutes each. Thresholds are the guide's rollback triggers. Flagger cannot hold
// a weight (it advances on every passing analysis), so it takes the weights and
// thresholds but not the phases.
type Plan struct {
	Weights []float64
	Phase   time.Duration
	// MaxErrorRate (percent) and MaxLatencyP95 (ms) are the absolute
	// thresholds every threshold rule gets: the guide's error rate > 1% and p95
	// > 500 ms.
	MaxErrorRate  float64
	MaxLatencyP95 float64
	// ErrorThresholdFactor, when positive, sets MaxErrorRate to this multiple
	// of the healthy error rate (see For): a team sets its threshold above
	// its service's normal errors, and the guide's 1% is twice its 0.5%.
	ErrorThresholdFactor float64
	// Limit ends a run that has neither promoted nor rolled back (a paused or
	// stuck analysis): it counts as held.
	Limit time.Duration
}

// SeedPlan is the guide's plan: thresholds twice the healthy error rate (1% at
// the guide's 0.5%) and 500 ms.
func SeedPlan() Plan {
	return Plan{Weights: []float64{10, 50}, Phase: 15 * time.Minute, MaxErrorRate: 1, MaxLatencyP95: 500,
		ErrorThresholdFactor: 2, Limit: 2 * time.Hour}
}

// For returns the plan for a service whose healthy error rate is errorRate (a
// fraction): the error threshold scaled by ErrorThresholdFactor when it is set.
func (p Plan) For(errorRate float64) Plan {
	if p.ErrorThresholdFactor > 0 {
		p.MaxErrorRate = roundSig(100 * errorRate * p.ErrorThresholdFactor)
	}
	return p
}

// roundSig rounds to 6 significant digits, so that 2 x 0.1% reads 0.2.
func roundSig(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, 5-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}

// Ending is how a run ended.
type Ending string

const (
	Promoted   Ending = "promoted"
	RolledBack Ending = "rolled back"
	// Held: the rule paused for a person (Argo's inconclusive run) or had not
	// decided by Plan.Limit.
	Held Ending = "held"
)

// Outcome is one rule's result on one run.
type Outcome struct {
	Decision Ending
	// At is when the decision was made, since the canary started taking traffic.
	At time.Duration
	// Reason is the rule's explanation (the engine's verdict reason for ours).
	Reason string
}

// Rule is a decision rule under test. Run must be deterministic given the world.
type Rule interface {
	// Name is the rule's row in the table: the tool and "defaults" or the
	// tuning.
	Name() string
	// Settings spell the rule's configuration out, for the table's legend.
	Settings(p Plan) string
	// Relative says the rule compares the canary with stable. A rule that
	// only has absolute thresholds is not charged for promoting a canary
	// whose regression stays under them (ScenarioKind RelativeOnly).
	Relative() bool
	run(w *world, p Plan) Outcome
}

// Rules returns the rules of the comparison, in table order: each tool with its
// documented defaults and with one documented tuning, all at the same
// thresholds (Plan.MaxErrorRate, Plan.MaxLatencyP95) and, where the tool lets
// it, the plan's weights and pauses.
func Rules() []Rule {
	return []Rule{
		Flagger{Label: "defaults", Config: FlaggerDefaults()},
		Flagger{Label: "tutorial", Config: FlaggerTutorial()},
		Argo{Label: "defaults"},
		Argo{Label: "docs example", Interval: 5 * time.Minute, FailureLimit: 3},
		EngineThresholds{},
		EngineThresholds{FailureLimit: 3, ConsecutiveFailureLimit: 2},
		Statistical{},
		Statistical{Tuned: true},
	}
}

// ---------------------------------------------------------------------------
// Flagger

// FlaggerDefaults is Flagger's configuration with its defaults for everything
// the plan does not dictate: the plan's weights as stepWeights (10, 50), interval
// 60s, threshold 1 (canary.go:33, 655-659), each metric over the default 1m
// (canary.go:36, scheduler_metrics.go:144-146).
func FlaggerDefaults() FlaggerConfig { return FlaggerConfig{StepWeights: []int{10, 50}} }

// FlaggerTutorial is the tuning of Flagger's Istio tutorial
// (docs/gitbook/tutorials/istio-progressive-delivery.md:113-135): interval 1m,
// threshold 5, stepWeight 10 up to maxWeight 50. (The tutorial reads latency
// over 30s; the benchmark's world has minutes, so both metrics read 1m.)
func FlaggerTutorial() FlaggerConfig {
	return FlaggerConfig{Interval: time.Minute, Threshold: 5, StepWeight: 10, MaxWeight: 50}
}

// Flagger is Flagger's canary analysis (ReplayFlagger) with two metrics at the
// plan's thresholds: the built-in request-success-rate with thresholdRange min
// 100 - MaxErrorRate, then a MetricTemplate p95 latency with max MaxLatencyP95,
// both over the last analysis interval. Flagger drives its own weights: one step
// per passing analysis, so it neither holds a weight for the plan's 15 minutes
// nor can it (there is no pause step). Times are measured from the tick that
// routes the first step, the canary's first traffic.
type Flagger struct {
	Label  string
	Config FlaggerConfig
}

func (f Flagger) Name() string   { return "flagger " + f.Label }
func (f Flagger) Relative() bool { return false }

func (f Flagger) Settings(p Plan) string {
	return fmt.Sprintf("%s; request-success-rate min %g, latency-p95 max %g ms, each over the interval",
		f.Config, 100-p.MaxErrorRate, p.MaxLatencyP95)
}

// flaggerMetrics are the checks Flagger runs at the plan's thresholds.
func flaggerMetrics(p Plan) []FlaggerMetric {
	return []FlaggerMetric{
		{Name: "request-success-rate", Min: Float(100 - p.MaxErrorRate)},
		{Name: "latency-p95", Max: Float(p.MaxLatencyP95)},
	}
}

func (f Flagger) run(w *world, p Plan) Outcome {
	cfg := f.Config
	cfg.Metrics = flaggerMetrics(p)
	interval := cfg.interval()
	cfg.Horizon = p.Limit + interval
	kinds := [...]int{metricSuccessPct, metricLatencyP95}
	// Flagger's weight changes only at ticks and each metric reads one
	// interval, so the weight the query reports held over the whole window.
	ds := ReplayFlagger(cfg, func(q Query) Measurement {
		return w.measure(kinds[q.Metric], q.At-interval, interval, func(int) float64 { return q.Weight })
	})
	return flaggerOutcome(ds, interval, p.Limit)
}

// flaggerOutcome reads how a Flagger replay ended, in benchmark time (since the
// first step, one interval after the replay's origin).
func flaggerOutcome(ds []Decision, interval, limit time.Duration) Outcome {
	for _, d := range ds {
		switch d.Kind {
		case KindRollback:
			return Outcome{RolledBack, d.At - interval, d.Reason}
		case KindPromote:
			return Outcome{Promoted, d.At - interval, d.Reason}
		}
	}
	why := "no decision"
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Kind == KindHold {
			why = ds[i].Reason
			break
		}
	}
	return Outcome{Held, limit, why}
}

// ---------------------------------------------------------------------------
// Argo Rollouts

// Argo is an Argo Rollouts canary with the plan's steps (setWeight 10, pause
// 15m, setWeight 50, pause 15m) and a background analysis (ReplayArgo) of two
// metrics at the plan's thresholds, each over the last Interval: the success
// rate in percent with successCondition "result[0] >= 100 - MaxErrorRate" (the
// form of the docs' example; the error-rate form, 5xx over all, returns an empty
// vector until the canary's first 5xx, which Argo counts as an error, as
// internal/anchors measured live) and the p95 with "result[0] <= MaxLatencyP95".
// The zero value is Argo's defaults with the plan's 1m interval (Argo has no
// default interval: without one a metric is measured once): failureLimit 0,
// consecutiveErrorLimit 4, inconclusiveLimit 0, no initialDelay (the first
// measurement, at the canary's first instant, finds no series and errors; the
// retry 10s later reads those 10 seconds). The docs example is the background
// analysis of docs/features/analysis.md:82-86: interval 5m, failureLimit 3.
type Argo struct {
	Label        string
	Interval     time.Duration // default 1m
	FailureLimit int
	InitialDelay time.Duration
}

func (a Argo) Name() string   { return "argo " + a.Label }
func (a Argo) Relative() bool { return false }

func (a Argo) interval() time.Duration {
	if a.Interval > 0 {
		return a.Interval
	}
	return time.Minute
}

// Config is the ArgoConfig the rule replays for plan p.
func (a Argo) Config(p Plan) ArgoConfig {
	var steps []ArgoStep
	for _, w := range p.Weights {
		steps = append(steps, ArgoStep{SetWeight: w, Pause: p.Phase})
	}
	m := func(name string, cond Condition) ArgoMetric {
		return ArgoMetric{Name: name, Interval: a.interval(), InitialDelay: a.InitialDelay, FailureLimit: a.FailureLimit,
			SuccessCondition: &cond}
	}
	return ArgoConfig{Steps: steps, Horizon: p.Limit, Metrics: []ArgoMetric{
		m("success-rate", Condition{Op: ">=", Value: 100 - p.MaxErrorRate}),
		m("latency-p95", Condition{Op: "<=", Value: p.MaxLatencyP95}),
	}}
}

func (a Argo) Settings(p Plan) string {
	cfg := a.Config(p)
	return fmt.Sprintf("%s, consecutiveErrorLimit %d, inconclusiveLimit 0; steps %s; successCondition %s (success %%), %s (p95 ms), each over the interval",
		cfg.Metrics[0], cfg.Metrics[0].consecutiveErrorLimit(), describeSteps(cfg.Steps), cfg.Metrics[0].SuccessCondition, cfg.Metrics[1].SuccessCondition)
}

func describeSteps(steps []ArgoStep) string {
	var parts []string
	for _, s := range steps {
		parts = append(parts, fmt.Sprintf("setWeight %g", s.SetWeight))
		if s.Pause > 0 {
			parts = append(parts, "pause "+short(s.Pause))
		}
	}
	return strings.Join(parts, ", ")
}

func (a Argo) run(w *world, p Plan) Outcome {
	cfg := a.Config(p)
	weightOf := func(m int) float64 {
		// The weight in effect during minute m: the last step set at or before
		// its start (the steps change at whole minutes).
		start := time.Duration(m-1) * time.Minute
		weight := 0.0
		var at time.Duration
		for _, s := range cfg.Steps {
			if at > start {
				break
			}
			weight = s.SetWeight
			at += s.Pause
		}
		if start >= at {
			return 0 // promoted: the canary is the stable version now
		}
		return weight
	}
	kinds := [...]int{metricSuccessPct, metricLatencyP95}
	interval := a.interval()
	ds := ReplayArgo(cfg, func(q Query) Measurement {
		return w.measure(kinds[q.Metric], q.At, interval, weightOf)
	})
	last := ds[len(ds)-1]
	switch last.Kind {
	case KindRollback:
		return Outcome{RolledBack, last.At, last.Reason}
	case KindPromote:
		return Outcome{Promoted, last.At, last.Reason}
	case KindPause:
		return Outcome{Held, last.At, last.Reason}
	}
	return Outcome{Held, p.Limit, "no decision"}
}

// ---------------------------------------------------------------------------
// The analysis engine

// engineRule runs checks through the real analysis.Engine, phase by phase, the way
// rollout.Runner does: Begin at the phase's start with the phase's end as deadline,
// Tick whenever the result says, advance on VerdictPass, roll back on VerdictFail
// and, under the default OnInconclusive policy, on VerdictInconclusive.
type engineRule struct {
	name   string
	checks []progressive.Check
}

// newJudges gives each run its own judges, so runs share nothing.
func newJudges() map[string]analysis.Judge {
	return map[string]analysis.Judge{
		analysis.KindSPRT:        analysis.SPRTJudge{Requests: analysis.RequestsExpr(seriesRequestRate)},
		analysis.KindMannWhitney: analysis.MannWhitneyJudge{Cache: stats.NewDistCache()},
	}
}

var quiet = slog.New(slog.DiscardHandler)

func (r engineRule) Name() string { return r.name }

func (r engineRule) run(w *world, p Plan) Outcome {
	sched := &schedule{}
	src := &source{w: w, sched: sched}
	engine, err := analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return src, nil },
		Judges:  newJudges(),
		Logger:  quiet,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	vars := analysis.Vars{Namespace: "bench", Service: "service", CanaryVersion: "canary", StableVersion: "stable"}
	limit := epoch.Add(p.Limit)
	start := epoch
	for _, weight := range p.Weights {
		sched.set(start.Sub(epoch), weight)
		st := engine.Begin(r.checks, start, start.Add(p.Phase))
		now := start
		for {
			res, err := engine.Tick(ctx, r.checks, vars, &st, now)
			if err != nil {
				return Outcome{RolledBack, now.Sub(epoch), "analysis cannot run: " + err.Error()}
			}
			switch res.Verdict {
			case analysis.VerdictFail, analysis.VerdictInconclusive:
				return Outcome{RolledBack, now.Sub(epoch), res.Reason}
			}
			if res.Verdict == analysis.VerdictPass {
				break
			}
			if res.NextDue.After(limit) {
				return Outcome{Held, p.Limit, res.Reason}
			}
			now = res.NextDue
		}
		start = now
	}
	return Outcome{Promoted, start.Sub(epoch), "every phase passed"}
}

// EngineThresholds is the analysis engine with threshold checks at the plan's
// thresholds (error rate at most MaxErrorRate, p95 at most MaxLatencyP95), every
// minute, with the given failure limits and the engine's defaults otherwise
// (missing data inconclusive after a warm-up of three windows,
// InconclusiveLimit 3, and an inconclusive analysis rolls back). The zero value
// is the defaults row; the tuning tolerates three failed measurements, but not
// two in a row.
type EngineThresholds struct {
	FailureLimit, ConsecutiveFailureLimit int
}

func (e EngineThresholds) Name() string {
	if e == (EngineThresholds{}) {
		return "engine thresholds defaults"
	}
	return "engine thresholds tuned"
}

func (e EngineThresholds) Relative() bool { return false }

func (e EngineThresholds) Settings(p Plan) string {
	s := fmt.Sprintf("error rate max %g%%, p95 max %g ms, every 1m; failureLimit %d", p.MaxErrorRate, p.MaxLatencyP95, e.FailureLimit)
	if e.ConsecutiveFailureLimit > 0 {
		s += fmt.Sprintf(", consecutiveFailureLimit %d", e.ConsecutiveFailureLimit)
	}
	return s + ", inconclusiveLimit 3 (default)"
}

func (e EngineThresholds) run(w *world, p Plan) Outcome {
	checks := []progressive.Check{
		{Name: "error-rate", Query: seriesErrorRate, Max: progressive.Float(p.MaxErrorRate), InitialDelay: time.Minute,
			FailureLimit: e.FailureLimit, ConsecutiveFailureLimit: e.ConsecutiveFailureLimit},
		{Name: "latency-p95", Query: seriesLatencyP95, Max: progressive.Float(p.MaxLatencyP95), InitialDelay: time.Minute,
			FailureLimit: e.FailureLimit, ConsecutiveFailureLimit: e.ConsecutiveFailureLimit},
	}
	return engineRule{e.Name(), checks}.run(w, p)
}

// KayentaLike judges both metrics the way Kayenta's examples do: one Mann-Whitney
// comparison of the canary's per-minute values with the baseline's at the end of
// each phase (interval = phase), 98% confidence, allowed increase 10%. It models
// no tool's code, so it is not in Rules(); the command adds it with -kayenta.
type KayentaLike struct{}

func (KayentaLike) Name() string   { return "kayenta-like" }
func (KayentaLike) Relative() bool { return true }
func (KayentaLike) Settings(p Plan) string {
	return "mann-whitney of the per-minute values against stable once per phase (" + short(p.Phase) + "), 98% confidence, allowed increase 10%"
}

func (k KayentaLike) run(w *world, p Plan) Outcome {
	mw := func(name, query string) progressive.Check {
		return progressive.Check{Name: name, Query: query, InitialDelay: p.Phase, Interval: p.Phase,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: map[string]float64{analysis.MWAllowedIncrease: 0.1}}}
	}
	return engineRule{k.Name(), []progressive.Check{mw("error-rate", seriesErrorRate), mw("latency-p95", seriesLatencyP95)}}.run(w, p)
}

// Statistical is this SDK's statistical configuration (StatisticalChecks): the
// judges compare the canary with stable, so it sees relative regressions too.
// The zero value keeps the engine's documented defaults for everything but the
// judges (InconclusiveLimit 3, missing data inconclusive, warm-up three
// windows). Tuned is its documented tuning for a metrics backend that may be
// away for minutes: InconclusiveLimit 10 and missing data a failure (see
// StatisticalChecks).
type Statistical struct {
	Tuned bool
}

func (s Statistical) Name() string {
	if s.Tuned {
		return "ours tuned"
	}
	return "ours defaults"
}

func (Statistical) Relative() bool { return true }

func (s Statistical) Settings(Plan) string {
	base := "sprt of the error rate every 1m (2x and 5x, alpha 0.004, lookback 15m) + mann-whitney of p95 every 5m (98%, +10%)"
	if s.Tuned {
		return base + "; inconclusiveLimit 10, noData fail"
	}
	return base + "; inconclusiveLimit 3, noData inconclusive (defaults)"
}

func (s Statistical) run(w *world, p Plan) Outcome {
	checks := StatisticalChecks()
	if s.Tuned {
		for i := range checks {
			checks[i].InconclusiveLimit = 10
			checks[i].NoData = progressive.NoDataFail
		}
	}
	return engineRule{s.Name(), checks}.run(w, p)
}

// StatisticalChecks are the checks of the Statistical rule, for the simulator's (and
// this benchmark's) series names:
//
//   - error-rate: the sequential test (SPRTJudge) every minute, watching for a 2x
//     and for a 5x error rate (the 5x test catches a strong regression sooner),
//     alpha 0.004 per analysis so that the two analyses of the guide's plan stay
//     under 0.8% false rollbacks together (Ville's inequality and a union bound),
//     leaving the rest of the 1% budget to latency; the test of the 50% phase also
//     weighs the 15 minutes at 10% (lookback), so a 2x regression too weak to
//     show in the first phase alone adds up over both;
//   - latency-p95: a Mann-Whitney comparison of the per-minute p95 of the phase so
//     far, every 5 minutes (fewer looks, fewer false alarms), 98% confidence,
//     allowed increase 10%.
//
// Everything else is the engine's default: missing data is inconclusive and
// three inconclusive measurements in a row end the analysis, which rolls back.
// The tuning (Statistical{Tuned: true}) sets InconclusiveLimit 10 and NoData
// fail: the judges read ranges, so a metrics backend that comes back loses them
// nothing and the missed minutes are judged when it does, while a canary that
// serves no request at its weight is broken (no rate in the benchmark leaves a
// canary minute empty by chance). Nothing passes while the backend is away.
func StatisticalChecks() []progressive.Check {
	return []progressive.Check{
		{
			Name: "error-rate", Query: seriesErrorRate, InitialDelay: time.Minute,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: map[string]float64{
				analysis.SPRTRatio: 100, analysis.SPRTScale: 60, analysis.SPRTAlpha: 0.004,
				analysis.SPRTMinRatio: 2, analysis.SPRTFastRatio: 5, analysis.SPRTLookback: 900}},
		},
		{
			Name: "latency-p95", Query: seriesLatencyP95, InitialDelay: 5 * time.Minute, Interval: 5 * time.Minute,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: map[string]float64{
				analysis.MWAllowedIncrease: 0.1}},
		},
	}
}

// short writes 1m, 5m, 90s.
func short(d time.Duration) string { return analysis.FormatDuration(d) }
