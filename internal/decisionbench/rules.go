package decisionbench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/analysis/stats"
)

// Plan is the rollout every rule drives: the canary takes Weights[i] percent of the
// requests for Phase each, then is promoted. The seed's: 10% -> 50% -> 100%, 15
// minutes each. Thresholds are the seed's rollback triggers.
type Plan struct {
	Weights []float64
	Phase   time.Duration
	// MaxErrorRate (percent) and MaxLatencyP95 (ms) are the seed's thresholds:
	// error rate > 1%, p95 > 500 ms.
	MaxErrorRate  float64
	MaxLatencyP95 float64
	// Limit ends a run that has neither promoted nor rolled back (a paused or
	// stuck analysis): it counts as held.
	Limit time.Duration
}

// SeedPlan is the seed's plan.
func SeedPlan() Plan {
	return Plan{Weights: []float64{10, 50}, Phase: 15 * time.Minute, MaxErrorRate: 1, MaxLatencyP95: 500, Limit: 2 * time.Hour}
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
	Name() string
	run(w *world, p Plan) Outcome
}

// Rules returns the rules of the comparison, in table order: models of Flagger and
// Argo Rollouts with their documented defaults, the analysis engine with threshold
// checks, a Kayenta-like judgement once per phase, and the statistical judges.
func Rules() []Rule {
	return []Rule{
		Flagger{Interval: time.Minute, Threshold: 5},
		Argo{Interval: time.Minute, FailureLimit: 0, ConsecutiveErrorLimit: 4},
		Argo{Interval: 5 * time.Minute, FailureLimit: 3, ConsecutiveErrorLimit: 4},
		EngineThresholds{FailureLimit: 0},
		EngineThresholds{FailureLimit: 3, ConsecutiveFailureLimit: 2},
		KayentaLike{},
		Statistical{},
	}
}

// ---------------------------------------------------------------------------
// Flagger

// Flagger models Flagger's canary analysis rule (fluxcd/flagger, pkg/controller
// scheduler): every Interval it runs each metric check (error rate at most
// MaxErrorRate, i.e. request-success-rate min 99; p95 at most MaxLatencyP95 over
// the last Interval). A check that fails, returns no value or NaN ("no values
// found"), or whose query fails, adds one to a failed-checks counter that is never
// reset during the rollout, and halts advancement: the weight only advances after a
// tick where every check passed, so a phase needs Phase/Interval passing ticks.
// At the start of each tick, before measuring, a counter that has reached Threshold
// rolls back: one interval after the threshold was reached. Threshold 5 and
// interval 1m are the documentation's example (the "about 6 minutes").
type Flagger struct {
	Interval  time.Duration
	Threshold int
}

func (f Flagger) Name() string {
	return fmt.Sprintf("flagger (interval %s, threshold %d)", short(f.Interval), f.Threshold)
}

func (f Flagger) run(w *world, p Plan) Outcome {
	phase, passed, failed := 0, 0, 0
	need := int(p.Phase / f.Interval)
	for t := f.Interval; t <= p.Limit; t += f.Interval {
		if failed >= f.Threshold {
			return Outcome{RolledBack, t, fmt.Sprintf("%d failed checks reached threshold %d", failed, f.Threshold)}
		}
		weight := p.Weights[phase]
		ok := true
		if w.outage(t) {
			ok = false
		} else {
			er, lat := windowValues(w, t, f.Interval, weight)
			if !(er <= p.MaxErrorRate) || !(lat <= p.MaxLatencyP95) { // NaN fails
				ok = false
			}
		}
		if !ok {
			failed++
			continue
		}
		passed++
		if passed == need {
			phase, passed = phase+1, 0
			if phase == len(p.Weights) {
				return Outcome{Promoted, t, "every phase passed"}
			}
		}
	}
	return Outcome{Held, p.Limit, "no decision"}
}

// ---------------------------------------------------------------------------
// Argo Rollouts

// Argo models an Argo Rollouts background analysis (argoproj/argo-rollouts,
// analysis/analysis.go) over the seed's steps (setWeight 10, pause Phase, setWeight
// 50, pause Phase): two metrics, measured every Interval over the last Interval,
// with successCondition "result[0] <= MaxErrorRate" and "result[0] <=
// MaxLatencyP95" and no failureCondition. A measurement whose value misses the
// condition, NaN included (Argo's documented NaN handling), is Failed; a provider
// error is an Error. A metric is Failed when Failed > FailureLimit (default 0),
// Error when consecutive errors > ConsecutiveErrorLimit (default 4), Inconclusive
// when inconclusive measurements > inconclusiveLimit (default 0; with only a success
// condition no measurement is inconclusive). Failed or Error aborts the rollout
// (rollback); Inconclusive pauses it for a person (held). The steps do not wait for
// the analysis: after the last pause the rollout is promoted. Counts run over the
// whole rollout. Interval 1m with failureLimit 0 is the default rule with the seed's
// interval; 5m with failureLimit 3 is the documentation's example.
type Argo struct {
	Interval              time.Duration
	FailureLimit          int
	ConsecutiveErrorLimit int
}

func (a Argo) Name() string {
	return fmt.Sprintf("argo (interval %s, failureLimit %d)", short(a.Interval), a.FailureLimit)
}

