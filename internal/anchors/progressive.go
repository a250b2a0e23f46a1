package anchors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/promtest"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// ProgressiveUserAgent begins the user agent of progressive's drivers: each
// runs as a child process named "progressive" (ProcessSpec.Argv0), so
// client-go's default user agent names it, apart from the harness.
const ProgressiveUserAgent = "progressive/"

// ProgressiveSettings are the driver's settings.
type ProgressiveSettings struct {
	// Name is the table's settings column.
	Name string
	// Lease are the Lease timings (zero: provider/kubernetes' defaults,
	// 15 s lease, 10 s renew deadline, 2 s retry period).
	Lease k8s.LeaseOptions
}

// ProgressiveDefaults: livecanary's plan, the documented strategy.Canary
// for Flagger's steps (StepWeight 10, MaxWeight 50, Soak 10 s) with its
// error-rate check (at most 2% over 10 s, measured every 10 s, with a
// minimum sample count), rollout.New's defaults and the default Lease.
func ProgressiveDefaults() ProgressiveSettings {
	return ProgressiveSettings{Name: "defaults"}
}

// ProgressiveTuned takes a dead driver's rollout over sooner: the 3 s Lease
// of livecanary.ShortLease (provider/kubernetes documents the trade-off: a
// driver cut off from the API server for over 2 s loses its lease).
func ProgressiveTuned() ProgressiveSettings {
	return ProgressiveSettings{Name: "tuned: 3 s lease", Lease: livecanary.ShortLease()}
}

// ProgressiveContender runs progressive's rollout.Runner, wired as
// livecanary wires it (livecanary.NewDriver: provider/kubernetes, the Istio
// router, the Prometheus source, the ConfigMap store and the Lease), in a
// child process per rollout: the rollout is started in the harness
// (rollout.Runner.Start, its requests counted there) and driven by a child of
// this binary (livecanary.MaybeRunDriver must run first in main and
// TestMain), which is SIGKILLed and started again for the restart scenario
// and restarted after its RetryPeriod when it finds the Lease still held, as
// a supervisor restarts a crashed controller.
type ProgressiveContender struct {
	a *Anchors
	s ProgressiveSettings
	// Bound is how long a rollout may take before it counts as Held.
	// Default 6 minutes.
	Bound time.Duration
}

// NewProgressive returns the contender.
func NewProgressive(a *Anchors, s ProgressiveSettings) *ProgressiveContender {
	return &ProgressiveContender{a: a, s: s, Bound: 6 * time.Minute}
}

// Tool names the row.
func (p *ProgressiveContender) Tool() string { return "progressive" }

// Settings names the row's settings.
func (p *ProgressiveContender) Settings() string { return p.s.Name }

// progressiveRollout is one rollout under progressive.
type progressiveRollout struct {
	target  progressive.Target
	weights *livecanary.Weights
	service *promtest.Service
	ctl     *controllers
	id      string

	mu          sync.Mutex
	regressedAt time.Time
	endedAt     time.Time
	phase       rollout.Phase
	held        bool
	conflicts   int
}

