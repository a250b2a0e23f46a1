package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/timeline"
)

// storeFlags is what the commands on stored rollouts share.
func (a *App) storeFlags(name, synopsis, about string) *flags {
	f := a.newFlags(name, synopsis, about)
	f.withStore()
	f.fs.BoolVar(&f.sim, "sim", false, "read the rollouts that run --sim stored (unless --state-dir says where)")
	return f
}

// openStore opens the session and its store and a runner that reads it
// (no providers: these commands change stored state only).
func (a *App) openStore(f *flags) (*session, rollout.StateStore, *rollout.Runner, error) {
	s, err := a.newSession(f)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := s.store()
	if err != nil {
		s.close()
		return nil, nil, nil, err
	}
	runner, err := rollout.New(rollout.Options{Store: store, Logger: discard})
	if err != nil {
		s.close()
		return nil, nil, nil, err
	}
	return s, store, runner, nil
}

// statusRow is one rollout as status shows it.
type statusRow struct {
	ID           string        `json:"id"`
	Target       string        `json:"target"`
	Strategy     string        `json:"strategy"`
	Release      string        `json:"release"`
	Phase        rollout.Phase `json:"phase"`
	Step         int           `json:"step"`
	Steps        int           `json:"steps"`
	StepKind     string        `json:"stepKind,omitempty"`
	Weight       float64       `json:"weight"`
	FlagPercent  *float64      `json:"flagPercent,omitempty"`
	LastAnalysis []checkValue  `json:"lastAnalysis,omitempty"`
	Held         string        `json:"heldReason,omitempty"`
	StartedAt    time.Time     `json:"startedAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
	Age          string        `json:"age"`
}

type checkValue struct {
	Check   string           `json:"check"`
	Value   float64          `json:"value"`
	Outcome analysis.Outcome `json:"outcome"`
	Time    time.Time        `json:"time"`
}

func (a *App) statusRows(ctx context.Context, store rollout.StateStore, runner *rollout.Runner) ([]statusRow, error) {
	states, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	rows := make([]statusRow, 0, len(states))
	now := a.Now()
	for _, st := range states {
		r := statusRow{
			ID: st.ID, Target: st.Plan.Target.String(), Strategy: st.Plan.Strategy, Release: st.Plan.Release.String(),
			Phase: st.Phase, Step: st.Step.Index + 1, Steps: len(st.Plan.Steps), Held: st.HeldReason,
			StartedAt: st.StartedAt, UpdatedAt: st.UpdatedAt, Age: age(now.Sub(st.StartedAt)),
		}
		if r.Step > r.Steps {
			r.Step = r.Steps
		}
		if cur, ok := st.CurrentStep(); ok && !st.Phase.Terminal() {
			r.StepKind = string(cur.Kind())
		}
		if st.Applied.Routes != nil {
			r.Weight = st.Applied.Routes.CanaryWeight
		}
		if n := len(st.Applied.Flags); n > 0 {
			p := st.Applied.Flags[n-1].Percent
			r.FlagPercent = &p
		}
		obs := st.Record.Observations
		if rec, err := runner.Record(ctx, st.ID); err == nil {
			obs = rec.Observations
		}
		r.LastAnalysis = lastAnalysis(obs)
		rows = append(rows, r)
	}
	return rows, nil
}

// lastAnalysis is each check's latest measurement.
func lastAnalysis(obs []analysis.Measurement) []checkValue {
	latest := map[string]analysis.Measurement{}
	for _, m := range obs {
		if cur, ok := latest[m.Check]; !ok || !m.Time.Before(cur.Time) {
			latest[m.Check] = m
		}
	}
	out := make([]checkValue, 0, len(latest))
	for _, name := range sortedKeys(latest) {
		m := latest[name]
		out = append(out, checkValue{Check: name, Value: m.Value, Outcome: m.Outcome, Time: m.Time})
	}
	return out
}

// age prints a duration the way kubectl's AGE column does.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 3*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func printStatus(w *tabwriter.Writer, rows []statusRow) {
	fmt.Fprintln(w, "ID\tTARGET\tSTRATEGY\tPHASE\tSTEP\tWEIGHT\tLAST ANALYSIS\tAGE")
	for _, r := range rows {
		weight := fmt.Sprintf("%g%%", r.Weight)
		if r.FlagPercent != nil {
			weight = fmt.Sprintf("flag %g%%", *r.FlagPercent)
		}
		step := fmt.Sprintf("%d/%d", r.Step, r.Steps)
		if r.StepKind != "" {
			step += " " + r.StepKind
		}
		var last []string
		for _, c := range r.LastAnalysis {
			v := fmt.Sprintf("%.3g", c.Value)
			if math.IsNaN(c.Value) {
				v = "no-data"
			}
			last = append(last, fmt.Sprintf("%s=%s(%s)", c.Check, v, c.Outcome))
		}
		if len(last) == 0 {
			last = []string{"-"}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Target, r.Strategy, r.Phase, step, weight, strings.Join(last, " "), r.Age)
	}
	_ = w.Flush()
}

func cmdStatus(ctx context.Context, a *App, args []string) error {
	f := a.storeFlags("status", "[ID...]", "Lists every rollout in the state store (or the ones named): phase, step, the new\nversion's weight, each check's last measurement and age. -w watches: the table is\nprinted again whenever it changes, until Ctrl-C.")
	f.withOutput("table", "json", "yaml")
	watch := f.fs.Bool("w", false, "watch: print again whenever something changes")
	every := f.fs.Duration("interval", 2*time.Second, "with -w: how often the store is read")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *every <= 0 {
		return invalidf("flag --interval %s: must be positive", *every)
	}
	s, store, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	want := map[string]bool{}
	for _, id := range pos {
		want[id] = true
	}
	last := ""
	for {
		rows, err := a.statusRows(ctx, store, runner)
		if err != nil {
			if *watch && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(want) > 0 {
			kept := rows[:0]
			for _, r := range rows {
				if want[r.ID] {
					kept = append(kept, r)
				}
			}
			rows = kept
			if len(rows) == 0 && !*watch {
				return withCode(ExitInvalid, fmt.Errorf("no rollout %s in the store: %w", strings.Join(pos, ", "), progressive.ErrNotFound))
			}
		}
		var b strings.Builder
		switch f.output {
		case "table":
			if len(rows) == 0 {
				b.WriteString("no rollouts\n")
			} else {
				printStatus(tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0), rows)
			}
		default:
			saved := a.Stdout
			a.Stdout = &b
			err := a.emit(f.output, rows)
			a.Stdout = saved
			if err != nil {
				return err
			}
		}
		// Ages change every second; compare without them so that -w prints
		// when the rollouts change, not the clock.
		key := fmt.Sprint(stripAges(rows))
		if !*watch {
			fmt.Fprint(a.Stdout, b.String())
			return nil
		}
		if key != last {
			if last != "" && f.output == "table" {
				fmt.Fprintf(a.Stdout, "\n-- %s\n", a.Now().Format(time.TimeOnly))
			}
			fmt.Fprint(a.Stdout, b.String())
			last = key
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

func stripAges(rows []statusRow) []statusRow {
	out := append([]statusRow(nil), rows...)
	for i := range out {
		out[i].Age = ""
	}
	return out
}

// reason is the reason stored with a command: the person's, or who gave it.
func (a *App) reason(given, verb string) string {
	if given != "" {
		return given
	}
	user := a.Getenv("USER")
	if user == "" {
		user = "someone"
	}
	return fmt.Sprintf("%s by %s with %s", verb, user, a.Name)
}

// commandFlags are the flags of promote, abort, rollback and continue.
func (a *App) commandFlags(name, about string) (*flags, *string) {
	f := a.storeFlags(name, "ID", about+`

The command is stored with the rollout; the process driving it (a run, a
controller) carries it out at its next step. The exit code says whether it was
stored, not how the rollout ends: watch that with status -w.`)
	reason := f.fs.String("reason", "", "why, for the decision record (default: who gave the command)")
	return f, reason
}

func storedCommand(ctx context.Context, a *App, args []string, f *flags, verb string, do func(ctx context.Context, r *rollout.Runner, id string) error) error {
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one rollout id (ID)"); err != nil {
		return err
	}
	s, store, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	id := pos[0]
	if _, err := store.Get(ctx, id); err != nil {
		if errors.Is(err, progressive.ErrNotFound) {
			return invalidf("rollout %q: not in the state store", id)
		}
		return err
	}
	if err := do(ctx, runner, id); err != nil {
		return err
	}
	st, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "%s: %s stored (rollout is %s at step %d of %d)\n", id, verb, st.Phase, st.Step.Index+1, len(st.Plan.Steps))
	return nil
}

func cmdPromote(ctx context.Context, a *App, args []string) error {
	f, reason := a.commandFlags("promote", "Advances the rollout one step: a pause, an analysis, an approval or a hold ends\nnow. With --full the rest of the analysis and pauses are skipped and the release is\npromoted.")
	full := f.fs.Bool("full", false, "skip every remaining step and promote")
	return storedCommand(ctx, a, args, f, "promote", func(ctx context.Context, r *rollout.Runner, id string) error {
		if *full {
			return r.Promote(ctx, id, a.reason(*reason, "full promotion"))
		}
		return r.PromoteStep(ctx, id, a.reason(*reason, "promoted one step"))
	})
}

func cmdAbort(ctx context.Context, a *App, args []string) error {
	f, reason := a.commandFlags("abort", "Rolls the rollout back and marks it aborted.")
	return storedCommand(ctx, a, args, f, "abort", func(ctx context.Context, r *rollout.Runner, id string) error {
		return r.Abort(ctx, id, a.reason(*reason, "aborted"))
	})
}

func cmdRollback(ctx context.Context, a *App, args []string) error {
	f, reason := a.commandFlags("rollback", "Rolls the rollout back now, whatever the metrics say.")
	return storedCommand(ctx, a, args, f, "rollback", func(ctx context.Context, r *rollout.Runner, id string) error {
		return r.Rollback(ctx, id, a.reason(*reason, "rolled back"))
	})
}

func cmdContinue(ctx context.Context, a *App, args []string) error {
	f, reason := a.commandFlags("continue", "Resumes a held rollout at its current step, with a fresh analysis.")
	return storedCommand(ctx, a, args, f, "continue", func(ctx context.Context, r *rollout.Runner, id string) error {
		return r.Continue(ctx, id, a.reason(*reason, "continued"))
	})
}

// records reads every decision record in the store, oldest first; service
// filters by target (namespace/name) when set.
func records(ctx context.Context, store rollout.StateStore, runner *rollout.Runner, service string, full bool) ([]rollout.DecisionRecord, error) {
	states, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	out := make([]rollout.DecisionRecord, 0, len(states))
	for _, st := range states {
		if service != "" && st.Plan.Target.String() != service && st.Plan.Target.Name != service {
			continue
		}
		rec := st.Record
		if full {
			if rec, err = runner.Record(ctx, st.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, rec)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Impact.StartedAt.Before(out[j].Impact.StartedAt) })
	return out, nil
}

func cmdHistory(ctx context.Context, a *App, args []string) error {
	f := a.storeFlags("history", "", "Lists the decision records in the state store, oldest first: outcome, duration,\nthe largest share the new version took, and time to detect for rollbacks.")
	f.withOutput("table", "json", "yaml")
	service := f.fs.String("service", "", "only this service (name, or namespace/name)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 0, "no arguments"); err != nil {
		return err
	}
	s, store, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	recs, err := records(ctx, store, runner, *service, f.output != "table")
	if err != nil {
		return err
	}
	if f.output != "table" {
		return a.emit(f.output, recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(a.Stdout, "no decision records")
		return nil
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSERVICE\tSTRATEGY\tRELEASE\tOUTCOME\tSTARTED\tDURATION\tMAX WEIGHT\tDETECTED IN")
	for _, r := range recs {
		ttd := "-"
		if r.Impact.TimeToDetect != nil {
			ttd = r.Impact.TimeToDetect.Readable()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%g%%\t%s\n", r.ID, r.Context.Service, r.Context.Strategy, r.Context.Release,
			r.Impact.Outcome, r.Impact.StartedAt.Format("2006-01-02 15:04"), time.Duration(r.Impact.Duration), maxShare(r), ttd)
	}
	return w.Flush()
}

func maxShare(r rollout.DecisionRecord) float64 {
	return math.Max(r.Impact.MaxCanaryWeight, r.Impact.MaxFlagPercent)
}

func cmdRecord(ctx context.Context, a *App, args []string) error {
	f := a.storeFlags("record", "ID", "Prints the decision record of a rollout: context, solution, decisions with their\nreasons, learning and impact (-o json|yaml: every observation too). --svg and\n--html draw its timeline to a file.")
	f.withOutput("text", "json", "yaml")
	svg := f.fs.String("svg", "", "write the timeline as SVG to this file")
	html := f.fs.String("html", "", "write the timeline as a self-contained HTML page to this file")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one rollout id (ID)"); err != nil {
		return err
	}
	s, _, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	rec, err := runner.Record(ctx, pos[0])
	if errors.Is(err, progressive.ErrNotFound) {
		return invalidf("rollout %q: not in the state store", pos[0])
	}
	if err != nil {
		return err
	}
	for _, out := range []struct {
		path string
		draw func(*os.File) error
	}{
		{*svg, func(w *os.File) error { return timeline.SVG(w, rec, timeline.Options{}) }},
		{*html, func(w *os.File) error { return timeline.HTML(w, rec, timeline.Options{}) }},
	} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.draw); err != nil {
			return err
		}
		fmt.Fprintf(a.Stderr, "wrote %s\n", out.path)
	}
	if *svg != "" || *html != "" {
		return nil
	}
	if f.output != "text" {
		return a.emit(f.output, rec)
	}
	printRecord(a, rec)
	return nil
}

func writeFile(path string, draw func(*os.File) error) error {
	w, err := os.Create(path)
	if err != nil {
		return invalidf("cannot write %s: %v", path, errors.Unwrap(err))
	}
	if err := draw(w); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func printRecord(a *App, rec rollout.DecisionRecord) {
	w := a.Stdout
	im := rec.Impact
	fmt.Fprintf(w, "Decision record %s\n", rec.ID)
	fmt.Fprintf(w, "Context:   %s, %s of %s", rec.Context.Service, rec.Context.Strategy, rec.Context.Release)
	if rec.Context.Reason != "" {
		fmt.Fprintf(w, ": %s", rec.Context.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Solution:")
	for i, s := range rec.Solution.Steps {
		fmt.Fprintf(w, "  %2d. %s\n", i+1, s)
	}
	for _, c := range rec.Solution.Checks {
		fmt.Fprintf(w, "  check: %s\n", c)
	}
	fmt.Fprintf(w, "Observed:  %d measurements\n", len(rec.Observations))
	fmt.Fprintln(w, "Decisions:")
	for _, d := range rec.Decisions {
		fmt.Fprintf(w, "  %s  step %-2d %-14s %s\n", d.Time.Format("15:04:05"), d.Step+1, d.Action, d.Reason)
	}
	for _, l := range rec.Learning {
		fmt.Fprintf(w, "Learning:  %s\n", l)
	}
	fmt.Fprintf(w, "Impact:    %s after %s, up to %g%%", im.Outcome, im.Duration.Readable(), maxShare(rec))
	if im.TimeToDetect != nil {
		fmt.Fprintf(w, ", detected within %s", im.TimeToDetect.Readable())
	}
	if im.TimeToRecover != nil {
		fmt.Fprintf(w, ", recovered within %s", time.Duration(*im.TimeToRecover))
	}
	fmt.Fprintln(w)
}

func cmdStats(ctx context.Context, a *App, args []string) error {
	f := a.storeFlags("stats", "", "Folds the decision records in the store into rollback rate, mean time to detect\n(MTTD) and mean time to recover (MTTR) per service and strategy, and over all.")
	f.withOutput("table", "json", "yaml")
	service := f.fs.String("service", "", "only this service (name, or namespace/name)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 0, "no arguments"); err != nil {
		return err
	}
	s, store, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	recs, err := records(ctx, store, runner, *service, false)
	if err != nil {
		return err
	}
	sums := rollout.Aggregate(recs)
	if f.output != "table" {
		return a.emit(f.output, sums)
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "SERVICE\tSTRATEGY\tROLLOUTS\tPROMOTED\tROLLED BACK\tABORTED\tIN PROGRESS\tROLLBACK RATE\tMTTD\tMTTR\tMEAN DURATION")
	for _, s := range sums {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t%s\t%s\t%s\n", s.Service, s.Strategy, s.Rollouts, s.Promoted, s.RolledBack, s.Aborted, s.InProgress,
			100*s.RollbackRate, time.Duration(s.MeanTimeToDetect), time.Duration(s.MeanTimeToRecover), time.Duration(s.MeanDuration))
	}
	return w.Flush()
}
