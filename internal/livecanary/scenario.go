package livecanary

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// Behaviours of the canary.
var (
	// Healthy answers 0.5% of requests with 500: the App is deterministic, so
	// the first error comes after 200 canary requests (20 s at 10 req/s), and
	// only then does the error series exist.
	Healthy = promtest.Behavior{ErrorPercent: 0.5}
	// Regressed answers 10% of requests with 500.
	Regressed = promtest.Behavior{ErrorPercent: 10}
	// Silent receives no requests at all: the canary's series never exist.
	Silent = promtest.Behavior{NoTraffic: true}
)

// Scenario is one canary to run.
type Scenario struct {
	// Name is the service's name, unique on the stack (the App keeps one
	// service per name).
	Name string
	// Canary is the canary's behaviour from the start.
	Canary promtest.Behavior
	// RegressAt, when positive, is the canary weight at which Regression
	// starts: the moment the VirtualService shows it.
	RegressAt  float64
	Regression promtest.Behavior
}

// Canary is a scenario prepared on the stack: the guide objects in their
// namespace, the App's service following the VirtualService, the series in
// Prometheus and the rollout started (preflight done), ready to be driven.
type Canary struct {
	Scenario
	Stack   *Stack
	Target  progressive.Target
	Service *promtest.Service
	Weights *Weights
	Plan    progressive.Plan
	Log     *slog.Logger

	store  *k8s.Store // uncounted, to observe the state
	router *istio.Router
	obs    *k8s.Provider
	stop   context.CancelFunc

	mu          sync.Mutex
	regressedAt time.Time
	childLog    syncBuffer
}

// Result is what a scenario left: the final state and record, the weights the
// VirtualService showed, and the timings.
type Result struct {
	Scenario string
	State    rollout.State
	Record   rollout.DecisionRecord
	Weights  []WeightChange
	// StartedAt is when the rollout started (rollout.Runner.Start), EndedAt
	// when its driver returned.
	StartedAt, EndedAt time.Time
	// RegressedAt is when the regression began (zero without one).
	RegressedAt time.Time
	// Ticks are the driver's Reconciles with their API requests (in-process
	// drivers only).
	Ticks []Tick
	// Restarts are the driver restarts of DriveWithKills.
	Restarts []Restart
}

// Prepare seeds the scenario's service in namespace ns and waits for its
// series in Prometheus. Close releases it.
func Prepare(ctx context.Context, s *Stack, ns string, sc Scenario) (*Canary, error) {
	log := s.Log.With(slog.String("scenario", sc.Name))
	c := &Canary{Scenario: sc, Stack: s, Target: progressive.Target{Namespace: ns, Name: sc.Name}, Log: log}
	if err := seed(ctx, s, c.Target); err != nil {
		return nil, err
	}
	cfg := s.Env.Config()
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.Weights = WatchWeights(wctx, ic, c.Target, log)
	if sc.RegressAt > 0 {
		c.Weights.OnChange(func(w float64, _ time.Time) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if w == sc.RegressAt && c.regressedAt.IsZero() {
				c.regressedAt = c.Service.SetCanary(sc.Regression)
				log.Info("regression injected", slog.Float64("weight", w))
			}
		})
	}
	c.mu.Lock()
	c.Service = s.App.Service(promtest.ServiceSpec{
		Namespace: ns, Name: sc.Name, CanaryVersion: CanaryVersion,
		CanaryShare: c.Weights.Canary, Canary: sc.Canary,
	})
	c.mu.Unlock()
	if c.obs, err = k8s.New(cfg, k8s.Options{NoEvents: true, Logger: log}); err != nil {
		c.Close()
		return nil, err
	}
	if c.store, err = c.obs.Store(ns); err != nil {
		c.Close()
		return nil, err
	}
	if c.router, err = istio.New(cfg, istio.Options{}); err != nil {
		c.Close()
		return nil, err
	}
	if c.Plan, err = Plan(c.Target); err != nil {
		c.Close()
		return nil, err
	}
	// Prometheus scrapes for the first time about 5 s after it started: the
	// rollout starts once the service's series are there.
	if err := s.Prom.WaitFor(ctx, fmt.Sprintf(`http_requests_total{namespace=%q,service=%q,version=%q}`, ns, sc.Name, promtest.StableVersion), time.Minute); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// seed creates the stable Deployment (its pods already labelled with the role