// Run seeds each rollout's Deployment and Service, starts the rollouts and
// drives each in a child process to its end.
func (p *ProgressiveContender) Run(ctx context.Context, st *livecanary.Stack, ns string, sc Scenario) (Run, error) {
	run := Run{Tool: p.Tool(), Settings: p.Settings(), Scenario: sc.Name}
	log := st.Log.With(slog.String("tool", "progressive"), slog.String("namespace", ns), slog.String("scenario", sc.Name))
	exe, err := os.Executable()
	if err != nil {
		return run, fmt.Errorf("progressive: %w", err)
	}
	cfg := st.Env.Config()
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return run, fmt.Errorf("progressive: %w", err)
	}
	obs, err := k8s.New(cfg, k8s.Options{NoEvents: true, Logger: log})
	if err != nil {
		return run, fmt.Errorf("progressive: %w", err)
	}
	defer obs.Close()
	store, err := obs.Store(ns)
	if err != nil {
		return run, fmt.Errorf("progressive: %w", err)
	}
	wctx, stopWatches := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatches()
	logDir, err := p.a.LogDir("progressive-" + ns)
	if err != nil {
		return run, err
	}

	n := max(sc.Rollouts, 1)
	rs := make([]*progressiveRollout, n)
	for i := range rs {
		name := "podinfo"
		if n > 1 {
			name = fmt.Sprintf("podinfo-%d", i)
		}
		r := &progressiveRollout{target: progressive.Target{Namespace: ns, Name: name}, ctl: &controllers{}}
		rs[i] = r
		defer r.ctl.stop()
		if err := seedProgressive(ctx, st, r.target); err != nil {
			return run, err
		}
		r.weights = livecanary.WatchWeights(wctx, ic, r.target, log)
		host := name + "." + ns + ".svc.cluster.local"
		r.service = st.App.Service(promtest.ServiceSpec{
			Namespace: ns, Name: name, CanaryVersion: livecanary.CanaryVersion,
			CanaryShare: r.weights.Canary, Canary: sc.Canary,
			// The same traffic books Istio's series too, as for Flagger
			// and Argo Rollouts: the App's and Prometheus' load is alike.
			Istio: &promtest.IstioNames{
				StableWorkload: name, CanaryWorkload: k8s.CanaryName(r.target),
				StableService: host, CanaryService: host,
			},
		})
		defer func() {
			r.service.SetCanary(promtest.Behavior{NoTraffic: true})
			r.service.SetStable(promtest.Behavior{NoTraffic: true})
		}()
		if sc.RegressAt > 0 {
			r.weights.OnChange(func(w float64, _ time.Time) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if w == sc.RegressAt && r.regressedAt.IsZero() {
					r.regressedAt = r.service.SetCanary(sc.Regression)
				}
			})
		}
	}
	// Prometheus has the stable side's series before the rollouts start,
	// as it would for a service that already served.
	for _, r := range rs {
		q := fmt.Sprintf(`http_requests_total{namespace=%q,service=%q,version=%q}`, ns, r.target.Name, promtest.StableVersion)
		if err := st.Prom.WaitFor(ctx, q, time.Minute); err != nil {
			return run, fmt.Errorf("progressive: %w", err)
		}
	}

	// Start every rollout in the harness, as a user's program calls
	// Runner.Start; its API requests are counted by the driver's Counter.
	run.StartedAt = time.Now()
	extra := 0
	for _, r := range rs {
		plan, err := livecanary.Plan(r.target)
		if err != nil {
			return run, fmt.Errorf("progressive: %w", err)
		}
		d, err := livecanary.NewDriver(cfg, p.driverConfig(st, r.target, ""), log)
		if err != nil {
			return run, fmt.Errorf("progressive: %w", err)
		}
		state, err := d.Runner.Start(ctx, plan)
		c := d.Counter.Snapshot()
		extra += int(c.Requests() + c.Lease + c.Events)
		d.Close()
		if err != nil {
			return run, fmt.Errorf("progressive: start %s: %w", r.target, err)
		}
		r.id = state.ID
	}

	endCtx, cancelEnd := context.WithDeadline(ctx, run.StartedAt.Add(p.Bound))
	defer cancelEnd()
	errs := make(chan error, n)
	for _, r := range rs {
		go func() {
			errs <- p.supervise(endCtx, st, exe, logDir, r, sc)
		}()
	}
	for range rs {
		if err := <-errs; err != nil && ctx.Err() == nil {
			return run, err
		}
	}
	if ctx.Err() != nil {
		return run, ctx.Err()
	}

	run.Outcome = Promoted
	counts := map[rollout.Phase]int{}
	held, conflicts := 0, 0
	var usage Usage
	for _, r := range rs {
		if state, err := store.Get(ctx, r.id); err == nil {
			r.mu.Lock()
			r.phase = state.Phase
			r.mu.Unlock()
		}
		r.mu.Lock()
		counts[r.phase]++
		conflicts += r.conflicts
		switch {
		case r.held:
			held++
			if run.Outcome == Promoted {
				run.Outcome = Held
			}
		case r.phase == rollout.PhaseRolledBack:
			run.Outcome = RolledBack
		case r.phase != rollout.PhaseSucceeded:
			run.Outcome = Held
		}
		if r.endedAt.After(run.EndedAt) {
			run.EndedAt = r.endedAt
		}
		r.mu.Unlock()
		// One driver per rollout: their memory and CPU add up.
		usage = usage.Add(r.ctl.usage())
		wc, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = r.weights.WaitFor(wc, func(w float64) bool { return w == 0 })
		cancel()
	}
	run.RSSBytes, run.CPUSeconds = usage.PeakRSSBytes, usage.CPUSeconds
	r0 := rs[0]
	run.Weights = r0.weights.Changes()
	r0.mu.Lock()
	run.RegressedAt = r0.regressedAt
	r0.mu.Unlock()
	run.KilledAt = r0.ctl.killedAt()
	if !run.KilledAt.IsZero() {
		if q, ok := p.a.Queries.First(run.KilledAt, strconv.Quote(ns)); ok {
			run.NextCheckAt = q.At
		}
	}
	p.a.Measure(&run, Requests{UserAgent: ProgressiveUserAgent, Namespace: ns, Interval: livecanary.Interval, Extra: extra}, sc)
	if n > 1 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d/%d promoted, %d rolled back, %d held; %d driver processes (RSS and CPU summed)",
			counts[rollout.PhaseSucceeded], n, counts[rollout.PhaseRolledBack], held, n))
	}
	if conflicts > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d driver start(s) found the dead driver's Lease held and were restarted", conflicts))
	}
	return run, nil
}

