package livescale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Defaults of ScaleOutOptions.
const (
	DefaultReplicas  = 3
	DefaultKillAfter = 0.3
	DefaultResync    = 10 * time.Second
	// DefaultClaimSpread spreads the replicas' first claims: see
	// ScaleOutOptions.ClaimSpread.
	DefaultClaimSpread = 5 * time.Second
	DefaultStartBatch  = 100
	DefaultStartWait   = 20 * time.Second
)

// ScaleOutOptions configure RunScaleOut. Config, Kubeconfig, App and
// Prometheus are required.
type ScaleOutOptions struct {
	// Config reaches the control plane, for the setup and the checks; the
	// replicas build their own clients from Kubeconfig.
	Config     *rest.Config
	Kubeconfig string
	App        *promtest.App
	Prometheus *promtest.Server
	// Namespace holds every target, Lease and state. Default: a new one.
	Namespace string
	// N rollouts, P replicas. Default 100 and 3.
	N, P int
	// Command starts a replica: a program that calls MaybeRunScaleOutChild
	// first. Default: this executable, without arguments.
	Command []string
	// Lease timings of every target's Lease. Zero: the provider's defaults
	// (15 s, 10 s, 2 s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resync is the replicas' Manager resync. Default 10 s.
	Resync time.Duration
	// ClaimSpread is the longest a replica waits, at random, before it
	// claims a rollout's Lease: a Lease goes to the first claimant, and
	// without the spread the replica that lists the store first takes every
	// rollout. Default 5 s; negative: none.
	ClaimSpread time.Duration
	// StartBatch is how many rollouts the parent starts at once, with the
	// replicas already running: the next batch starts when the replicas have
	// taken 90% of the rollouts started so far (or after StartWait). Default
	// 100. Starting all of them before the replicas ran made the first
	// rollouts' deploy steps, whose ready timeout counts from Start, wait for
	// the last Start.
	StartBatch int
	// StartWait bounds the wait between batches. Default 20 s.
	StartWait time.Duration
	// KillAfter is the share of all steps that must have completed before
	// the replica holding the most rollouts is SIGKILLed. Default 0.3;
	// negative: no kill.
	KillAfter float64
	// InconclusiveLimit, when positive, replaces the checks' default (see
	// Options.InconclusiveLimit).
	InconclusiveLimit int
	// Timeout bounds the rollouts from the first Start. Default 10m.
	Timeout time.Duration
	// LogDir receives each replica's stderr (replica-<i>.log). Default: a
	// new temporary directory, left in place.
	LogDir string
	// ReplicaLogLevel is the replicas' slog level. Default Warn.
	ReplicaLogLevel slog.Level
	// Logger receives the harness' progress. Default: discard.
	Logger *slog.Logger
}

