// Command compare runs the same canary scenarios with the real Flagger and
// Argo Rollouts controllers and with progressive, side by side on the test
// control plane (kube-apiserver with its audit log, controller-manager,
// scheduler, kwok nodes, the Istio, Flagger and Argo Rollouts CRDs) and a real
// Prometheus, and prints a markdown table with medians and ranges.
//
//	go run ./internal/anchors/cmd/compare                       # every row, every scenario, 1 run each
//	go run ./internal/anchors/cmd/compare -runs 3 -parallel 4
//	go run ./internal/anchors/cmd/compare -tools flagger,progressive -scenarios healthy,regress-20
//
// The tools are built from their module source on first use (minutes; see
// cmd/build-anchors). Runs go in separate namespaces, -parallel at a time
// (a run of 10 rollouts at once alone); on two shared cores more at once
// stretch the timings.
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
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/agentops/progressive/internal/anchors"
	"github.com/agentops/progressive/internal/livecanary"
)

func main() {
	livecanary.MaybeRunDriver() // progressive's drivers are children of this binary
	runs := flag.Int("runs", 1, "runs of each scenario for each row")
	parallel := flag.Int("parallel", 4, "runs at once (each in its own namespace)")
	scenarios := flag.String("scenarios", "all", "comma-separated scenarios ("+names()+") or all")
	tools := flag.String("tools", "all", "comma-separated substrings of the rows' tools or settings (flagger, argo, progressive, defaults, tuned) or all")
	out := flag.String("out", "", "also write the table to this file")
	verbose := flag.Bool("v", false, "log the harness' info records")
	flag.Parse()
	klog.LogToStderr(false) // CRD warnings and client-go's leader election
	klog.SetOutput(io.Discard)
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *runs, *parallel, *scenarios, *tools, *out); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func names() string {
	var n []string
	for _, sc := range anchors.Scenarios() {
		n = append(n, sc.Name)
	}
	return strings.Join(n, ",")
}

// job is one run of one scenario with one contender.
type job struct {
	c  anchors.Contender
	sc anchors.Scenario
}

func run(ctx context.Context, log *slog.Logger, runs, parallel int, scenarios, tools, out string) error {
	if runs < 1 || parallel < 1 {
		return fmt.Errorf("-runs %d and -parallel %d must be at least 1", runs, parallel)
	}
	selected, err := selectScenarios(scenarios)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "building the tools (minutes on first use)...")
	bins, err := anchors.BuildAll(ctx, log)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "starting the stack...")
	a, err := anchors.StartStack(ctx, anchors.StackOptions{Log: log})
	if err != nil {
		return err
	}
	defer a.Close()

	var rows []anchors.Contender
	manifests := map[string]string{}
	for _, c := range anchors.Contenders(a, bins) {
		if !selectedTool(c, tools) {
			continue
		}
		rows = append(rows, c)
		if m, ok := c.(anchors.Manifester); ok {
			manifests[c.Tool()+"\x00"+c.Settings()] = m.Manifest()
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("-tools %q selects no row", tools)
	}
	// Rows side by side, scenario by scenario, so that what runs at once is
	// alike for every tool.
	var jobs []job
	for range runs {
		for _, sc := range selected {
			for _, c := range rows {
				jobs = append(jobs, job{c: c, sc: sc})
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%d runs, %d at once\n", len(jobs), parallel)

	var (
		mu      sync.Mutex
		results []anchors.Run
		failed  = map[string][]string{}
		wg      sync.WaitGroup
		sem     = make(chan struct{}, parallel)
		started = time.Now()
	)
	for i, j := range jobs {
		// A run of several rollouts at once runs alone: ten rollouts of
		// one tool beside ten of another would measure the control
		// plane's contention on two cores, not the tools. It takes every
		// slot (jobs are dispatched in order by this loop alone, so
		// taking them one by one cannot deadlock).
		slots := 1
		if j.sc.Rollouts > 1 {
			slots = parallel
		}
		for range slots {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				for range slots {
					<-sem
				}
			}()
			r, err := runOne(ctx, a, j)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				k := j.c.Tool() + "\x00" + j.c.Settings() + "\x00" + j.sc.Name
				failed[k] = append(failed[k], err.Error())
				fmt.Fprintf(os.Stderr, "[%d/%d %s] %s, %s, %s: error: %v\n", i+1, len(jobs), time.Since(started).Round(time.Second), j.c.Tool(), j.c.Settings(), j.sc.Name, err)
				return
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "[%d/%d %s] %s, %s, %s: %s in %s\n", i+1, len(jobs), time.Since(started).Round(time.Second), j.c.Tool(), j.c.Settings(), j.sc.Name, r.Outcome, r.EndedAt.Sub(r.StartedAt).Round(100*time.Millisecond))
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	grouped := anchors.Rows(results)
	// Rows in the order of the jobs, with the failed runs too.
	var ordered []*anchors.Row
	for _, j := range jobs {
		k := j.c.Tool() + "\x00" + j.c.Settings() + "\x00" + j.sc.Name
		if slices.ContainsFunc(ordered, func(r *anchors.Row) bool { return r.Tool+"\x00"+r.Settings+"\x00"+r.Scenario == k }) {
			continue
		}
		row := &anchors.Row{Tool: j.c.Tool(), Settings: j.c.Settings(), Scenario: j.sc.Name, Errors: failed[k]}
		for _, g := range grouped {
			if g.Tool == row.Tool && g.Settings == row.Settings && g.Scenario == row.Scenario {
				row.Runs = g.Runs
			}
		}
		ordered = append(ordered, row)
	}
	slices.SortStableFunc(ordered, func(x, y *anchors.Row) int {
		return rowIndex(rows, x) - rowIndex(rows, y)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d run(s) per cell, %d at once, on %s; total %s.\n\n", runs, parallel, hostNote(), time.Since(started).Round(time.Second))
	anchors.WriteTable(&b, ordered, manifests)
	fmt.Print(b.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	return nil
}

// runOne runs one job in a namespace of its own.
func runOne(ctx context.Context, a *anchors.Anchors, j job) (anchors.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, anchors.RunTimeout)
	defer cancel()
	ns, err := a.Env.CreateNamespace(ctx, "cmp-"+j.sc.Name)
	if err != nil {
		return anchors.Run{}, err
	}
	// The namespace goes with its pods and Services once measured, so that
	// a long comparison does not fill the fake nodes.
	defer func() { _ = a.Env.DeleteNamespace(context.WithoutCancel(ctx), ns) }()
	return j.c.Run(ctx, a.Stack, ns, j.sc)
}

func rowIndex(rows []anchors.Contender, r *anchors.Row) int {
	for i, c := range rows {
		if c.Tool() == r.Tool && c.Settings() == r.Settings {
			return i
		}
	}
	return len(rows)
}

func selectScenarios(list string) ([]anchors.Scenario, error) {
	all := anchors.Scenarios()
	if list == "all" {
		return all, nil
	}
	var out []anchors.Scenario
	for n := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(all, func(sc anchors.Scenario) bool { return sc.Name == strings.TrimSpace(n) })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", n, names())
		}
		out = append(out, all[i])
	}
	return out, nil
}

func selectedTool(c anchors.Contender, list string) bool {
	if list == "all" {
		return true
	}
	name := strings.ToLower(c.Tool() + " " + c.Settings())
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

func hostNote() string {
	n := "this machine"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = fmt.Sprintf("%d CPU(s)", strings.Count(string(data), "\nprocessor")+1)
	}
	return n
}