// driverConfig is the configuration of r's drivers.
func (p *ProgressiveContender) driverConfig(st *livecanary.Stack, t progressive.Target, id string) livecanary.DriverConfig {
	return livecanary.DriverConfig{
		Kubeconfig: st.Env.Kubeconfig(), Prometheus: p.a.PromURL, Target: t, Rollout: id,
		LeaseDuration: p.s.Lease.LeaseDuration, RenewDeadline: p.s.Lease.RenewDeadline, RetryPeriod: p.s.Lease.RetryPeriod,
	}
}

// supervise drives r in child processes until one ends the rollout: it kills
// the driver sc.RestartAfter after the canary first took traffic and starts
// another at once, and restarts a driver that exited because the Lease was
// still held after the retry period. At ctx's end the rollout is held.
func (p *ProgressiveContender) supervise(ctx context.Context, st *livecanary.Stack, exe, logDir string, r *progressiveRollout, sc Scenario) error {
	raw, err := json.Marshal(p.driverConfig(st, r.target, r.id))
	if err != nil {
		return fmt.Errorf("progressive: %w", err)
	}
	retry := p.s.Lease.RetryPeriod
	if retry <= 0 {
		retry = k8s.DefaultRetryPeriod
	}
	start := func() (*Process, error) {
		proc, err := StartProcess(ctx, ProcessSpec{
			Path: exe, Argv0: "progressive",
			Env:     []string{livecanary.DriverEnv + "=" + string(raw)},
			LogPath: filepath.Join(logDir, r.target.Name+".log"),
		})
		if err == nil {
			r.ctl.add(proc)
		}
		return proc, err
	}
	proc, err := start()
	if err != nil {
		return err
	}
	var began chan time.Time
	if sc.RestartAfter > 0 {
		began = make(chan time.Time, 1)
		go func() {
			if at, err := r.weights.WaitFor(ctx, func(w float64) bool { return w > 0 }); err == nil {
				began <- at
			}
		}()
	}
	var kill <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.held, r.endedAt = true, time.Now()
			r.mu.Unlock()
			proc.Kill()
			return nil
		case at := <-began:
			kill = time.After(time.Until(at.Add(sc.RestartAfter)))
		case <-kill:
			r.ctl.setKilledAt(proc.Kill())
			if proc, err = start(); err != nil {
				return err
			}
		case <-proc.Done():
			switch code := proc.ExitCode(); code {
			case livecanary.ExitEnded:
				r.mu.Lock()
				r.endedAt = proc.Ended()
				r.mu.Unlock()
				return nil
			case livecanary.ExitConflict:
				r.mu.Lock()
				r.conflicts++
				r.mu.Unlock()
				sleep(ctx, retry)
				if proc, err = start(); err != nil {
					return err
				}
			default:
				return fmt.Errorf("progressive: driver of %s exited with code %d:\n%s", r.target, code, proc.LogTail(30))
			}
		}
	}
}

// seedProgressive creates the stable Deployment (its pods labelled with the
// role the DestinationRule's stable subset selects) and a Service selecting
// both versions' pods, as livecanary seeds them.
func seedProgressive(ctx context.Context, st *livecanary.Stack, t progressive.Target) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: t.Namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": t.Name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := st.Env.Clientset().CoreV1().Services(t.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed Service %s: %w", t, err)
	}
	return seedDeployment(ctx, st, t.Namespace, t.Name, map[string]string{k8s.RoleLabel: "stable"})
}