func (o ScaleOutOptions) withDefaults() ScaleOutOptions {
	if o.N <= 0 {
		o.N = DefaultN
	}
	if o.P <= 0 {
		o.P = DefaultReplicas
	}
	if o.KillAfter == 0 {
		o.KillAfter = DefaultKillAfter
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.StartBatch <= 0 {
		o.StartBatch = DefaultStartBatch
	}
	if o.StartWait <= 0 {
		o.StartWait = DefaultStartWait
	}
	if o.ClaimSpread == 0 {
		o.ClaimSpread = DefaultClaimSpread
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = k8s.DefaultLeaseDuration
	}
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = k8s.DefaultRenewDeadline
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = k8s.DefaultRetryPeriod
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ReplicaLogLevel == 0 {
		o.ReplicaLogLevel = slog.LevelWarn
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ReplicaFigures are one replica's figures, from its last stats line.
type ReplicaFigures struct {
	Index, PID int
	Killed     bool
	// Drove counts the rollouts it drove (took the Lease of while unfinished).
	Drove int
	// StepsCompleted counts the step completions it stored.
	StepsCompleted int
	childStats
	// Lifetime is from its start to its last stats line.
	Lifetime time.Duration
}

// Resume is one rollout the killed replica held, and who took it over.
type Resume struct {
	Rollout string
	By      int
	// After is from the kill to the new owner's first read of the state.
	After time.Duration
}

// ScaleOutReport is what RunScaleOut saw and measured.
type ScaleOutReport struct {
	N, P, Promoted int
	Failed         []string
	Settings       string
	Setup, Wall    time.Duration
	// Starting is from the first Start to the last (in batches, the
	// replicas running); Claim is the distribution, over the rollouts, of
	// the time from a rollout's Start to a replica's first taking its Lease.
	Starting time.Duration
	Claim    Distribution
	Replicas []ReplicaFigures
	// Killed is the index of the SIGKILLed replica (-1: none), KilledAt when.
	Killed   int
	KilledAt time.Time
	// Resumes are the rollouts the killed replica held at the kill.
	Resumes []Resume
	Resume  Distribution
	// Violations are broken guarantees: a step completed twice or never, two
	// replicas driving one rollout at once, a replica acting on a rollout
	// without its Lease, a held rollout nobody resumed.
	Violations []string
	// Reexecuted counts step completions a replica made but never stored
	// (its drive was killed or lost the Lease first): the next owner did
	// them again, which is allowed.
	Reexecuted int
	// Schedule lag, as Report's.
	Lags, FirstMeasurements []StepLag
	Problems                []string
	Lag, FirstMeasurement   Distribution
	ByKind                  []KindDistribution
	// Requests are all replicas' API requests (a killed one's up to its
	// last stats line), over Wall.
	Requests, Writes  int64
	RequestsPerSecond float64
	// PeakRSS sums the replicas' VmHWM; RSSPerRollout divides it by N.
	PeakRSS, RSSPerRollout int64
	// CPU sums the replicas' CPU time; CPUPerDecision divides it by
	// Decisions (decisionEvent).
	CPU, CPUPerDecision time.Duration
	Decisions           int64

	killWanted bool
}

// replica is one child process and what it wrote.
type replica struct {
	index  int
	cmd    *exec.Cmd
	sink   *lineSink
	done   chan struct{}
	exited time.Time
}

// lineSink parses a replica's stdout as it arrives (exec copies the pipe
// into it), keeps every line and feeds the live view.
type lineSink struct {
	mu      sync.Mutex
	partial []byte
	lines   []scaleLine
	bad     int
	on      func(scaleLine)
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		var l scaleLine
		if err := json.Unmarshal(s.partial[:i], &l); err != nil {
			s.bad++
		} else {
			s.lines = append(s.lines, l)
			s.on(l)
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *lineSink) all() []scaleLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scaleLine(nil), s.lines...)
}

// liveView is what the parent knows while the replicas run: each rollout's
// weight (for the App's canary share), the completions so far and who owns
// what.
type liveView struct {
	rec         *Recorder
	mu          sync.Mutex
	completions int
	succeeded   map[string]bool
	owned       []map[string]bool
	// claimed is when a replica first took each rollout's Lease.
	claimed map[string]time.Time
}

func (v *liveView) see(l scaleLine) {
	switch l.Kind {
	case lineEvent:
		e := rollout.Event{Time: l.Time, Rollout: l.Rollout, Type: l.Type, Step: l.Step, StepKind: l.StepKind, Phase: l.Phase}
		if l.Weight != nil {
			e.Routes = &progressive.Routes{CanaryWeight: *l.Weight}
		}
		v.rec.Observe(context.Background(), e)
		switch l.Type {
		case rollout.EventStepCompleted:
			v.mu.Lock()
			v.completions++
			v.mu.Unlock()
		case rollout.EventSucceeded, rollout.EventRollbackCompleted:
			v.mu.Lock()
			v.succeeded[l.Rollout] = true
			v.mu.Unlock()
		}
	case lineOwn:
		v.mu.Lock()
		v.owned[l.Child][l.Rollout] = true
		if _, ok := v.claimed[l.Rollout]; !ok {
			v.claimed[l.Rollout] = l.Time
		}
		v.mu.Unlock()
	case lineDisown:
		v.mu.Lock()
		delete(v.owned[l.Child], l.Rollout)
		v.mu.Unlock()
	}
}

// RunScaleOut creates N targets, starts N canary rollouts (stored only), and
// lets P replica processes share them through the targets' Leases: each
// replica runs a rollout.Manager whose drive holds the target's Lease
// (waiting while another replica holds it). Once KillAfter of all steps
// have completed, the replica that holds the most rollouts is SIGKILLed; the
// others take its rollouts over when its Leases expire. When every rollout
// has ended, the replicas are stopped and their logs merged and checked (see
// ScaleOutReport.Violations). An error means the harness could not run.
func RunScaleOut(ctx context.Context, opts ScaleOutOptions) (ScaleOutReport, error) {
	o := opts.withDefaults()
	rep := ScaleOutReport{N: o.N, P: o.P, Killed: -1, killWanted: o.KillAfter > 0}
	if o.Config == nil || o.Kubeconfig == "" || o.App == nil || o.Prometheus == nil {
		return rep, fmt.Errorf("livescale: scale-out: Config, Kubeconfig, App and Prometheus are required: %w", progressive.ErrInvalid)
	}
	if len(o.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return rep, fmt.Errorf("livescale: scale-out: this executable: %w", err)
		}
		o.Command = []string{exe}
	}
	if o.LogDir == "" {
		dir, err := os.MkdirTemp("", "livescale-scaleout-")
		if err != nil {
			return rep, fmt.Errorf("livescale: scale-out: log directory: %w", err)
		}
		o.LogDir = dir
	}
	log := o.Logger

	setupCfg := rest.CopyConfig(o.Config)
	setupCfg.QPS, setupCfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(setupCfg)
	if err != nil {
		return rep, fmt.Errorf("livescale: setup client: %w", err)
	}
	ns := o.Namespace
	if ns == "" {
		ns = fmt.Sprintf("scaleout-%d", time.Now().UnixMilli()%1_000_000)
	}
	setupStart := time.Now()
	if err := ensureNamespace(ctx, cs, ns); err != nil {
		return rep, err
	}
	names := make([]string, o.N)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%04d", i)
	}
	if err := createTargets(ctx, cs, ns, names, DefaultStableReplicas); err != nil {
		return rep, err
	}
	if err := waitRolledOut(ctx, cs, ns, o.N, 3*time.Minute+time.Duration(o.N)*200*time.Millisecond); err != nil {
		return rep, err
	}
	watch := newReadinessWatch(cs, ns, DefaultCanaryReplicas, DefaultStableReplicas)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := watch.start(wctx); err != nil {
		return rep, err
	}

	// The parent only starts the rollouts (Runner.Start stores them); it
	// needs the providers because Start validates the plan against them and
	// runs every query once.
	provider, err := k8s.New(setupCfg, k8s.Options{LeaveServiceSelector: true, Logger: log})
	if err != nil {
		return rep, fmt.Errorf("livescale: kubernetes provider: %w", err)
	}
	defer provider.Close()
	kstore, err := provider.Store(ns)
	if err != nil {
		return rep, fmt.Errorf("livescale: store: %w", err)
	}
	// Start lists the store twice: from an informer, not a LIST each time
	// (listedStore).
	listed := newListedStore(kstore, cs, ns, nil)
	if err := listed.start(wctx); err != nil {
		return rep, err
	}
	store := listed.asStore()
	router, err := istio.New(setupCfg, istio.Options{Create: true})
	if err != nil {
		return rep, fmt.Errorf("livescale: istio router: %w", err)
	}
	src, err := prometheus.New(prometheus.Options{Address: o.Prometheus.URL, Timeout: 5 * time.Second})
	if err != nil {
		return rep, fmt.Errorf("livescale: prometheus source: %w", err)
	}
	live := &liveView{rec: NewRecorder(), owned: make([]map[string]bool, o.P), succeeded: map[string]bool{}, claimed: map[string]time.Time{}}
	for i := range live.owned {
		live.owned[i] = map[string]bool{}
	}
	starter, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{provider.Workload()},
			Metrics:   []progressive.MetricSource{src},
		},
		Store: store,
		// Start's step-started event of the first step is the schedule's
		// anchor; the replicas report the rest.
		Observers: []rollout.Observer{live.rec},
		Logger:    log,
	})
	if err != nil {
		return rep, fmt.Errorf("livescale: runner: %w", err)
	}
	app := metrics.App{Window: DefaultWindow}
	checks := []progressive.Check{app.ErrorRate(1), app.LatencyP95(500)}
	for i := range checks {
		checks[i].Interval = DefaultInterval
		checks[i].InconclusiveLimit = o.InconclusiveLimit
	}
	plans := make([]progressive.Plan, o.N)
	for i, name := range names {
		plan, err := strategy.Canary{
			StepWeight: DefaultStepWeight, MaxWeight: DefaultMaxWeight, Soak: DefaultSoak,
			Replicas: DefaultCanaryReplicas, Checks: checks,
		}.Plan(progressive.Target{Namespace: ns, Name: name}, progressive.Release{Version: CanaryVersion, Image: image(name, CanaryVersion)})
		if err != nil {
			return rep, fmt.Errorf("livescale: plan of %s: %w", name, err)
		}
		plans[i] = plan
		id := plan.Name
		// The canary's share follows the weight the replicas report.
		o.App.Service(promtest.ServiceSpec{Namespace: ns, Name: name, CanaryVersion: CanaryVersion, RPS: DefaultRPS,
			CanaryShare: func() float64 { return live.rec.Weight(id) }})
	}
	if err := o.Prometheus.WaitFor(ctx, fmt.Sprintf(`http_requests_total{namespace=%q,service=%q}`, ns, names[len(names)-1]), 60*time.Second); err != nil {
		return rep, fmt.Errorf("livescale: %w", err)
	}
	rep.Setup = time.Since(setupStart)
	rep.Settings = fmt.Sprintf("N=%d rollouts, P=%d replicas, %d+%d pods each, weights %d..%d, soak %s, lease %s/%s/%s, resync %s, claims spread over %s, started in batches of %d with the replicas running, kill after %.0f%% of the steps",
		o.N, o.P, DefaultStableReplicas, DefaultCanaryReplicas, DefaultStepWeight, DefaultMaxWeight, DefaultSoak,
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod, o.Resync, max(o.ClaimSpread, 0), o.StartBatch, 100*o.KillAfter)
	log.Info("livescale: scale-out: targets ready; starting the replicas, then the rollouts", "settings", rep.Settings, "took", rep.Setup.Round(time.Millisecond))

	// The replicas first: they find an empty store and take each rollout as
	// the parent starts it.
	reps := make([]*replica, o.P)
	defer func() {
		for _, r := range reps {
			if r != nil {
				stopReplica(r, syscall.SIGKILL, 0)
			}
		}
	}()
	for i := range reps {
		r, err := startReplica(o, i, ns, live)
		if err != nil {
			return rep, err
		}
		reps[i] = r
	}
	if err := waitUp(ctx, reps, time.Minute); err != nil {
		return rep, err
	}

	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	startedAt := make([]time.Time, len(plans))
	startErr := make(chan error, 1)
	go func() {
		// In batches: the next when the replicas have taken most of the
		// rollouts started so far.
		for lo := 0; lo < len(plans); lo += o.StartBatch {
			hi := min(lo+o.StartBatch, len(plans))
			if err := startAll(rctx, starter, plans[lo:hi], startedAt[lo:hi]); err != nil {
				startErr <- err
				return
			}
			log.Info("livescale: scale-out: batch started", "started", hi, "of", len(plans), "took", time.Since(start).Round(time.Millisecond))
			if hi == len(plans) {
				break
			}
			wait := time.Now().Add(o.StartWait)
			for time.Now().Before(wait) && rctx.Err() == nil {
				live.mu.Lock()
				claimed := len(live.claimed)
				live.mu.Unlock()
				if float64(claimed) >= 0.9*float64(hi) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		rep.Starting = time.Since(start)
		startErr <- nil
	}()

	total := o.N * len(plans[0].Steps)
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	lastList := time.Time{}
	for ended := false; !ended; {
		select {
		case <-rctx.Done():
			return rep, fmt.Errorf("livescale: scale-out: rollouts not ended after %s: %w; replica logs in %s", o.Timeout, rctx.Err(), o.LogDir)
		case err := <-startErr:
			if err != nil {
				return rep, err
			}
			startErr = nil
			continue
		case <-poll.C:
		}
		for _, r := range reps {
			select {
			case <-r.done:
				if r.index != rep.Killed {
					return rep, fmt.Errorf("livescale: scale-out: replica %d exited early (%v); its log: %s", r.index, r.cmd.ProcessState, filepath.Join(o.LogDir, fmt.Sprintf("replica-%d.log", r.index)))
				}
			default:
			}
		}
		live.mu.Lock()
		done, ends := live.completions, len(live.succeeded)
		victim, most := -1, 0
		for i, m := range live.owned {
			if len(m) > most {
				victim, most = i, len(m)
			}
		}
		live.mu.Unlock()
		if rep.Killed < 0 && o.KillAfter > 0 && float64(done) >= o.KillAfter*float64(total) && victim >= 0 {
			rep.KilledAt = time.Now()
			if err := reps[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				return rep, fmt.Errorf("livescale: scale-out: kill replica %d: %w", victim, err)
			}
			rep.Killed = victim
			log.Info("livescale: scale-out: replica killed", "replica", victim, "holding", most, "stepsCompleted", done, "of", total)
		}
		// The store is read when the replicas' events say every rollout
		// ended, and otherwise every 30 s, from the informer (a thousand
		// states are megabytes, a load the replicas would pay for); the
		// final states are one LIST.
		if ends < o.N && time.Since(lastList) < 30*time.Second || time.Since(lastList) < 2*time.Second {
			continue
		}
		lastList = time.Now()
		states, err := listed.List(rctx)
		if err != nil {
			continue
		}
		terminal := 0
		for _, st := range states {
			if st.Phase.Terminal() {
				terminal++
			}
		}
		ended = terminal >= o.N
		log.Info("livescale: scale-out: progress", "ended", terminal, "n", o.N, "stepsCompleted", done, "of", total)
	}
	rep.Wall = time.Since(start)
	if startErr != nil {
		// Every rollout ended, so every Start returned: the batches' end.
		if err := <-startErr; err != nil {
			return rep, err
		}
	}
	for _, r := range reps {
		stopReplica(r, syscall.SIGTERM, 30*time.Second)
	}

	states, err := kstore.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("livescale: scale-out: final states: %w", err)
	}
	var claims []time.Duration
	live.mu.Lock()
	for i, plan := range plans {
		if at, ok := live.claimed[plan.Name]; ok && !startedAt[i].IsZero() {
			claims = append(claims, at.Sub(startedAt[i]))
		}
	}
	live.mu.Unlock()
	rep.Claim = Distribute(claims)
	phases := map[string]rollout.State{}
	for _, st := range states {
		phases[st.ID] = st
	}
	for _, plan := range plans {
		st, ok := phases[plan.Name]
		switch {
		case !ok:
			rep.Failed = append(rep.Failed, plan.Name+": no state")
		case st.Phase != rollout.PhaseSucceeded:
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s: %s at step %d: %s", plan.Name, st.Phase, st.Step.Index, st.HeldReason))
		default:
			rep.Promoted++
		}
	}
	lines := make([][]scaleLine, o.P)
	exits := make([]time.Time, o.P)
	for i, r := range reps {
		lines[i] = r.sink.all()
		exits[i] = r.exited
		if r.sink.bad > 0 {
			rep.Violations = append(rep.Violations, fmt.Sprintf("replica %d wrote %d unreadable lines", i, r.sink.bad))
		}
	}
	steps := map[string]int{}
	for _, p := range plans {
		steps[p.Name] = len(p.Steps)
	}
	rep.check(lines, exits, steps)
	rep.figures(lines)

	vars := analysis.Vars{Namespace: ns, CanaryVersion: CanaryVersion, StableVersion: promtest.StableVersion}
	for _, plan := range plans {
		vars.Service = plan.Target.Name
		l, first, problems := Schedule(plan.Name, plan, live.rec.Timeline(plan.Name), watch.get(plan.Target.Name), vars)
		rep.Lags = append(rep.Lags, l...)
		rep.FirstMeasurements = append(rep.FirstMeasurements, first...)
		rep.Problems = append(rep.Problems, problems...)
	}
	rep.Lag = Distribute(lagsOf(rep.Lags))
	rep.ByKind = ByKind(rep.Lags)
	rep.FirstMeasurement = Distribute(lagsOf(rep.FirstMeasurements))
	return rep, nil
}

