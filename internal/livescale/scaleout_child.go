package livescale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
)

// ScaleOutChildEnv names the environment variable that turns a process into
// a scale-out replica (MaybeRunScaleOutChild): it holds the childConfig as
// JSON.
const ScaleOutChildEnv = "LIVESCALE_SCALEOUT_CHILD"

// childConfig is what a replica needs: it builds everything else itself, as
// a controller replica would.
type childConfig struct {
	Index      int    `json:"index"`
	Kubeconfig string `json:"kubeconfig"`
	Namespace  string `json:"namespace"`
	Prometheus string `json:"prometheus"`
	// LeaseDuration, RenewDeadline and RetryPeriod of every target's Lease.
	LeaseDuration time.Duration `json:"leaseDuration"`
	RenewDeadline time.Duration `json:"renewDeadline"`
	RetryPeriod   time.Duration `json:"retryPeriod"`
	Resync        time.Duration `json:"resync"`
	// ClaimSpread is the longest a replica waits, at random, before it
	// claims a rollout's Lease (ScaleOutOptions.ClaimSpread).
	ClaimSpread time.Duration `json:"claimSpread"`
	// StatsEvery is how often the replica reports its figures.
	StatsEvery time.Duration `json:"statsEvery"`
	LogLevel   slog.Level    `json:"logLevel"`
}

// Kinds of the lines a replica writes on its stdout (one JSON object a line).
const (
	lineUp     = "up"     // the replica is running
	lineEvent  = "event"  // a rollout.Event
	lineOwn    = "own"    // the replica took a target's Lease and starts driving
	lineDisown = "disown" // it stopped driving (before releasing the Lease)
	lineCommit = "commit" // a state write the store accepted
	lineStats  = "stats"  // the replica's figures so far
)

// scaleLine is one line of a replica's log. The parent merges the replicas'
// lines to prove that no step was done twice and that one replica at a time
// drove each rollout, and to measure the schedule.
type scaleLine struct {
	Child    int                  `json:"c"`
	Seq      int64                `json:"s"`
	Time     time.Time            `json:"t"`
	Kind     string               `json:"k"`
	Rollout  string               `json:"r,omitempty"`
	Type     rollout.EventType    `json:"e,omitempty"`
	Step     int                  `json:"i"`
	StepKind progressive.StepKind `json:"sk,omitempty"`
	Phase    rollout.Phase        `json:"ph,omitempty"`
	Weight   *float64             `json:"w,omitempty"`
	Version  int64                `json:"v,omitempty"`
	Err      string               `json:"err,omitempty"`
	Stats    *childStats          `json:"st,omitempty"`
}

// childStats are a replica's figures since it started.
type childStats struct {
	PID int `json:"pid"`
	// Requests and Writes are its API requests, counted at its clients.
	Requests int64 `json:"requests"`
	Writes   int64 `json:"writes"`
	// RSS and PeakRSS are VmRSS and VmHWM, in bytes.
	RSS     int64 `json:"rss"`
	PeakRSS int64 `json:"peakRSS"`
	// CPU is user + system time.
	CPU time.Duration `json:"cpu"`
	// Decisions counts the runner's announced decisions (decisionEvent).
	Decisions int64 `json:"decisions"`
}

// lineWriter writes lines to stdout unbuffered, one write(2) each, so that a
// SIGKILLed replica's log holds every line it wrote whole.
type lineWriter struct {
	child int
	mu    sync.Mutex
	seq   int64
	f     *os.File
}

func (w *lineWriter) write(l scaleLine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	l.Child, l.Seq = w.child, w.seq
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	b, err := json.Marshal(l)
	if err != nil {
		return
	}
	_, _ = w.f.Write(append(b, '\n'))
}

// decisionEvent reports whether an event announces a decision of the runner:
// a step completed, a measurement judged, a rollout promoted, held or rolled
// back. CPU per decision divides by their number.
func decisionEvent(t rollout.EventType) bool {
	switch t {
	case rollout.EventStepCompleted, rollout.EventMeasured, rollout.EventSucceeded, rollout.EventHeld, rollout.EventRollbackStarted:
		return true
	}
	return false
}

// commitStore logs every state write the store accepted: with the next
// owner's first read, they tell a completed step from one a killed replica
// completed but never stored.
type commitStore struct {
	rollout.StateStore
	out *lineWriter
}

// GetFresh forwards rollout.FreshReader, which Run uses as it takes a
// rollout over.
func (s commitStore) GetFresh(ctx context.Context, id string) (rollout.State, error) {
	if fr, ok := s.StateStore.(rollout.FreshReader); ok {
		return fr.GetFresh(ctx, id)
	}
	return s.StateStore.Get(ctx, id)
}

func (s commitStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	saved, err := s.StateStore.Update(ctx, st)
	if err == nil {
		s.out.write(scaleLine{Kind: lineCommit, Rollout: saved.ID, Step: saved.Step.Index, Phase: saved.Phase, Version: saved.Version})
	}
	return saved, err
}

// MaybeRunScaleOutChild makes this process a scale-out replica when
// ScaleOutChildEnv is set, and exits when it is told to stop (SIGTERM).
// Otherwise it returns at once. Call it first in main, or from an init
// function of a test binary (before TestMain starts a control plane).
func MaybeRunScaleOutChild() {
	raw := os.Getenv(ScaleOutChildEnv)
	if raw == "" {
		return
	}
	os.Exit(runScaleOutChild(raw))
}