// the DestinationRule's stable subset selects) and a Service selecting both
// versions' pods, and waits until the Deployment rolled out.
func seed(ctx context.Context, s *Stack, t progressive.Target) error {
	cs := s.Env.Clientset()
	replicas := int32(2)
	labels := map[string]string{"app": t.Name}
	pod := map[string]string{"app": t.Name, k8s.RoleLabel: "stable"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: t.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pod},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + t.Name + ":v1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(t.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed Deployment %s: %w", t, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: t.Namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(t.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed Service %s: %w", t, err)
	}
	return shared.WaitRolledOut(ctx, cs, t.Namespace, t.Name, 2*time.Minute)
}

// Close stops following the VirtualService and takes the service off the
// App's traffic.
func (c *Canary) Close() {
	if c.stop != nil {
		c.stop()
	}
	if c.Service != nil {
		c.Service.SetCanary(promtest.Behavior{NoTraffic: true})
		c.Service.SetStable(promtest.Behavior{NoTraffic: true})
	}
	if c.obs != nil {
		c.obs.Close()
	}
}

// RegressedAt is when the regression was injected (zero until then).
func (c *Canary) RegressedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regressedAt
}

// driverConfig is the configuration of this canary's drivers.
func (c *Canary) driverConfig() DriverConfig {
	return DriverConfig{Prometheus: c.Stack.Prom.URL, Target: c.Target, Rollout: c.Plan.Name}
}

// Drive starts the rollout and drives it to its end in this process with
// kubernetes.RunWithLease (default lease timings).
func (c *Canary) Drive(ctx context.Context) (Result, error) {
	d, err := NewDriver(c.Stack.Env.Config(), c.driverConfig(), c.Log)
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	st, err := d.Runner.Start(ctx, c.Plan)
	if err != nil {
		return Result{}, err
	}
	res := Result{Scenario: c.Name, StartedAt: st.StartedAt}
	res.State, err = d.Run(ctx, st.ID)
	res.EndedAt = time.Now()
	res.Ticks = d.Ticks()
	c.finish(ctx, &res)
	if err != nil {
		return res, fmt.Errorf("rollout %s: %w", st.ID, err)
	}
	return res, nil
}

// finish fills in the parts of res read after the end.
func (c *Canary) finish(ctx context.Context, res *Result) {
	if st, err := c.store.Get(ctx, c.Plan.Name); err == nil {
		res.State = st
	}
	res.Record = res.State.Record
	res.RegressedAt = c.RegressedAt()
	// The last write of a rollback (or of the promotion, which puts the
	// route back on the stable subset, running the release by then) reaches
	// the watch a moment later.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = c.Weights.WaitFor(wctx, func(w float64) bool { return w == 0 })
	res.Weights = c.Weights.Changes()
}

// Routes reads the routes back from the VirtualService.
func (c *Canary) Routes(ctx context.Context) (progressive.Routes, error) {
	return c.router.GetRoutes(ctx, c.Target)
}

// State reads the rollout's stored state.
func (c *Canary) State(ctx context.Context) (rollout.State, error) {
	return c.store.Get(ctx, c.Plan.Name)
}

// RegressionToZero is how long after the regression began the
// VirtualService showed the canary at 0%.
func (r Result) RegressionToZero() (time.Duration, bool) {
	if r.RegressedAt.IsZero() {
		return 0, false
	}
	for _, w := range r.Weights {
		if w.Weight == 0 && !w.At.Before(r.RegressedAt) {
			return w.At.Sub(r.RegressedAt), true
		}
	}
	return 0, false
}

// Duration is from the rollout's start to its driver's return.
func (r Result) Duration() time.Duration { return r.EndedAt.Sub(r.StartedAt) }

// MaxWeight is the largest canary weight the VirtualService showed.
func (r Result) MaxWeight() float64 {
	m := 0.0
	for _, w := range r.Weights {
		m = math.Max(m, w.Weight)
	}
	return m
}

// FirstStep returns the measurements of the first analysis step: those
// taken before the first decision to advance or roll back.
func (r Result) FirstStep() []analysis.Measurement {
	end := time.Time{}
	for _, d := range r.Record.Decisions {
		if d.Kind == analyze && (d.Action == "advance" || d.Action == "rollback") {
			end = d.Time
			break
		}
	}
	var out []analysis.Measurement
	for _, m := range r.Record.Observations {
		if end.IsZero() || !m.Time.After(end) {
			out = append(out, m)
		}
	}
	return out
}

// syncBuffer collects child drivers' output.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
