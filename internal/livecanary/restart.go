package livecanary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// DriverEnv names the environment variable that turns a process into a child
// driver (MaybeRunDriver): it holds the DriverConfig as JSON.
const DriverEnv = "LIVECANARY_DRIVER"

// Exit codes of a child driver.
const (
	ExitEnded    = 0 // the rollout ended
	ExitFailed   = 1 // any other error
	ExitConflict = 3 // another runner holds the Lease (progressive.ErrConflict)
)

// MaybeRunDriver makes this process a child driver when DriverEnv is set: it
// drives the rollout with kubernetes.RunWithLease and exits (ExitEnded,
// ExitConflict or ExitFailed). Otherwise it returns at once. Call it first in
// TestMain and main.
func MaybeRunDriver() {
	raw := os.Getenv(DriverEnv)
	if raw == "" {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	os.Exit(runDriver(raw, log))
}

func runDriver(raw string, log *slog.Logger) int {
	var dc DriverConfig
	if err := json.Unmarshal([]byte(raw), &dc); err != nil {
		log.Error("child driver: configuration", slog.String("error", err.Error()))
		return ExitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", dc.Kubeconfig)
	if err != nil {
		log.Error("child driver: kubeconfig", slog.String("error", err.Error()))
		return ExitFailed
	}
	log = log.With(slog.Int("pid", os.Getpid()), slog.String("rollout", dc.Rollout))
	d, err := NewDriver(cfg, dc, log, rollout.SlogObserver{Logger: log})
	if err != nil {
		log.Error("child driver", slog.String("error", err.Error()))
		return ExitFailed
	}
	defer d.Close()
	log.Info("child driver started", slog.String("identity", d.Lease.Identity()))
	st, err := d.Run(ctx, dc.Rollout)
	switch {
	case err == nil:
		log.Info("child driver: rollout ended", slog.String("phase", string(st.Phase)))
		return ExitEnded
	case errors.Is(err, progressive.ErrConflict) && !errors.Is(err, k8s.ErrLeaseLost):
		log.Info("child driver: another runner holds the lease", slog.String("error", err.Error()))
		return ExitConflict
	default:
		log.Error("child driver", slog.String("error", err.Error()))
		return ExitFailed
	}
}

// Kill says when to SIGKILL the child driver, looking at the stored state.
type Kill struct {
	Name string
	When func(st rollout.State, now time.Time) bool
}

// KillBeforeDue kills the driver during the analysis at weight when the next
// measurement is due between lo and hi from now.
func KillBeforeDue(name string, weight float64, lo, hi time.Duration) Kill {
	return Kill{Name: name, When: func(st rollout.State, now time.Time) bool {
		step, ok := st.CurrentStep()
		if !ok || step.Analyze == nil || st.Step.Analysis == nil || st.Applied.Routes == nil || st.Applied.Routes.CanaryWeight != weight {
			return false
		}
		due, ok := NextDue(st, now)
		if !ok {
			return false
		}
		left := due.Sub(now)
		return left >= lo && left <= hi
	}}
}

// NextDue is when the analysis in flight measures next, seen at now: its
// earliest due check, or its deadline when that comes first and is still
// ahead (analysis.Engine's rule).
func NextDue(st rollout.State, now time.Time) (time.Time, bool) {
	a := st.Step.Analysis
	if a == nil {
		return time.Time{}, false
	}
	var t time.Time
	for _, cs := range a.Checks {
		if !cs.Done && (t.IsZero() || cs.NextDue.Before(t)) {
			t = cs.NextDue
		}
	}
	if now.Before(a.Deadline) && (t.IsZero() || a.Deadline.Before(t)) {
		t = a.Deadline
	}
	return t, !t.IsZero()
}

// Restart is one SIGKILL of the driver and what followed.
type Restart struct {
	Name     string
	KilledAt time.Time
	// NextDue is when the state said the next measurement was due, and
	// LeaseExpiry when the dead driver's Lease record expired
	// (RenewTime + LeaseDurationSeconds), both read after the kill.
	NextDue, LeaseExpiry time.Time
	// RestartedAt is when the first new driver was started.
	RestartedAt time.Time
	// Conflicts counts new drivers that exited with a conflict (the lease
	// still looked held) before one took over; each was started again after
	// RetryPeriod, as a supervisor restarts a crashed process.
	Conflicts int
	// ResumedAt is when the new driver first queried Prometheus after the kill.
	ResumedAt time.Time
}

// Expected is the earliest a new driver may measure: max(next due, lease
// expiry).
func (r Restart) Expected() time.Time {
	if r.LeaseExpiry.After(r.NextDue) {
		return r.LeaseExpiry
	}
	return r.NextDue
}

// Late is how long after Expected the rollout resumed.
func (r Restart) Late() time.Duration { return r.ResumedAt.Sub(r.Expected()) }

// child is one driver process.
type child struct {
	cmd  *exec.Cmd
	done chan int // exit code
}

func (c *Canary) startChild(ctx context.Context, command []string, dc DriverConfig) (*child, error) {
	raw, err := json.Marshal(dc)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(os.Environ(), DriverEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = &c.childLog, &c.childLog
	// The kernel kills the driver if the harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driver: %w", err)
	}
	ch := &child{cmd: cmd, done: make(chan int, 1)}
	go func() {
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			code = ExitFailed
		}
		ch.done <- code
	}()
	return ch, nil
}

// ChildLog is the output of the child drivers so far.
func (c *Canary) ChildLog() string { return c.childLog.String() }

// DriveWithKills starts the rollout, drives it in child processes started
// with command (which must call MaybeRunDriver) under the short lease
// (ShortLease), SIGKILLs the driver at each of kills in turn and starts a
// new one at once, until the rollout ends.
func (c *Canary) DriveWithKills(ctx context.Context, command []string, kills []Kill) (Result, error) {
	parent, err := NewDriver(c.Stack.Env.Config(), c.driverConfig(), c.Log)
	if err != nil {
		return Result{}, err
	}
	st, err := parent.Runner.Start(ctx, c.Plan)
	parent.Close()
	if err != nil {
		return Result{}, err
	}
	res := Result{Scenario: c.Name, StartedAt: st.StartedAt}
	lease := ShortLease()
	dc := c.driverConfig()
	dc.Kubeconfig = c.Stack.Env.Kubeconfig()
	dc.LeaseDuration, dc.RenewDeadline, dc.RetryPeriod = lease.LeaseDuration, lease.RenewDeadline, lease.RetryPeriod
	dc.LogQueries = true

	drv, err := c.startChild(ctx, command, dc)
	if err != nil {
		return res, err
	}
	defer func() {
		if drv != nil {
			_ = drv.cmd.Process.Kill()
			<-drv.done
		}
	}()
	var pending *Restart // a restart whose driver has not measured yet
	next := 0
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case code := <-drv.done:
			if code == ExitConflict && pending != nil && pending.ResumedAt.IsZero() {
				pending.Conflicts++
				sleep(ctx, lease.RetryPeriod)
				if drv, err = c.startChild(ctx, command, dc); err != nil {
					return res, err
				}
				continue
			}
			drv = nil
			if code != ExitEnded {
				return res, fmt.Errorf("driver exited with code %d; its output:\n%s", code, c.ChildLog())
			}
			res.EndedAt = time.Now()
			if pending != nil {
				res.Restarts = append(res.Restarts, *pending)
			}
			c.finish(ctx, &res)
			for i := range res.Restarts {
				if res.Restarts[i].ResumedAt.IsZero() {
					res.Restarts[i].ResumedAt = c.firstQueryAfter(res.Restarts[i].KilledAt)
				}
			}
			return res, nil
		case now := <-poll.C:
			st, err := c.store.Get(ctx, c.Plan.Name)
			if err != nil {
				continue
			}
			if pending != nil && pending.ResumedAt.IsZero() && !firstAfter(st.Record, pending.KilledAt).IsZero() {
				pending.ResumedAt = c.firstQueryAfter(pending.KilledAt)
			}
			if pending != nil && !pending.ResumedAt.IsZero() {
				res.Restarts = append(res.Restarts, *pending)
				pending = nil
			}
			if pending != nil || next >= len(kills) || st.Phase != rollout.PhaseProgressing || !kills[next].When(st, now) {
				continue
			}
			r, err := c.kill(ctx, drv, kills[next].Name)
			drv = nil
			if err != nil {
				return res, err
			}
			next++
			if drv, err = c.startChild(ctx, command, dc); err != nil {
				return res, err
			}
			r.RestartedAt = time.Now()
			pending = &r
			c.Log.Info("driver restarted", slog.String("kill", r.Name),
				slog.Duration("nextDueIn", r.NextDue.Sub(r.KilledAt)), slog.Duration("leaseExpiresIn", r.LeaseExpiry.Sub(r.KilledAt)))
		}
	}
}

