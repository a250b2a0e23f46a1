package decisionbench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is one benchmark: every rule on every scenario at every healthy error
// rate and request rate, over several seeds.
type Config struct {
	// Seeds of the random streams. The runs of a cell are dealt to them in
	// turn (run r uses Seeds[r mod len]), so each seed is an independent
	// replicate and the goals can be checked per seed. Default 1, 2, 3.
	Seeds []uint64
	// Runs per cell (scenario, error rate, request rate) over all seeds, for
	// every scenario but "healthy". Default 150.
	Runs int
	// HealthyRuns per cell of the healthy scenario, which measures false
	// rollbacks. Default 1200: at least 1,000, the fewest that tell a 1% rate
	// from 0.3%.
	HealthyRuns int
	// Rates are the service's total request rates, in requests per second.
	// Default 10, 100, 1000.
	Rates []float64
	// ErrorRates are the healthy error rates (fractions) of the service.
	// Default 0.001, 0.005, 0.02.
	ErrorRates []float64
	// Traffic is the healthy service; its RequestRate and ErrorRate are
	// replaced by each of Rates and ErrorRates. Default: p95 120 ms, diurnal
	// swing 0.3.
	Traffic Traffic
	// Plan is what the rules drive. Default SeedPlan(); Plan.For scales its
	// error threshold to each error rate.
	Plan Plan
	// Scenarios default to Scenarios(), Rules to Rules().
	Scenarios []Scenario
	Rules     []Rule
	// Workers run in parallel. Default GOMAXPROCS.
	Workers int
}

// DefaultTraffic is the healthy service of the benchmark.
func DefaultTraffic() Traffic {
	return Traffic{ErrorRate: 0.005, LatencyP95Ms: 120, Diurnal: 0.3}
}

// DefaultErrorRates are the healthy error rates the goals are checked at.
func DefaultErrorRates() []float64 { return []float64{0.001, 0.005, 0.02} }

func (c Config) withDefaults() Config {
	if len(c.Seeds) == 0 {
		c.Seeds = []uint64{1, 2, 3}
	}
	if c.Runs == 0 {
		c.Runs = 150
	}
	if c.HealthyRuns == 0 {
		c.HealthyRuns = 1200
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{10, 100, 1000}
	}
	if len(c.ErrorRates) == 0 {
		c.ErrorRates = DefaultErrorRates()
	}
	if c.Traffic == (Traffic{}) {
		c.Traffic = DefaultTraffic()
	}
	if len(c.Plan.Weights) == 0 {
		c.Plan = SeedPlan()
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios()
	}
	if len(c.Rules) == 0 {
		c.Rules = Rules()
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

func (c Config) runsOf(sc Scenario) int {
	if sc.Name == "healthy" {
		return c.HealthyRuns
	}
	return c.Runs
}

// SeedCount is what one rule did on one cell's runs of one seed.
type SeedCount struct {
	Seed                             uint64
	Runs, RolledBack, Promoted, Held int
	// Detect holds the rollback times of this guide's runs, ascending.
	Detect []time.Duration
}

// Cell is what one rule did on one scenario at one error rate and request rate.
type Cell struct {
	Scenario  Scenario
	ErrorRate float64 // healthy error rate, a fraction
	Rate      float64 // requests per second
	Rule      string
	// Kind is the scenario's kind at this error rate's thresholds; Asked says
	// the rule is expected to stop the canary (a bad scenario that is Absolute,
	// or any bad one for a rule that compares with stable).
	Kind  ScenarioKind
	Asked bool
	Runs  int
	// RolledBack, Promoted and Held count the runs by how they ended.
	RolledBack, Promoted, Held int
	// Detect holds the decision times of the rolled-back runs, Promote those of the
	// promoted runs, ascending.
	Detect, Promote []time.Duration
	// BySeed splits the counts by seed, in Config.Seeds order.
	BySeed []SeedCount
	// Example is the reason of the first run's decision.
	Example string
}

// RollbackRate is the share of runs rolled back.
func (c Cell) RollbackRate() float64 { return ratio(c.RolledBack, c.Runs) }

// PromoteRate is the share of runs promoted: for a bad canary, the missed rate.
func (c Cell) PromoteRate() float64 { return ratio(c.Promoted, c.Runs) }

// HeldRate is the share of runs that ended neither way.
func (c Cell) HeldRate() float64 { return ratio(c.Held, c.Runs) }

// DetectQuantile is the q-quantile (nearest rank) of the time to roll back, over the
// rolled-back runs; false when there are none.
func (c Cell) DetectQuantile(q float64) (time.Duration, bool) { return quantile(c.Detect, q) }

// TTD is the q-quantile of the time to roll back over all runs, a run that was
// not rolled back counting as never: false when fewer than a q share of the runs
// were rolled back.
func (c Cell) TTD(q float64) (time.Duration, bool) { return ttd(c.Detect, c.Runs, q) }

func ttd(sorted []time.Duration, runs int, q float64) (time.Duration, bool) {
	i := int(math.Ceil(q*float64(runs))) - 1
	if runs == 0 || i >= len(sorted) {
		return 0, false
	}
	return sorted[max(i, 0)], true
}

// PromoteQuantile is the q-quantile of the time to promotion of promoted runs.
func (c Cell) PromoteQuantile(q float64) (time.Duration, bool) { return quantile(c.Promote, q) }

// Result holds every cell of a benchmark.
type Result struct {
	Config Config
	Cells  []Cell
	// Elapsed is the wall time the benchmark took.
	Elapsed time.Duration
}

// Cell returns the cell of a healthy error rate, scenario, request rate and rule.
func (r Result) Cell(errorRate float64, scenario string, rate float64, rule string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.ErrorRate == errorRate && c.Scenario.Name == scenario && c.Rate == rate && c.Rule == rule {
			return c, true
		}
	}
	return Cell{}, false
}

// Run runs the benchmark. Each run of a scenario at an error rate and a request
// rate builds one world (its random streams) and runs every rule on it; runs are
// independent and spread over the workers, and the result does not depend on
// their number.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	began := time.Now()
	type job struct {
		errRate, rate, scenario, run int
	}
	// outcomes[errRate][rate][scenario][run][rule]
	outcomes := make([][][][][]Outcome, len(cfg.ErrorRates))
	for e := range cfg.ErrorRates {
		outcomes[e] = make([][][][]Outcome, len(cfg.Rates))
		for j := range cfg.Rates {
			outcomes[e][j] = make([][][]Outcome, len(cfg.Scenarios))
			for i, sc := range cfg.Scenarios {
				outcomes[e][j][i] = make([][]Outcome, cfg.runsOf(sc))
			}
		}
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				sc := cfg.Scenarios[jb.scenario]
				tr := cfg.Traffic
				tr.RequestRate = cfg.Rates[jb.rate]
				tr.ErrorRate = cfg.ErrorRates[jb.errRate]
				plan := cfg.Plan.For(tr.ErrorRate)
				seed := cfg.Seeds[jb.run%len(cfg.Seeds)]
				// The same stream key for every scenario and error rate: a run's
				// noise is shared by the scenarios too, so they differ only by what
				// is wrong with the canary.
				w := newWorld(sc, tr, mix(seed, math.Float64bits(tr.RequestRate)), jb.run/len(cfg.Seeds))
				out := make([]Outcome, len(cfg.Rules))
				for k, rule := range cfg.Rules {
					out[k] = rule.run(w, plan)
				}
				outcomes[jb.errRate][jb.rate][jb.scenario][jb.run] = out
			}
		}()
	}
	var err error
