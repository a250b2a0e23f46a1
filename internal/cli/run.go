package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// gateFlag collects --approve GATE flags.
type gateFlag map[string]bool

func (g gateFlag) String() string { return strings.Join(sortedKeys(g), ",") }
func (g gateFlag) Set(s string) error {
	if s == "" {
		return errors.New("empty gate name")
	}
	g[s] = true
	return nil
}

func cmdRun(ctx context.Context, a *App, args []string) error {
	f := a.newFlags("run", "FILE", `Starts the rollout a document describes and drives it to its end, showing the step,
the weight, each check's latest value against its threshold and the time left (a
live view on a terminal, one line per event otherwise). A rollout of the same name
that is stored unfinished is resumed where it stopped; one that ended is run again
under a new id with --rerun. Ctrl-C stops driving it and leaves it stored (exit 6).

With --sim the document runs against the simulator on a fake clock: hours in a
second, stored under $XDG_STATE_HOME/progressive/sim unless --state-dir says
otherwise (never in the configured store). --sim-fault rehearses a regression.`)
	f.withStore().withSim().withSet()
	sf := addSimFlags(f)
	cf := addChecklistFlags(f)
	rerun := f.fs.Bool("rerun", false, "start again under a new id when a rollout of this name already ended")
	timeout := f.fs.Duration("timeout", 0, "stop driving after this long, leaving the rollout stored (0: until it ends)")
	metricsAddr := f.fs.String("metrics-addr", "", "serve the runner's Prometheus metrics at http://`ADDR`/metrics while it drives (host:port, port 0 picks one); the checklist's monitoring-ready holds with it")
	approve := gateFlag{}
	f.fs.Var(approve, "approve", "approve the `gate` named when the plan reaches it (repeatable); otherwise a gate waits for the promote command")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one document (FILE)"); err != nil {
		return err
	}
	if err := sf.validate(f.sim); err != nil {
		return err
	}
	if *timeout < 0 {
		return invalidf("flag --timeout %s: must not be negative", *timeout)
	}
	var monitoring prometheus.Gatherer
	var served *metricsServer
	if *metricsAddr != "" {
		if served, err = serveMetrics(*metricsAddr, a.Stderr); err != nil {
			return err
		}
		defer served.close()
		monitoring = served.registry
		fmt.Fprintf(a.Stderr, "metrics: %s\n", served.url)
	}
	src, err := readDocument(pos[0], f.sets)
	if err != nil {
		return err
	}
	plan, err := a.plan(ctx, src, f.sim)
	if err != nil {
		return err
	}
	s, err := a.newSession(f)
	if err != nil {
		return err
	}
	defer s.close()
	store, err := s.store()
	if err != nil {
		return err
	}
	opts := s.runnerOptions(rollout.Providers{}, store)
	var clk clock.PassiveClock = clock.RealClock{}
	pace := time.Duration(0)
	if f.sim {
		w, err := a.newSimWorld(ctx, &plan, sf)
		if err != nil {
			return err
		}
		defer w.stop()
		opts.Providers, opts.Clock = w.providers, w.clock
		if w.observer != nil {
			opts.Observers = append(opts.Observers, w.observer)
		}
		clk, pace = w.clock, sf.pace
	} else {
		ps, err := s.providers(ctx, &plan, false)
		if err != nil {
			return err
		}
		resolveQueries(&plan, s.cfg.Queries)
		ps.Approver = rollout.ApproverFunc(func(_ context.Context, req rollout.ApprovalRequest) (rollout.ApprovalStatus, string, error) {
			if approve[req.Gate] {
				return rollout.ApprovalApproved, "approved with --approve " + req.Gate, nil
			}
			return rollout.ApprovalPending, "", nil
		})
		opts.Providers = ps
	}
	view, err := a.progressObserver(clk, pace)
	if err != nil {
		return err
	}
	opts.Observers = append(opts.Observers, view)
	if served != nil {
		opts.Observers = append(opts.Observers, served.metrics)
	}
	if opts.Checklist, err = s.checklist(ctx, cf, &plan, monitoring, a.Now()); err != nil {
		return err
	}
	runner, err := rollout.New(opts)
	if err != nil {
		return err
	}
	if err := runner.Validate(plan); err != nil {
		return withCode(ExitInvalid, fmt.Errorf("%s: %w", pos[0], err))
	}
	id, err := a.startOrResume(ctx, runner, store, plan, *rerun)
	if errors.Is(err, rollout.ErrChecklist) {
		a.explainRefusal(ctx, opts.Checklist, runner, plan)
	}
	if err != nil {
		return err
	}
	runCtx := ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	return a.drive(ctx, runCtx, runner, id)
}

