package decisionbench

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Config is one benchmark: every rule on every scenario at every request rate.
type Config struct {
	// Seed of every random stream. Default 1.
	Seed uint64
	// Runs per scenario and rate for the scenarios with a bad canary. Default 300.
	Runs int
	// HealthyRuns per rate for the scenarios whose canary is fine (healthy,
	// backend outage, noisy spike), which measure false rollbacks. Default 1000,
	// the fewest that tell a 1% rate from 0.3%.
	HealthyRuns int
	// Rates are the service's total request rates, in requests per second.
	// Default 10, 100, 1000.
	Rates []float64
	// Traffic is the healthy service; its RequestRate is replaced by each of
	// Rates. Default: 0.5% errors, p95 120 ms, diurnal swing 0.3.
	Traffic Traffic
	// Plan is what the rules drive. Default SeedPlan().
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

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Runs == 0 {
		c.Runs = 300
	}
	if c.HealthyRuns == 0 {
		c.HealthyRuns = 1000
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{10, 100, 1000}
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

// Cell is what one rule did on one scenario at one rate.
type Cell struct {
	Scenario Scenario
	Rate     float64
	Rule     string
	Runs     int
	// RolledBack, Promoted and Held count the runs by decision.
	RolledBack, Promoted, Held int
	// Detect holds the decision times of the rolled-back runs, Promote those of the
	// promoted runs, ascending.
	Detect, Promote []time.Duration
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

// PromoteQuantile is the q-quantile of the time to promotion of promoted runs.
func (c Cell) PromoteQuantile(q float64) (time.Duration, bool) { return quantile(c.Promote, q) }

// Result holds every cell of a benchmark.
type Result struct {
	Config Config
	Cells  []Cell
	// Elapsed is the wall time the benchmark took.
	Elapsed time.Duration
}

// Cell returns the cell of a scenario, rate and rule.
func (r Result) Cell(scenario string, rate float64, rule string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Scenario.Name == scenario && c.Rate == rate && c.Rule == rule {
			return c, true
		}
	}
	return Cell{}, false
}

// Run runs the benchmark. Each run of a scenario at a rate builds one world (its
// random streams) and runs every rule on it; runs are independent and spread over
// the workers, and the result does not depend on their number.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	began := time.Now()
	type job struct {
		scenario, rate, run int
	}
	runsOf := func(sc Scenario) int {
		if sc.Bad {
			return cfg.Runs
		}
		return cfg.HealthyRuns
	}
	// outcomes[scenario][rate][run][rule]
	outcomes := make([][][][]Outcome, len(cfg.Scenarios))
	for i, sc := range cfg.Scenarios {
		outcomes[i] = make([][][]Outcome, len(cfg.Rates))
		for j := range cfg.Rates {
			outcomes[i][j] = make([][]Outcome, runsOf(sc))
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
				// The same seed for every scenario: a run's noise is shared by the
				// scenarios too, so they differ only by what is wrong with the canary.
				w := newWorld(sc, tr, mix(cfg.Seed, math.Float64bits(tr.RequestRate)), jb.run)
				out := make([]Outcome, len(cfg.Rules))
				for k, rule := range cfg.Rules {
					out[k] = rule.run(w, cfg.Plan)
				}
				outcomes[jb.scenario][jb.rate][jb.run] = out
			}
		}()
	}
	var err error
feed:
	for i, sc := range cfg.Scenarios {
		for j := range cfg.Rates {
			for run := range runsOf(sc) {
				select {
				case jobs <- job{i, j, run}:
				case <-ctx.Done():
					err = ctx.Err()
					break feed
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return Result{}, err
	}

	res := Result{Config: cfg}
	for j, rate := range cfg.Rates {
		for i, sc := range cfg.Scenarios {
			for k, rule := range cfg.Rules {
				c := Cell{Scenario: sc, Rate: rate, Rule: rule.Name(), Runs: len(outcomes[i][j])}
				for run, out := range outcomes[i][j] {
					o := out[k]
					if run == 0 {
						c.Example = o.Reason
					}
					switch o.Decision {
					case RolledBack:
						c.RolledBack++
						c.Detect = append(c.Detect, o.At)
					case Promoted:
						c.Promoted++
						c.Promote = append(c.Promote, o.At)
					default:
						c.Held++
					}
				}
				slices.Sort(c.Detect)
				slices.Sort(c.Promote)
				res.Cells = append(res.Cells, c)
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// Goal is one of the benchmark's goals, evaluated on a result for one rule.
type Goal struct {
	Name   string
	Met    bool
	Detail string
}

// Goals evaluates the goals for rule:
//
//  1. An x5 error regression at 10% canary weight and 100 req/s is detected within
//     one analysis interval (1m) at the median.
//  2. At most 1% of healthy canaries are rolled back, at every rate, over at least
//     1,000 runs each.
//  3. No regressed canary is promoted: every scenario with NoPromotionFrom, at the
//     rates from it up (errors x2 from 100 req/s; errors x5 and x10, latency +100%
//     and a canary without traffic at every rate).
func (r Result) Goals(rule string) []Goal {
	var goals []Goal
	g := Goal{Name: "errors x5 at 10% weight and 100 req/s detected within one 1m interval at the median"}
	if c, ok := r.Cell("errors x5", 100, rule); ok {
		d, detected := c.DetectQuantile(0.5)
		g.Met = detected && d <= time.Minute && c.RolledBack*2 > c.Runs
		g.Detail = fmt.Sprintf("median %s, p90 %s over %d runs", fmtDur(d, detected), fmtQ(c.DetectQuantile(0.9)), c.Runs)
	} else {
		g.Detail = "not measured (needs scenario errors x5 at 100 req/s)"
	}
	goals = append(goals, g)

	g = Goal{Name: "at most 1% of healthy canaries rolled back, over >= 1,000 runs per rate", Met: true}
	var parts []string
	for _, rate := range r.Config.Rates {
		c, ok := r.Cell("healthy", rate, rule)
		if !ok {
			continue
		}
		if c.Runs < 1000 || c.RolledBack*100 > c.Runs {
			g.Met = false
		}
		parts = append(parts, fmt.Sprintf("%s req/s %d of %d", fmtRate(rate), c.RolledBack, c.Runs))
	}
	if len(parts) == 0 {
		g.Met, parts = false, []string{"not measured"}
	}
	g.Detail = strings.Join(parts, ", ")
	goals = append(goals, g)

	g = Goal{Name: "no regressed canary promoted (errors x2 from 100 req/s; errors x5, x10, latency +100%, no canary traffic at every rate)", Met: true}
	parts = nil
	cells := 0
	for _, c := range r.Cells {
		if c.Rule != rule || c.Scenario.NoPromotionFrom <= 0 || c.Rate < c.Scenario.NoPromotionFrom {
			continue
		}
		cells++
		if c.Promoted > 0 {
			g.Met = false
			parts = append(parts, fmt.Sprintf("%s at %s req/s: %d of %d promoted", c.Scenario.Name, fmtRate(c.Rate), c.Promoted, c.Runs))
		}
	}
	switch {
	case cells == 0:
		g.Met, parts = false, []string{"not measured"}
	case len(parts) == 0:
		parts = []string{fmt.Sprintf("none promoted in %d scenario-rate cells", cells)}
	}
	g.Detail = strings.Join(parts, "; ")
	return append(goals, g)
}

// WriteText writes the comparison as aligned text, one block per rate.
func (r Result) WriteText(w io.Writer) error {
	cfg := r.Config
	fmt.Fprintf(w, "Decision benchmark: %s; seed %d; %d runs per bad scenario, %d per healthy one; %s\n",
		describePlan(cfg.Plan, cfg.Traffic), cfg.Seed, cfg.Runs, cfg.HealthyRuns, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintln(w, "TTD: time from the canary's first traffic to the rollback decision, over rolled-back runs. Time: to promotion, over promoted runs.")
	fmt.Fprintln(w, "For a good canary (healthy, outage, spike) 'rolled back' is the false-rollback rate; for a bad one 'promoted' is the missed rate.")
	for _, rate := range cfg.Rates {
		fmt.Fprintf(w, "\n== %s req/s (canary %s) ==\n", fmtRate(rate), describeShares(cfg.Plan, rate))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\trule\trolled back\tpromoted\theld\tTTD p50\tTTD p90\ttime p50\t")
		prev := ""
		for _, c := range r.Cells {
			if c.Rate != rate {
				continue
			}
			name := c.Scenario.Name
			if name == prev {
				name = ""
			}
			prev = c.Scenario.Name
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, c.Rule,
				pct(c.RollbackRate()), pct(c.PromoteRate()), pct(c.HeldRate()),
				fmtQ(c.DetectQuantile(0.5)), fmtQ(c.DetectQuantile(0.9)), fmtQ(c.PromoteQuantile(0.5)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes the comparison as one Markdown table per rate.
func (r Result) WriteMarkdown(w io.Writer) error {
	cfg := r.Config
	fmt.Fprintf(w, "Decision benchmark: %s; seed %d; %d runs per bad scenario, %d per healthy one.\n",
		describePlan(cfg.Plan, cfg.Traffic), cfg.Seed, cfg.Runs, cfg.HealthyRuns)
	for _, rate := range cfg.Rates {
		fmt.Fprintf(w, "\n### %s req/s (canary %s)\n\n", fmtRate(rate), describeShares(cfg.Plan, rate))
		fmt.Fprintln(w, "| scenario | rule | rolled back | promoted | held | TTD p50 | TTD p90 | time p50 |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, c := range r.Cells {
			if c.Rate != rate {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Scenario.Name, c.Rule,
				pct(c.RollbackRate()), pct(c.PromoteRate()), pct(c.HeldRate()),
				fmtQ(c.DetectQuantile(0.5)), fmtQ(c.DetectQuantile(0.9)), fmtQ(c.PromoteQuantile(0.5)))
		}
	}
	return nil
}

func describePlan(p Plan, t Traffic) string {
	ws := make([]string, len(p.Weights))
	for i, w := range p.Weights {
		ws[i] = fmt.Sprintf("%g%%", w)
	}
	return fmt.Sprintf("canary %s -> 100%%, %s per phase; healthy error rate %s, p95 %g ms, diurnal swing ±%g%%; thresholds error rate > %g%%, p95 > %g ms",
		strings.Join(ws, " -> "), short(p.Phase), pct(t.ErrorRate), t.LatencyP95Ms, 100*t.Diurnal, p.MaxErrorRate, p.MaxLatencyP95)
}

func describeShares(p Plan, rate float64) string {
	parts := make([]string, len(p.Weights))
	for i, w := range p.Weights {
		parts[i] = fmt.Sprintf("%s req/min at %g%%", fmtRate(rate*w/100*60), w)
	}
	return strings.Join(parts, ", ")
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

func pct(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0%"
	case v < 0.001:
		return fmt.Sprintf("%.2f%%", 100*v)
	case v < 0.1:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func fmtQ(d time.Duration, ok bool) string { return fmtDur(d, ok) }

func fmtDur(d time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%.1fm", d.Minutes())
}

func fmtRate(r float64) string {
	if r == math.Trunc(r) && r >= 1000 {
		s := fmt.Sprintf("%d", int64(r))
		var b strings.Builder
		for i, ch := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(ch)
		}
		return b.String()
	}
	return fmt.Sprintf("%g", r)
}

func joinRates(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmtRate(r)
	}
	return strings.Join(s, ", ")
}