feed:
	for e := range cfg.ErrorRates {
		for j := range cfg.Rates {
			for i, sc := range cfg.Scenarios {
				for run := range cfg.runsOf(sc) {
					select {
					case jobs <- job{e, j, i, run}:
					case <-ctx.Done():
						err = ctx.Err()
						break feed
					}
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return Result{}, fmt.Errorf("decisionbench: %w", err)
	}

	res := Result{Config: cfg}
	for e, errRate := range cfg.ErrorRates {
		tr := cfg.Traffic
		tr.ErrorRate = errRate
		plan := cfg.Plan.For(errRate)
		for j, rate := range cfg.Rates {
			for i, sc := range cfg.Scenarios {
				runs := outcomes[e][j][i]
				for k, rule := range cfg.Rules {
					kind := sc.Kind(tr, plan)
					c := Cell{Scenario: sc, ErrorRate: errRate, Rate: rate, Rule: rule.Name(), Kind: kind,
						Asked: kind == Absolute || (kind == RelativeOnly && rule.Relative()), Runs: len(runs)}
					c.BySeed = make([]SeedCount, len(cfg.Seeds))
					for s, seed := range cfg.Seeds {
						c.BySeed[s].Seed = seed
					}
					for run, out := range runs {
						o := out[k]
						if run == 0 {
							c.Example = o.Reason
						}
						bs := &c.BySeed[run%len(cfg.Seeds)]
						bs.Runs++
						switch o.Decision {
						case RolledBack:
							c.RolledBack++
							bs.RolledBack++
							c.Detect = append(c.Detect, o.At)
							bs.Detect = append(bs.Detect, o.At)
						case Promoted:
							c.Promoted++
							bs.Promoted++
							c.Promote = append(c.Promote, o.At)
						default:
							c.Held++
							bs.Held++
						}
					}
					slices.Sort(c.Detect)
					slices.Sort(c.Promote)
					for s := range c.BySeed {
						slices.Sort(c.BySeed[s].Detect)
					}
					res.Cells = append(res.Cells, c)
				}
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// Regime is one healthy error rate and request rate: the conditions under
// which a goal holds or not.
type Regime struct {
	ErrorRate, Rate float64
}

// isTarget: the goals were stated at 100 req/s and a 0.5% error rate.
func (c Regime) isTarget() bool { return c.Rate == 100 && c.ErrorRate == 0.005 }

func (c Regime) String() string {
	return fmt.Sprintf("%s errors, %s req/s", pct(c.ErrorRate), fmtRate(c.Rate))
}

// Goal is one of the benchmark's goals, evaluated for one rule under one condition.
type Goal struct {
	Name string
	// Regime is the healthy error rate and request rate the goal was checked
	// under.
	Regime Regime
	// Target marks the regime the goals were stated for (100 req/s at a 0.5%
	// error rate): elsewhere the check says how far the claim carries.
	Target bool
	// Measured is false when the result lacks the cells the goal needs.
	Measured bool
	Met      bool
	Detail   string
}

// Goal names.
const (
	GoalDetect    = "detect errors x5 within 1m (median)"
	GoalFalse     = "at most 1% false rollbacks (>= 1,000 healthy runs)"
	GoalNoPromote = "no regressed canary promoted"
)

// Goals evaluates the project's goals for rule under every condition of the
// result (each healthy error rate and request rate), on the runs of every seed
// pooled, and requires them to hold for each seed too:
//
//  1. GoalDetect: an x5 error regression (at 10% canary weight) is rolled back
//     within one analysis interval (1m) at the median, in every seed. Stated for
//     100 req/s at a 0.5% error rate.
//  2. GoalFalse: at most 1% of healthy canaries are rolled back, over at least
//     1,000 runs, and no seed over 1% by more than its own sampling error
//     (two standard errors).
//  3. GoalNoPromote: no regressed canary is promoted: every scenario with
//     NoPromotionFrom, at the rates from it up (errors x2 from 100 req/s; errors
//     x5 and x10, latency +100% and a canary without traffic at every rate).
func (r Result) Goals(rule string) []Goal {
	var goals []Goal
	for _, errRate := range r.Config.ErrorRates {
		for _, rate := range r.Config.Rates {
			cond := Regime{errRate, rate}
			goals = append(goals, r.goalDetect(rule, cond), r.goalFalse(rule, cond), r.goalNoPromote(rule, cond))
		}
	}
	return goals
}

func (r Result) goalDetect(rule string, cond Regime) Goal {
	g := Goal{Name: GoalDetect, Regime: cond, Target: cond.isTarget()}
	c, ok := r.Cell(cond.ErrorRate, "errors x5", cond.Rate, rule)
	if !ok {
		g.Detail = "not measured (needs scenario errors x5)"
		return g
	}
	g.Measured = true
	d, detected := c.TTD(0.5)
	g.Met = detected && d <= time.Minute
	var seeds []string
	for _, s := range c.BySeed {
		sd, sok := ttd(s.Detect, s.Runs, 0.5)
		if !sok || sd > time.Minute {
			g.Met = false
		}
		seeds = append(seeds, fmtDur(sd, sok))
	}
	g.Detail = fmt.Sprintf("median %s, p90 %s, %d of %d rolled back; per seed %s", fmtDur(d, detected),
		fmtQ(c.TTD(0.9)), c.RolledBack, c.Runs, strings.Join(seeds, "/"))
	return g
}

func (r Result) goalFalse(rule string, cond Regime) Goal {
	g := Goal{Name: GoalFalse, Regime: cond, Target: cond.isTarget()}
	c, ok := r.Cell(cond.ErrorRate, "healthy", cond.Rate, rule)
	if !ok {
		g.Detail = "not measured (needs scenario healthy)"
		return g
	}
	g.Measured = true
	g.Met = c.Runs >= 1000 && c.RolledBack*100 <= c.Runs
	var seeds []string
	for _, s := range c.BySeed {
		if s.Runs == 0 {
			continue
		}
		se := math.Sqrt(0.01 * 0.99 / float64(s.Runs))
		if ratio(s.RolledBack, s.Runs) > 0.01+2*se {
			g.Met = false
		}
		seeds = append(seeds, fmt.Sprintf("%d/%d", s.RolledBack, s.Runs))
	}
	g.Detail = fmt.Sprintf("%d of %d rolled back (%s), %d held; per seed %s", c.RolledBack, c.Runs, pct(c.RollbackRate()),
		c.Held, strings.Join(seeds, ", "))
	return g
}

func (r Result) goalNoPromote(rule string, cond Regime) Goal {
	g := Goal{Name: GoalNoPromote, Regime: cond, Target: cond.isTarget(), Met: true}
	var parts []string
	cells := 0
	for _, c := range r.Cells {
		if c.Rule != rule || c.ErrorRate != cond.ErrorRate || c.Rate != cond.Rate ||
			c.Scenario.NoPromotionFrom <= 0 || c.Rate < c.Scenario.NoPromotionFrom {
			continue
		}
		cells++
		if c.Promoted > 0 {
			g.Met = false
			parts = append(parts, fmt.Sprintf("%s %d of %d promoted", c.Scenario.Name, c.Promoted, c.Runs))
		}
	}
	switch {
	case cells == 0:
		g.Met, parts = false, []string{"not measured"}
	case len(parts) == 0:
		g.Measured = true
		parts = []string{fmt.Sprintf("none promoted in %d scenarios", cells)}
	default:
		g.Measured = true
	}
	g.Detail = strings.Join(parts, "; ")
	return g
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func quantile(sorted []time.Duration, q float64) (time.Duration, bool) {
	if len(sorted) == 0 {
		return 0, false
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)], true
}