// startOrResume starts plan, or picks up the stored rollout of its name.
func (a *App) startOrResume(ctx context.Context, runner *rollout.Runner, store rollout.StateStore, plan progressive.Plan, rerun bool) (string, error) {
	prev, err := store.Get(ctx, plan.Name)
	switch {
	case err == nil && !prev.Phase.Terminal():
		fmt.Fprintf(a.Stderr, "resuming rollout %s (%s, step %d of %d)\n", prev.ID, prev.Phase, prev.Step.Index+1, len(prev.Plan.Steps))
		return prev.ID, nil
	case err == nil && !rerun:
		return "", withCode(ExitNotStarted, fmt.Errorf("rollout %s already ran and ended %s at %s; --rerun starts it again under a new id (the record stays)",
			prev.ID, prev.Phase, prev.UpdatedAt.Format(time.RFC3339)))
	case err != nil && !errors.Is(err, progressive.ErrNotFound):
		return "", fmt.Errorf("state store: %w", err)
	}
	var st rollout.State
	if rerun {
		st, err = runner.Rerun(ctx, plan)
	} else {
		st, err = runner.Start(ctx, plan)
	}
	if err != nil {
		return "", withCode(startCode(err), err)
	}
	return st.ID, nil
}

// drive runs rollout id until it ends or runCtx does, then prints how it
// ended. ctx outlives runCtx so that the final state can still be read.
func (a *App) drive(ctx, runCtx context.Context, runner *rollout.Runner, id string) error {
	st, err := runner.Run(runCtx, id)
	if err != nil && runCtx.Err() != nil {
		// Ctrl-C cancelled ctx too; the last read must still reach the store.
		if cur, gerr := runner.Get(context.WithoutCancel(ctx), id); gerr == nil {
			st = cur
		}
		fmt.Fprintf(a.Stdout, "stopped driving rollout %s (%s, step %d of %d); it is stored: run the same document again to resume it\n",
			id, st.Phase, st.Step.Index+1, len(st.Plan.Steps))
		return withCode(ExitInterrupted, fmt.Errorf("interrupted: %w", runCtx.Err()))
	}
	if err != nil {
		return err
	}
	rec, err := runner.Record(ctx, id)
	if err != nil {
		return err
	}
	printOutcome(a, st, rec)
	if code := outcomeCode(st.Phase); code != ExitOK {
		return withCode(code, quietError(fmt.Sprintf("rollout %s ended %s", id, st.Phase)))
	}
	return nil
}

func printOutcome(a *App, st rollout.State, rec rollout.DecisionRecord) {
	im := rec.Impact
	fmt.Fprintf(a.Stdout, "\nrollout %s %s after %s; the new version took up to %g%% of the traffic\n", st.ID, im.Outcome, im.Duration.Readable(), maxShare(rec))
	if st.Rollback != nil {
		fmt.Fprintf(a.Stdout, "reason: %s\n", st.Rollback.Reason)
	}
	if im.TimeToDetect != nil {
		fmt.Fprintf(a.Stdout, "detected within %s", im.TimeToDetect.Readable())
		if im.TimeToRecover != nil {
			fmt.Fprintf(a.Stdout, ", recovered %s after the last good measurement", im.TimeToRecover.Readable())
		}
		fmt.Fprintln(a.Stdout)
	}
	fmt.Fprintf(a.Stdout, "decision record: %s record %s\n", a.Name, st.ID)
}
