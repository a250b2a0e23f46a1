// Command measure runs the livecanary scenarios on the real stack (a control
// plane with the Istio CRDs, Prometheus, the App) N times and prints the
// reference table: how long a regression at each weight takes to reach 0%
// canary, how long a healthy canary takes to be promoted, the API requests
// of a driver per tick, and how soon a SIGKILLed driver's successor measures
// compared with max(next due, lease expiry).
//
//	go run ./internal/livecanary/cmd/measure -runs 3
//	go run ./internal/livecanary/cmd/measure -runs 1 -scenarios regress-50,restart
//
// The scenarios of one run go in parallel, as in the tests (-sequential to
// run them one at a time); runs follow each other.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/rollout"
)

// scenarios by name, in the table's order.
var scenarios = []struct {
	name string
	sc   livecanary.Scenario
	kill bool
}{
	{name: "regress-10", sc: regress(10)},
	{name: "regress-20", sc: regress(20)},
	{name: "regress-30", sc: regress(30)},
	{name: "regress-40", sc: regress(40)},
	{name: "regress-50", sc: regress(50)},
	{name: "healthy", sc: livecanary.Scenario{Name: "healthy", Canary: livecanary.Healthy}},
	{name: "silent", sc: livecanary.Scenario{Name: "silent", Canary: livecanary.Silent}},
	{name: "restart", sc: livecanary.Scenario{Name: "restart", Canary: livecanary.Healthy}, kill: true},
}

func regress(w float64) livecanary.Scenario {
	return livecanary.Scenario{Name: fmt.Sprintf("regress-%g", w), Canary: livecanary.Healthy, RegressAt: w, Regression: livecanary.Regressed}
}

// kills are the restart scenario's: one while the next measurement is due
// after the lease expires, one while it is due before.
func kills() []livecanary.Kill {
	return []livecanary.Kill{
		livecanary.KillBeforeDue("due-after-expiry", 10, 6*time.Second, 9*time.Second),
		livecanary.KillBeforeDue("due-before-expiry", 30, 600*time.Millisecond, 1400*time.Millisecond),
	}
}

func main() {
	livecanary.MaybeRunDriver() // this binary is also the restart scenario's driver
	runs := flag.Int("runs", 3, "runs of each scenario")
	names := flag.String("scenarios", "all", "comma-separated scenarios: "+allNames()+", or all")
	sequential := flag.Bool("sequential", false, "run the scenarios of a run one at a time instead of in parallel")
	verbose := flag.Bool("v", false, "log the harness' and the drivers' info records")
	flag.Parse()
	// client-go's leader election logs every acquisition through klog.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	selected, err := selectScenarios(*names)
	if err != nil || *runs < 1 {
		fmt.Fprintf(os.Stderr, "measure: %v (runs %d)\n", err, *runs)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, log, selected, *runs, !*sequential, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func allNames() string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return strings.Join(out, ",")
}

func selectScenarios(list string) ([]int, error) {
	if list == "all" {
		var all []int
		for i := range scenarios {
			all = append(all, i)
		}
		return all, nil
	}
	var out []int
	for _, n := range strings.Split(list, ",") {
		i := slices.IndexFunc(scenarios, func(s struct {
			name string
			sc   livecanary.Scenario
			kill bool
		}) bool {
			return s.name == strings.TrimSpace(n)
		})
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (want %s)", n, allNames())
		}
		out = append(out, i)
	}
	return out, nil
}

// outcome is one scenario run.
type outcome struct {
	scenario int
	res      livecanary.Result
	err      error
}

func run(ctx context.Context, log *slog.Logger, selected []int, runs int, parallel bool, out io.Writer) error {
	start := time.Now()
	fmt.Fprintln(os.Stderr, "starting the control plane, Prometheus and the App...")
	stack, err := livecanary.StartStack(ctx, log)
	if err != nil {
		return err
	}
	defer stack.Close()
	fmt.Fprintf(os.Stderr, "stack ready in %s\n", time.Since(start).Round(time.Millisecond))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var all []outcome
	for r := 1; r <= runs; r++ {
		runStart := time.Now()
		results := make([]outcome, len(selected))
		var wg sync.WaitGroup
		for k, i := range selected {
			one := func() {
				res, err := runOne(ctx, stack, i, self)
				results[k] = outcome{scenario: i, res: res, err: err}
				status := string(res.State.Phase)
				if err != nil {
					status = "error: " + err.Error()
				}
				fmt.Fprintf(os.Stderr, "run %d/%d %-11s %s in %s\n", r, runs, scenarios[i].name, status, res.Duration().Round(time.Millisecond))
			}
			if parallel {
				wg.Go(one)
			} else {
				one()
			}
		}
		wg.Wait()
		fmt.Fprintf(os.Stderr, "run %d/%d took %s\n", r, runs, time.Since(runStart).Round(time.Second))
		all = append(all, results...)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	printTable(out, all, runs, parallel)
	return nil
}

func runOne(ctx context.Context, stack *livecanary.Stack, i int, self string) (livecanary.Result, error) {
	s := scenarios[i]
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	ns, err := stack.Env.CreateNamespace(ctx, "measure-"+s.name)
	if err != nil {
		return livecanary.Result{}, err
	}
	defer func() { _ = stack.Env.DeleteNamespace(context.WithoutCancel(ctx), ns) }()
	c, err := livecanary.Prepare(ctx, stack, ns, s.sc)
	if err != nil {
		return livecanary.Result{}, err
	}
	defer c.Close()
	if s.kill {
		res, err := c.DriveWithKills(ctx, []string{self}, kills())
		if err != nil {
			err = fmt.Errorf("%w\nchild drivers:\n%s", err, c.ChildLog())
		}
		return res, err
	}
	return c.Drive(ctx)
}

// stat collects one row's samples.
type stat struct {
	label, unit string
	xs          []float64
	errs        int
}

func (s *stat) add(x float64) { s.xs = append(s.xs, x) }

func (s *stat) row(out io.Writer) {
	if len(s.xs) == 0 {
		fmt.Fprintf(out, "| %s | 0 | – | – | – |%s\n", s.label, errNote(s.errs))
		return
	}
	xs := slices.Sorted(slices.Values(s.xs))
	med := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	f := func(x float64) string {
		if s.unit == "s" {
			return fmt.Sprintf("%.2f s", x)
		}
		return fmt.Sprintf("%.1f", x)
	}
	fmt.Fprintf(out, "| %s | %d | %s | %s | %s |%s\n", s.label, len(xs), f(med), f(xs[0]), f(xs[len(xs)-1]), errNote(s.errs))
}

func errNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" %d run(s) failed", n)
}