// startAll starts every plan (stored only), eight at a time, noting when
// each was started. A Start that fails (a Prometheus query of the preflight
// timed out on the loaded machine, say) is tried again twice; one whose
// earlier attempt stored the state after all counts as started.
func startAll(ctx context.Context, r *rollout.Runner, plans []progressive.Plan, at []time.Time) error {
	sem := make(chan struct{}, 8)
	errs := make([]error, len(plans))
	var wg sync.WaitGroup
	for i := range plans {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			for attempt := range 3 {
				if attempt > 0 {
					if _, gerr := r.Get(ctx, plans[i].Name); gerr == nil {
						err = nil
						break
					}
					if sleepCtx(ctx, 2*time.Second) != nil {
						break
					}
				}
				at[i] = time.Now()
				if _, err = r.Start(ctx, plans[i]); err == nil {
					break
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("livescale: start %s: %w", plans[i].Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitUp waits until every replica wrote its first line (it built its
// clients and runs its Manager).
func waitUp(ctx context.Context, reps []*replica, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		up := 0
		for _, r := range reps {
			select {
			case <-r.done:
				return fmt.Errorf("livescale: scale-out: replica %d exited at start (%v)", r.index, r.cmd.ProcessState)
			default:
			}
			if len(r.sink.all()) > 0 {
				up++
			}
		}
		if up == len(reps) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("livescale: scale-out: %d of %d replicas up after %s", up, len(reps), timeout)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func startReplica(o ScaleOutOptions, i int, ns string, live *liveView) (*replica, error) {
	raw, err := json.Marshal(childConfig{
		Index: i, Kubeconfig: o.Kubeconfig, Namespace: ns, Prometheus: o.Prometheus.URL,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Resync: o.Resync, ClaimSpread: o.ClaimSpread, StatsEvery: 2 * time.Second, LogLevel: o.ReplicaLogLevel,
	})
	if err != nil {
		return nil, fmt.Errorf("livescale: replica %d: %w", i, err)
	}
	logf, err := os.Create(filepath.Join(o.LogDir, fmt.Sprintf("replica-%d.log", i)))
	if err != nil {
		return nil, fmt.Errorf("livescale: replica %d: %w", i, err)
	}
	// Not CommandContext: the harness stops its replicas itself, and must
	// not lose the lines a replica writes while it stops.
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Env = append(os.Environ(), ScaleOutChildEnv+"="+string(raw))
	r := &replica{index: i, cmd: cmd, done: make(chan struct{}), sink: &lineSink{on: live.see}}
	cmd.Stdout, cmd.Stderr = r.sink, logf
	// The kernel kills the replica if the harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("livescale: start replica %d: %w", i, err)
	}
	go func() {
		_ = cmd.Wait()
		r.exited = time.Now()
		logf.Close()
		close(r.done)
	}()
	return r, nil
}

// stopReplica signals r and waits for it to exit, up to grace (then kills it).
func stopReplica(r *replica, sig syscall.Signal, grace time.Duration) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// interval is one replica's ownership of one rollout: from its own line (the
// Lease taken, the state read) to its disown line, or to the kill.
type interval struct {
	child      int
	start, end time.Time
	startStep  int
	startPhase rollout.Phase
	// aborted: the drive did not end normally (killed, or the Lease lost),
	// so a step it completed may not have been stored.
	aborted     bool
	open        bool
	completions []mark // step-completed events
	commits     []mark // accepted state writes
}

type mark struct {
	seq   int64
	step  int
	phase rollout.Phase
}

// check merges the replicas' lines and records every broken guarantee:
//
//   - every event and state write of a rollout by a replica lies inside one
//     of that replica's ownership intervals of it (it held the Lease);
//   - the ownership intervals of a rollout do not overlap (the killed
//     replica's open ones end at the kill);
//   - every step of every rollout was completed exactly once, counting a
//     completion only when it was stored: the same replica wrote the state
//     past that step afterwards, or the next owner read it past that step
//     when it took over. A completion never stored must come from an
//     aborted interval (killed, or the Lease lost): it was done again, and
//     is counted in Reexecuted;
//   - every rollout the killed replica held was taken over by another.
func (rep *ScaleOutReport) check(lines [][]scaleLine, exits []time.Time, steps map[string]int) {
	byRollout := map[string][]*interval{}
	for c, ls := range lines {
		open := map[string]*interval{}
		last := map[string]*interval{}
		for _, l := range ls {
			switch l.Kind {
			case lineOwn:
				if open[l.Rollout] != nil {
					rep.violate("replica %d took %s again while driving it", c, l.Rollout)
				}
				iv := &interval{child: c, start: l.Time, startStep: l.Step, startPhase: l.Phase, open: true}
				open[l.Rollout], last[l.Rollout] = iv, iv
				byRollout[l.Rollout] = append(byRollout[l.Rollout], iv)
			case lineDisown:
				iv := open[l.Rollout]
				if iv == nil {
					// The Lease-lost note after the drive ended.
					if p := last[l.Rollout]; p != nil && strings.Contains(l.Err, "lease lost") {
						p.aborted = true
					}
					continue
				}
				iv.end, iv.open = l.Time, false
				iv.aborted = iv.aborted || strings.Contains(l.Err, "lease lost")
				delete(open, l.Rollout)
			case lineEvent, lineCommit:
				iv := open[l.Rollout]
				if iv == nil {
					rep.violate("replica %d: %s %s of %s step %d without holding its Lease", c, l.Kind, l.Type, l.Rollout, l.Step)
					continue
				}
				m := mark{seq: l.Seq, step: l.Step, phase: l.Phase}
				if l.Kind == lineCommit {
					iv.commits = append(iv.commits, m)
				} else if l.Type == rollout.EventStepCompleted {
					iv.completions = append(iv.completions, m)
				}
			}
		}
		for _, iv := range open {
			iv.open = false
			if c == rep.Killed {
				iv.end, iv.aborted = rep.KilledAt, true
				continue
			}
			iv.end = exits[c]
		}
	}
	ids := make([]string, 0, len(steps))
	for id := range steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var resumes []time.Duration
	for _, id := range ids {
		ivs := byRollout[id]
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
		done := make([]int, steps[id])
		for k, iv := range ivs {
			if k > 0 && iv.start.Before(ivs[k-1].end) {
				rep.violate("%s: replica %d took it at %s while replica %d drove it (until %s)", id, iv.child,
					iv.start.Format("15:04:05.000"), ivs[k-1].child, ivs[k-1].end.Format("15:04:05.000"))
			}
			var next *interval
			if k+1 < len(ivs) {
				next = ivs[k+1]
			}
			for _, c := range iv.completions {
				if c.step < 0 || c.step >= len(done) {
					rep.violate("%s: replica %d completed step %d of %d", id, iv.child, c.step, len(done))
					continue
				}
				if stored(iv, next, c) {
					done[c.step]++
					continue
				}
				if !iv.aborted {
					rep.violate("%s: replica %d completed step %d and never stored it, though its drive ended normally", id, iv.child, c.step)
				}
				rep.Reexecuted++
			}
			if iv.child == rep.Killed && iv.end.Equal(rep.KilledAt) && iv.aborted {
				if next == nil {
					rep.violate("%s: held by the killed replica %d and never resumed", id, iv.child)
					continue
				}
				if next.child == rep.Killed {
					rep.violate("%s: resumed by the killed replica %d", id, next.child)
				}
				r := Resume{Rollout: id, By: next.child, After: next.start.Sub(rep.KilledAt)}
				rep.Resumes = append(rep.Resumes, r)
				resumes = append(resumes, r.After)
			}
		}
		for i, n := range done {
			if n != 1 {
				rep.violate("%s: step %d completed %d times", id, i, n)
			}
		}
	}
	if rep.Killed < 0 && rep.killWanted {
		rep.violate("no replica was killed")
	}
	if rep.Killed >= 0 && len(rep.Resumes) == 0 {
		rep.violate("the killed replica %d held no rollout", rep.Killed)
	}
	rep.Resume = Distribute(resumes)
}

// stored reports whether completion c in iv was stored: iv wrote the state
// past its step (or ended it) afterwards, or the next owner read it so.
func stored(iv, next *interval, c mark) bool {
	for _, w := range iv.commits {
		if w.seq > c.seq && (w.step > c.step || w.phase.Terminal()) {
			return true
		}
	}
	return next != nil && (next.startStep > c.step || next.startPhase.Terminal())
}

func (rep *ScaleOutReport) violate(format string, args ...any) {
	rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
}

// figures sums the replicas' last stats lines.
func (rep *ScaleOutReport) figures(lines [][]scaleLine) {
	for c, ls := range lines {
		f := ReplicaFigures{Index: c, Killed: c == rep.Killed}
		drove := map[string]bool{}
		var first, last time.Time
		for _, l := range ls {
			if first.IsZero() {
				first = l.Time
			}
			switch l.Kind {
			case lineOwn:
				if !l.Phase.Terminal() {
					drove[l.Rollout] = true
				}
			case lineEvent:
				if l.Type == rollout.EventStepCompleted {
					f.StepsCompleted++
				}
			case lineStats:
				if l.Stats != nil {
					f.childStats, last = *l.Stats, l.Time
				}
			}
		}
		f.PID, f.Drove, f.Lifetime = f.childStats.PID, len(drove), last.Sub(first)
		rep.Replicas = append(rep.Replicas, f)
		rep.Requests += f.Requests
		rep.Writes += f.Writes
		rep.PeakRSS += f.PeakRSS
		rep.CPU += f.CPU
		rep.Decisions += f.Decisions
	}
	if rep.Wall > 0 {
		rep.RequestsPerSecond = float64(rep.Requests) / rep.Wall.Seconds()
	}
	rep.RSSPerRollout = rep.PeakRSS / int64(max(rep.N, 1))
	if rep.Decisions > 0 {
		rep.CPUPerDecision = rep.CPU / time.Duration(rep.Decisions)
	}
}

// String prints the report's figures.
func (rep ScaleOutReport) String() string {
	var b strings.Builder
	mb := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	fmt.Fprintf(&b, "%s\n", rep.Settings)
	fmt.Fprintf(&b, "promoted %d of %d; setup %s; wall %s (first Start to last end); starting took %s\n", rep.Promoted, rep.N, rep.Setup.Round(time.Millisecond), rep.Wall.Round(time.Millisecond), rep.Starting.Round(time.Millisecond))
	fmt.Fprintf(&b, "from Start to a replica's first claim: %s\n", rep.Claim)
	if rep.Killed >= 0 {
		fmt.Fprintf(&b, "killed replica %d at %s holding %d rollouts; resumed by the others after (from the kill to the new owner's first read): %s\n",
			rep.Killed, rep.KilledAt.Format("15:04:05.000"), len(rep.Resumes), rep.Resume)
	}
	fmt.Fprintf(&b, "step completions never stored and done again by the next owner: %d; violations: %d\n", rep.Reexecuted, len(rep.Violations))
	fmt.Fprintf(&b, "schedule lag, every step:   %s\n", rep.Lag)
	for _, k := range rep.ByKind {
		fmt.Fprintf(&b, "  after %-11s %s\n", k.Kind+":", k.Distribution)
	}
	fmt.Fprintf(&b, "first measurement lag:      %s\n", rep.FirstMeasurement)
	fmt.Fprintf(&b, "API requests: %d (%d writes, %.0f per rollout), %.1f/s over the wall time\n",
		rep.Requests, rep.Writes, float64(rep.Requests)/float64(max(rep.N, 1)), rep.RequestsPerSecond)
	fmt.Fprintf(&b, "RSS: %s peak in all (sum of VmHWM), %s per rollout; CPU %s for %d decisions, %s per decision\n",
		mb(rep.PeakRSS), mb(rep.RSSPerRollout), rep.CPU.Round(time.Millisecond), rep.Decisions, rep.CPUPerDecision.Round(time.Microsecond))
	for _, f := range rep.Replicas {
		killed := ""
		if f.Killed {
			killed = " (killed; figures up to its last report)"
		}
		fmt.Fprintf(&b, "  replica %d pid %d%s: drove %d rollouts, completed %d steps, %d requests (%.1f/s), VmHWM %s (%s per rollout), CPU %s, %d decisions\n",
			f.Index, f.PID, killed, f.Drove, f.StepsCompleted, f.Requests, float64(f.Requests)/max(f.Lifetime.Seconds(), 1),
			mb(f.PeakRSS), mb(f.PeakRSS/int64(max(f.Drove, 1))), f.CPU.Round(time.Millisecond), f.Decisions)
	}
	if w := Worst(rep.Lags, 5); len(w) > 0 {
		fmt.Fprintf(&b, "largest lags:\n%s\n", indent(joinLags(w)))
	}
	if len(rep.Failed) > 0 {
		fmt.Fprintf(&b, "not promoted (%d):\n%s\n", len(rep.Failed), indent(strings.Join(rep.Failed[:min(10, len(rep.Failed))], "\n")))
	}
	if len(rep.Violations) > 0 {
		fmt.Fprintf(&b, "violations (%d):\n%s\n", len(rep.Violations), indent(strings.Join(rep.Violations[:min(20, len(rep.Violations))], "\n")))
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(&b, "not compared (%d):\n%s\n", len(rep.Problems), indent(strings.Join(rep.Problems[:min(10, len(rep.Problems))], "\n")))
	}
	return b.String()
}