func runScaleOutChild(raw string) int {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout replica: configuration:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cc.LogLevel})).With(slog.Int("replica", cc.Index), slog.Int("pid", os.Getpid()))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runReplica(ctx, cc, log); err != nil {
		log.Error("scaleout replica", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// runReplica is one controller replica: its own clients from the kubeconfig,
// a Runner over the shared ConfigMap store, and a Manager that drives every
// unfinished rollout of the namespace, each only while holding its target's
// Lease (waiting for it while another replica holds it).
func runReplica(ctx context.Context, cc childConfig, log *slog.Logger) error {
	out := &lineWriter{child: cc.Index, f: os.Stdout}
	cfg, err := clientcmd.BuildConfigFromFlags("", cc.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// QPS 0: the providers' default limits, as a program built from a
	// kubeconfig gets.
	cfg.QPS, cfg.Burst, cfg.RateLimiter = 0, 0, nil
	counted, counter, _ := Count(cfg)
	provider, err := k8s.New(counted, k8s.Options{LeaveServiceSelector: true, Logger: log})
	if err != nil {
		return fmt.Errorf("kubernetes provider: %w", err)
	}
	defer provider.Close()
	kstore, err := provider.Store(cc.Namespace)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// The Manager's resync lists from an informer (listedStore), which also
	// tells it at once of a rollout the parent started.
	var kick atomic.Pointer[rollout.Manager]
	store := newListedStore(kstore, provider.Clientset(), cc.Namespace, func(st rollout.State) {
		if m := kick.Load(); m != nil && !st.Phase.Terminal() {
			m.Resync()
		}
	})
	router, err := istio.New(counted, istio.Options{Create: true})
	if err != nil {
		return fmt.Errorf("istio router: %w", err)
	}
	src, err := prometheus.New(prometheus.Options{Address: cc.Prometheus, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("prometheus source: %w", err)
	}
	var decisions atomic.Int64
	observer := rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
		if decisionEvent(e.Type) {
			decisions.Add(1)
		}
		l := scaleLine{Kind: lineEvent, Time: e.Time, Rollout: e.Rollout, Type: e.Type, Step: e.Step, StepKind: e.StepKind, Phase: e.Phase}
		if e.Type == rollout.EventRoutesChanged && e.Routes != nil {
			w := e.Routes.CanaryWeight
			l.Weight = &w
		}
		out.write(l)
	})
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{provider.Workload()},
			Metrics:   []progressive.MetricSource{src},
		},
		Store:     commitStore{StateStore: store.asStore(), out: out},
		Observers: []rollout.Observer{observer},
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	// One identity per replica, so the parent can name a Lease's holder.
	identity := fmt.Sprintf("scaleout-%d-%d", cc.Index, os.Getpid())
	drive := func(ctx context.Context, id string) (rollout.State, error) {
		st, err := runner.Get(ctx, id)
		if err != nil || st.Phase.Terminal() {
			return st, err
		}
		if cc.ClaimSpread > 0 {
			// The Lease goes to the first claimant: without the spread, the
			// replica that lists the store first takes every rollout.
			if err := sleepCtx(ctx, rand.N(cc.ClaimSpread)); err != nil {
				return st, err
			}
		}
		lease, err := provider.Lease(st.Plan.Target, k8s.LeaseOptions{
			Identity:      identity,
			LeaseDuration: cc.LeaseDuration, RenewDeadline: cc.RenewDeadline, RetryPeriod: cc.RetryPeriod,
			// A replica that does not hold the Lease waits for it: it takes
			// over when the holder releases it (the rollout ended) or dies
			// (at the record's expiry).
			Wait: true,
		})
		if err != nil {
			return st, fmt.Errorf("lease of %s: %w", id, err)
		}
		// kubernetes.RunWithLease, with the ownership logged inside the Lease.
		var end rollout.State
		err = lease.Run(ctx, func(ctx context.Context) error {
			// What the store says as this replica takes over (Run reads it
			// again from the API server before driving: the store is a
			// rollout.FreshReader).
			cur, gerr := runner.Get(ctx, id)
			own := scaleLine{Kind: lineOwn, Rollout: id, Step: cur.Step.Index, Phase: cur.Phase, Version: cur.Version}
			if gerr != nil {
				own.Step, own.Err = -1, gerr.Error()
			}
			out.write(own)
			var rerr error
			end, rerr = runner.Run(ctx, id)
			dis := scaleLine{Kind: lineDisown, Rollout: id, Step: end.Step.Index, Phase: end.Phase}
			if rerr != nil {
				dis.Err = rerr.Error()
			}
			out.write(dis)
			return rerr
		})
		if err != nil && errors.Is(err, k8s.ErrLeaseLost) {
			// The Lease was lost while driving: whatever the runner was doing
			// may be done again by the next owner (the parent checks that only
			// uncommitted steps were).
			out.write(scaleLine{Kind: lineDisown, Rollout: id, Step: -1, Err: err.Error()})
		}
		return end, err
	}
	m, err := rollout.NewManager(runner, rollout.ManagerOptions{Drive: drive, Resync: cc.Resync, Logger: log})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	kick.Store(m)
	if err := store.start(ctx); err != nil {
		return err
	}
	stats := func() {
		s := &childStats{PID: os.Getpid(), Requests: counter.Requests(), Writes: counter.Writes(), Decisions: decisions.Load()}
		s.RSS, s.PeakRSS, _ = RSS()
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
			s.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		out.write(scaleLine{Kind: lineStats, Stats: s})
	}
	out.write(scaleLine{Kind: lineUp, Rollout: identity})
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		t := time.NewTicker(cc.StatsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				stats()
			}
		}
	}()
	runErr := m.Run(ctx)
	<-statsDone
	stats()
	log.Info("scaleout replica stopped")
	return runErr
}

// sleepCtx sleeps for d, or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