// kill SIGKILLs drv and reads when the rollout is due next and when the dead
// driver's lease expires. It reads them a moment after the kill, so that a
// write the driver had in flight has landed.
func (c *Canary) kill(ctx context.Context, drv *child, name string) (Restart, error) {
	if err := drv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return Restart{}, fmt.Errorf("kill driver: %w", err)
	}
	r := Restart{Name: name, KilledAt: time.Now()}
	<-drv.done
	sleep(ctx, 300*time.Millisecond)
	st, err := c.store.Get(ctx, c.Plan.Name)
	if err != nil {
		return r, fmt.Errorf("state after the kill: %w", err)
	}
	due, ok := NextDue(st, r.KilledAt)
	if !ok {
		return r, fmt.Errorf("killed outside an analysis (step %d, %s)", st.Step.Index, st.Phase)
	}
	r.NextDue = due
	lease, err := c.Stack.Env.Clientset().CoordinationV1().Leases(c.Target.Namespace).Get(ctx, LeaseName(c.Target), metav1.GetOptions{})
	if err != nil {
		return r, fmt.Errorf("lease after the kill: %w", err)
	}
	if sp := lease.Spec; sp.RenewTime != nil && sp.LeaseDurationSeconds != nil {
		r.LeaseExpiry = sp.RenewTime.Add(time.Duration(*sp.LeaseDurationSeconds) * time.Second)
	}
	return r, nil
}

// firstAfter is the time of the record's first measurement after t.
func firstAfter(rec rollout.DecisionRecord, t time.Time) time.Time {
	for _, m := range rec.Observations {
		if m.Time.After(t) {
			return m.Time
		}
	}
	return time.Time{}
}

// firstQueryAfter is the wall time of the first Prometheus query a child
// driver made after t (from its QueryMarker lines): when the new driver really
// measured. The record dates a measurement taken from history after a restart
// at the time it was due, which may be before t.
func (c *Canary) firstQueryAfter(t time.Time) time.Time {
	for _, line := range strings.Split(c.childLog.String(), "\n") {
		i := strings.Index(line, QueryMarker)
		if i < 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(line[i+len(QueryMarker):]))
		if err == nil && at.After(t) {
			return at
		}
	}
	return time.Time{}
}