func printTable(out io.Writer, all []outcome, runs int, parallel bool) {
	mode := "in parallel"
	if !parallel {
		mode = "one at a time"
	}
	fmt.Fprintf(out, "\n### livecanary reference (%d run(s), scenarios %s; plan 10→50%% step 10, soak 10 s, check interval 10 s, error rate ≤ 2%%, 100 req/s)\n\n", runs, mode)
	fmt.Fprintln(out, "| measure | n | median | min | max |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	byName := map[string]*stat{}
	var order []string
	get := func(label, unit string) *stat {
		if s, ok := byName[label]; ok {
			return s
		}
		s := &stat{label: label, unit: unit}
		byName[label] = s
		order = append(order, label)
		return s
	}
	// Rows in a fixed order, whether or not they got samples.
	for _, s := range scenarios {
		switch {
		case s.sc.RegressAt > 0:
			get(fmt.Sprintf("regression at %g%%: start → VirtualService 0%% canary", s.sc.RegressAt), "s")
		case s.name == "healthy":
			get("healthy: start → promoted", "s")
		case s.name == "silent":
			get("no series: start → rolled back", "s")
		}
	}
	adv := get("API requests per advancing tick (analysis passed → next weight → analysis begun)", "")
	advW := get("  of which writes (advancing tick)", "")
	idle := get("API requests per idle tick (measured, same step)", "")
	idleW := get("  of which writes (idle tick)", "")
	for _, k := range kills() {
		get("restart ("+k.Name+"): kill → next measurement", "s")
		get("restart ("+k.Name+"): kill → max(next due, lease expiry)", "s")
		get("restart ("+k.Name+"): next measurement − max(next due, lease expiry)", "s")
		get("restart ("+k.Name+"): drivers exiting with a conflict first", "")
	}
	for _, o := range all {
		s := scenarios[o.scenario]
		res := o.res
		var label string
		switch {
		case s.sc.RegressAt > 0:
			label = fmt.Sprintf("regression at %g%%: start → VirtualService 0%% canary", s.sc.RegressAt)
			if d, ok := res.RegressionToZero(); ok && o.err == nil && res.State.Phase == rollout.PhaseRolledBack && res.Record.Impact.MaxCanaryWeight == s.sc.RegressAt {
				get(label, "s").add(d.Seconds())
			} else {
				get(label, "s").errs++
			}
		case s.name == "healthy":
			if o.err == nil && res.State.Phase == rollout.PhaseSucceeded {
				get("healthy: start → promoted", "s").add(res.Duration().Seconds())
			} else {
				get("healthy: start → promoted", "s").errs++
			}
		case s.name == "silent":
			if o.err == nil && res.State.Phase == rollout.PhaseRolledBack {
				get("no series: start → rolled back", "s").add(res.Duration().Seconds())
			} else {
				get("no series: start → rolled back", "s").errs++
			}
		}
		for _, t := range res.Ticks {
			switch {
			case t.Advancing():
				adv.add(float64(t.Counts.Requests()))
				advW.add(float64(t.Counts.Writes))
			case t.Idle():
				idle.add(float64(t.Counts.Requests()))
				idleW.add(float64(t.Counts.Writes))
			}
		}
		if s.kill && o.err != nil {
			for _, k := range kills() {
				get("restart ("+k.Name+"): kill → next measurement", "s").errs++
			}
		}
		for _, r := range res.Restarts {
			if r.ResumedAt.IsZero() {
				get("restart ("+r.Name+"): kill → next measurement", "s").errs++
				continue
			}
			get("restart ("+r.Name+"): kill → next measurement", "s").add(r.ResumedAt.Sub(r.KilledAt).Seconds())
			get("restart ("+r.Name+"): kill → max(next due, lease expiry)", "s").add(r.Expected().Sub(r.KilledAt).Seconds())
			get("restart ("+r.Name+"): next measurement − max(next due, lease expiry)", "s").add(r.Late().Seconds())
			get("restart ("+r.Name+"): drivers exiting with a conflict first", "").add(float64(r.Conflicts))
		}
	}
	for _, label := range order {
		byName[label].row(out)
	}
	fmt.Fprintln(out, "\nTicks are Reconciles as the state store sees them (each begins with a Store.Get); requests are the driver's reads and writes of the VirtualService, DestinationRule, Deployments and state ConfigMap at the client, Lease renewals and Events excluded.")
}