func (a Argo) run(w *world, p Plan) Outcome {
	total := p.Phase * time.Duration(len(p.Weights))
	var failed [2]int
	var consecutiveErrors int
	for t := a.Interval; t <= total; t += a.Interval {
		phase := min(int((t-1)/p.Phase), len(p.Weights)-1)
		weight := p.Weights[phase]
		if w.outage(t) {
			consecutiveErrors++
			if consecutiveErrors > a.ConsecutiveErrorLimit {
				return Outcome{RolledBack, t, fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d)", consecutiveErrors, a.ConsecutiveErrorLimit)}
			}
			continue
		}
		consecutiveErrors = 0
		er, lat := windowValues(w, t, a.Interval, weight)
		for i, ok := range [2]bool{er <= p.MaxErrorRate, lat <= p.MaxLatencyP95} {
			if !ok {
				failed[i]++
			}
		}
		for i := range failed {
			if failed[i] > a.FailureLimit {
				return Outcome{RolledBack, t, fmt.Sprintf("failed (%d) > failureLimit (%d)", failed[i], a.FailureLimit)}
			}
		}
	}
	return Outcome{Promoted, total, "every step completed"}
}

// windowValues is what a Prometheus query over the window [t-d, t] returns for the
// canary at weight: the error rate in percent (errors/requests, NaN without
// requests) and the p95 latency (the per-minute estimates' geometric mean weighted
// by requests, NaN without requests).
func windowValues(w *world, t, d time.Duration, weight float64) (errPct, p95 float64) {
	last := int(t / time.Minute)
	first := last - int(d/time.Minute) + 1
	var n, k int
	var logSum float64
	for m := max(first, 1); m <= last; m++ {
		b := w.bucket(m, true, weight)
		n += b.n
		k += b.k
		if b.n > 0 {
			logSum += float64(b.n) * math.Log(b.p95)
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	return 100 * float64(k) / float64(n), math.Exp(logSum / float64(n))
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

// EngineThresholds is the analysis engine with the seed's threshold checks (error
// rate at most 1%, p95 at most 500 ms), every minute, with the given failure limits
// and the engine's defaults otherwise (missing data inconclusive, three in a row end
// the analysis, which rolls back).
type EngineThresholds struct {
	FailureLimit, ConsecutiveFailureLimit int
}

func (e EngineThresholds) Name() string {
	s := fmt.Sprintf("engine thresholds (failureLimit %d", e.FailureLimit)
	if e.ConsecutiveFailureLimit > 0 {
		s += fmt.Sprintf(", consecutive %d", e.ConsecutiveFailureLimit)
	}
	return s + ")"
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
// each phase (interval = phase), 98% confidence, allowed increase 10%.
type KayentaLike struct{}

func (KayentaLike) Name() string { return "kayenta-like (mann-whitney per phase)" }

func (k KayentaLike) run(w *world, p Plan) Outcome {
	mw := func(name, query string) progressive.Check {
		return progressive.Check{Name: name, Query: query, InitialDelay: p.Phase, Interval: p.Phase,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: map[string]float64{analysis.MWAllowedIncrease: 0.1}}}
	}
	return engineRule{k.Name(), []progressive.Check{mw("error-rate", seriesErrorRate), mw("latency-p95", seriesLatencyP95)}}.run(w, p)
}

// Statistical is this SDK's statistical configuration (StatisticalChecks).
type Statistical struct{}

func (Statistical) Name() string { return "ours: sprt + mann-whitney" }

func (s Statistical) run(w *world, p Plan) Outcome {
	return engineRule{s.Name(), StatisticalChecks()}.run(w, p)
}

// StatisticalChecks are the checks of the Statistical rule, for the simulator's (and
// this benchmark's) series names:
//
//   - error-rate: the sequential test (SPRTJudge) every minute, watching for a 2x
//     and for a 5x error rate (the 5x test catches a strong regression sooner),
//     alpha 0.004 per analysis so that the two analyses of the seed's plan stay
//     under 0.8% false rollbacks together (Ville's inequality and a union bound),
//     leaving the rest of the 1% budget to latency; the test of the 50% phase also
//     weighs the 15 minutes at 10% (lookback), so a 2x regression too weak to
//     show in the first phase alone adds up over both;
//   - latency-p95: a Mann-Whitney comparison of the per-minute p95 of the phase so
//     far, every 5 minutes (fewer looks, fewer false alarms), 98% confidence,
//     allowed increase 10%.
//
// Both count missing data as a failure (NoData fail): a canary that serves no
// request at its weight is broken, and no rate in the benchmark leaves a canary
// minute empty by chance. Both tolerate ten inconclusive measurements in a row
// (InconclusiveLimit 10): they read ranges, so a metrics backend that comes back
// loses them nothing, and the missed minutes are judged when it does. Nothing
// passes while the backend is away.
func StatisticalChecks() []progressive.Check {
	return []progressive.Check{
		{
			Name: "error-rate", Query: seriesErrorRate, InitialDelay: time.Minute,
			NoData: progressive.NoDataFail, InconclusiveLimit: 10,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: map[string]float64{
				analysis.SPRTRatio: 100, analysis.SPRTScale: 60, analysis.SPRTAlpha: 0.004,
				analysis.SPRTMinRatio: 2, analysis.SPRTFastRatio: 5, analysis.SPRTLookback: 900}},
		},
		{
			Name: "latency-p95", Query: seriesLatencyP95, InitialDelay: 5 * time.Minute, Interval: 5 * time.Minute,
			NoData: progressive.NoDataFail, InconclusiveLimit: 10,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: map[string]float64{
				analysis.MWAllowedIncrease: 0.1}},
		},
	}
}

// short writes 1m, 5m, 90s.
func short(d time.Duration) string { return analysis.FormatDuration(d) }
