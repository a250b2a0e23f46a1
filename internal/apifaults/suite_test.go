package apifaults_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/apifaults"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// The suite's choices, and why.
const (
	// faultRate is the share of the providers' requests that get a fault.
	faultRate = 0.10
	// clientTimeout is how long a Timeout fault holds a request: the client
	// timeout a program would set. Short, so that a run meets several
	// timeouts and still ends in seconds.
	clientTimeout = time.Second
	// checkInterval and soak keep a run to seconds: two or three
	// measurements per analysis step.
	checkInterval = time.Second
	soak          = 3 * time.Second
	// pollInterval is the runner's wait between readiness polls (the
	// workload's status notifications end most waits earlier anyway).
	pollInterval = 250 * time.Millisecond
	// retryBackoff doubles per attempt up to 8 times itself (2 s), so eight
	// attempts of a step span about 10 s: long enough for a passing fault to
	// pass, short enough for the suite's budget.
	retryBackoff = 250 * time.Millisecond
	// maxAttempts: a step's action makes 3 to 15 API requests, so at 10% an
	// attempt fails with a probability of 0.27 to 0.8; the default 5 attempts
	// would roll a healthy release back in up to a third of the steps with
	// many requests, 8 makes that a few percent (0.8^8 = 0.17 for the
	// largest steps, 0.27^8 < 0.0001 for the smallest).
	maxAttempts = 8
	// runBudget bounds a rollout from Start to its terminal phase: "never
	// stuck". The longest plan takes about 25 s without faults.
	runBudget = 150 * time.Second
)

// seedEnv replays a run: APIFAULTS_SEED=<seed printed by a failed run>.
const seedEnv = "APIFAULTS_SEED"

// scenario is one rollout of the suite.
type scenario struct {
	name string
	// mesh: the Istio router moves the traffic (the Workload leaves the
	// Service's selector alone); otherwise the kubernetes provider's Service
	// router, or no router at all for a rolling update.
	mesh    bool
	rolling bool
	// healthy: the canary's metrics pass; otherwise they fail once the
	// canary takes badFrom percent of the traffic.
	healthy bool
	badFrom float64
	// replicas of the stable Deployment.
	replicas int32
	plan     func(progressive.Target, progressive.Release) (progressive.Plan, error)
}

func errorRate() []progressive.Check {
	return []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: checkInterval}}
}

func scenarios() []scenario {
	canary := func(replicas int) func(progressive.Target, progressive.Release) (progressive.Plan, error) {
		return strategy.Canary{Weights: []float64{20, 50}, Soak: soak, Replicas: replicas, Checks: errorRate()}.Plan
	}
	blueGreen := strategy.BlueGreen{Replicas: 4, Monitor: soak, DecommissionDelay: time.Second, Checks: errorRate()}.Plan
	abTest := strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-canary", Value: "always"}}, Duration: soak, Checks: errorRate()}.Plan
	mirror := strategy.Mirror{Percent: 50, Duration: soak, Checks: errorRate()}.Plan
	rolling := strategy.Rolling{Replicas: 4, BatchSize: 2, MaxSurge: 2, MaxUnavailable: strategy.NoPods, Pace: 2 * time.Second, Checks: errorRate()}.Plan
	base := []scenario{
		{name: "istio-canary", mesh: true, badFrom: 50, replicas: 4, plan: canary(2)},
		{name: "istio-bluegreen", mesh: true, badFrom: 100, replicas: 4, plan: blueGreen},
		{name: "istio-abtest", mesh: true, replicas: 4, plan: abTest},
		{name: "istio-mirror", mesh: true, replicas: 4, plan: mirror},
		{name: "k8s-canary", badFrom: 50, replicas: 4, plan: canary(1)},
		{name: "k8s-bluegreen", badFrom: 100, replicas: 4, plan: blueGreen},
		{name: "k8s-rolling", rolling: true, replicas: 4, plan: rolling},
	}
	var out []scenario
	for _, s := range base {
		good, bad := s, s
		good.name, good.healthy = s.name+"-healthy", true
		bad.name = s.name + "-failing"
		out = append(out, good, bad)
	}
	return out
}

// TestRolloutsUnderAPIFaults runs every strategy the native Kubernetes
// provider and the Istio router support, each with a healthy and a failing
// release, with 10% of every provider request answered by the fault layer
// with any of its default kinds (409, 500, 503, a client timeout, a dropped
// watch), and checks that each rollout ends, its recorded weights add up to
// 100, a rollback completes, and the stored state matches the cluster.
func TestRolloutsUnderAPIFaults(t *testing.T) {
	runSuite(t, apifaults.DefaultKinds)
}

// TestRolloutsUnderTransientAPIFaults is the same suite without client
// timeouts: only the answers the providers classify as passing (500, 503),
// conflicts and dropped watches. It shows what holds apart from the
// timeouts' classification (see the package report).
func TestRolloutsUnderTransientAPIFaults(t *testing.T) {
	runSuite(t, []apifaults.Kind{apifaults.Conflict, apifaults.InternalError, apifaults.Unavailable, apifaults.WatchDrop})
}

// runSuite runs every scenario at once, each in its own namespace. The
// subtests run in goroutines rather than with t.Parallel, whose limit
// (-parallel, GOMAXPROCS by default: 2 here) would run them two by two.
func runSuite(t *testing.T, kinds []apifaults.Kind) {
	e := env.Require(t)
	base := uint64(1)
	if s := os.Getenv(seedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("$%s: %v", seedEnv, err)
		}
		base = v
	}
	start := time.Now()
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for _, s := range scenarios() {
		wg.Go(func() {
			t.Run(s.name, func(t *testing.T) {
				r := runScenario(t, e, s, kinds, base)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	t.Logf("fault kinds: %v; base seed %d", kinds, base)
	report(t, results, time.Since(start))
}

func seedFor(base uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return base ^ h.Sum64()
}

// result is what one run reports to the summary.
type result struct {
	name     string
	healthy  bool
	seed     uint64
	phase    rollout.Phase
	why      string // the rollback's cause, classified
	reason   string // the rollback reason as recorded
	took     time.Duration
	stats    apifaults.Stats
	restarts []string // errors Run returned before the rollout ended
	retries  int      // "retry" and "rollback-retry" decisions
	starts   int      // Start attempts
}

// recorder keeps the events a run needs for its assertions.
type recorder struct {
	mu     sync.Mutex
	routes []progressive.Routes
	errors []string
}

func (r *recorder) Observe(_ context.Context, e rollout.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Type {
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			r.routes = append(r.routes, *e.Routes)
		}
	case rollout.EventError:
		r.errors = append(r.errors, e.Message)
	}
}

// metrics answers error_rate: 0.2% while healthy, 5% (over the 1% limit)
// once a failing canary takes badFrom percent of the traffic.
type metrics struct {
	healthy bool
	badFrom float64

	mu     sync.Mutex
	weight float64
}

func (m *metrics) Name() string { return "fixed" }

func (m *metrics) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	if q.Expr != "error_rate" {
		return progressive.Result{}, fmt.Errorf("fixed metrics: unknown series %q: %w", q.Expr, progressive.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := 0.2
	if !m.healthy && m.weight >= m.badFrom {
		v = 5
	}
	return progressive.Result{Status: progressive.StatusValue, Value: v, Time: time.Now()}, nil
}

// Observe follows the canary's largest weight so far.
func (m *metrics) Observe(_ context.Context, e rollout.Event) {
	if e.Type == rollout.EventRoutesChanged && e.Routes != nil {
		m.mu.Lock()
		m.weight = math.Max(m.weight, e.Routes.CanaryWeight)
		m.mu.Unlock()
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const (
	oldImage = "registry.example/shop:v1"
	newImage = "registry.example/shop:v2"
)

func runScenario(t *testing.T, e *testenv.Env, s scenario, kinds []apifaults.Kind, base uint64) result {
	seed := seedFor(base, s.name)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	ctx := context.Background()
	res := result{name: s.name, healthy: s.healthy, seed: seed}
	t.Logf("seed %d (base %d; replay: %s=%d go test ./internal/apifaults -run '%s$')", seed, base, seedEnv, base, t.Name())
	seedApp(t, cs, ns, "shop", s.replicas)
	tg := progressive.Target{Namespace: ns, Name: "shop"}
	release := progressive.Release{Version: "v2", Image: newImage}

	inj := apifaults.New(apifaults.Options{Seed: seed, Rate: faultRate, Kinds: kinds, Timeout: clientTimeout})
	cfg := inj.Config(e.Config())
	p, err := k8s.New(cfg, k8s.Options{
		PollInterval: 50 * time.Millisecond, SettleTimeout: 20 * time.Second, ReadyTimeout: 60 * time.Second, BatchTimeout: 30 * time.Second,
		LeaveServiceSelector: s.mesh, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	store, err := p.Store(ns)
	if err != nil {
		t.Fatal(err)
	}
	var routers []progressive.TrafficRouter
	switch {
	case s.mesh:
		ir, err := istio.New(cfg, istio.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		routers = append(routers, ir)
	case !s.rolling:
		routers = append(routers, p.Router())
	}
	rec := &recorder{}
	m := &metrics{healthy: s.healthy, badFrom: s.badFrom}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   routers,
			Workloads: []progressive.Workload{p.Workload()},
			Metrics:   []progressive.MetricSource{m},
		},
		Store:        store,
		Observers:    []rollout.Observer{m, rec},
		Logger:       quietLogger(),
		PollInterval: pollInterval,
		RetryBackoff: retryBackoff,
		MaxAttempts:  maxAttempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.plan(tg, release)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := p.Lease(tg, k8s.LeaseOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Everything that checks the run reads the cluster without faults.
	clean, err := k8s.New(e.Config(), k8s.Options{PollInterval: 50 * time.Millisecond, LeaveServiceSelector: s.mesh, NoEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	cleanStore, err := clean.Store(ns)
	if err != nil {
		t.Fatal(err)
	}

	// Drive the rollout as a program under a supervisor would: Start until
	// the state is stored, then RunWithLease, started again whenever it
	// returns before the rollout ended.
	began := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, runBudget)
	defer cancel()
	for {
		res.starts++
		_, err := runner.Start(runCtx, plan)
		if err == nil || errors.Is(err, progressive.ErrConflict) {
			// ErrConflict: an earlier attempt's Create landed although its
			// answer was lost; the state is there to run.
			break
		}
		if progressive.IsInvalid(err) && !progressive.IsTransient(err) || runCtx.Err() != nil || res.starts >= 20 {
			t.Fatalf("start (attempt %d): %v", res.starts, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var st rollout.State
	for {
		st, err = k8s.RunWithLease(runCtx, lease, runner, plan.Name)
		if err == nil && st.Phase.Terminal() {
			break
		}
		if runCtx.Err() != nil {
			break
		}
		if err == nil {
			err = fmt.Errorf("SILENT: Run returned no error with the state it read back in phase %q", st.Phase)
		}
		res.restarts = append(res.restarts, err.Error())
		cur, gerr := cleanStore.Get(ctx, plan.Name)
		switch {
		case gerr != nil:
			t.Fatalf("read the stored state without faults: %v", gerr)
		case !cur.Phase.Terminal():
			t.Errorf("Run returned with the rollout %s at step %d (a program driving it once would leave it there): %v", cur.Phase, cur.Step.Index+1, err)
		default:
			t.Errorf("Run returned an error although the rollout ended (%s): %v", cur.Phase, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.took = time.Since(began)
	inj.SetEnabled(false)
	res.stats = inj.Stats()

	stored, err := cleanStore.Get(ctx, plan.Name)
	if err != nil {
		t.Fatalf("read the stored state without faults: %v", err)
	}
	res.phase = stored.Phase
	for _, d := range stored.Record.Decisions {
		if d.Action == "retry" || d.Action == "rollback-retry" {
			res.retries++
		}
	}
	if stored.Rollback != nil {
		res.reason = stored.Rollback.Reason
	}
	t.Logf("%s after %s: %s; Run restarted %d time(s); %d retries; %d Start attempt(s)", stored.Phase, res.took.Round(time.Millisecond), res.stats, len(res.restarts), res.retries, res.starts)

	// 1. Never stuck.
	if !stored.Phase.Terminal() {
		t.Errorf("STUCK: rollout not ended within %s: phase %s, step %d (%s); last decisions:\n%s", runBudget, stored.Phase, stored.Step.Index, stored.Step.LastError, lastDecisions(stored, 8))
		return res
	}
	// 2. Every routes read-back recorded adds up to 100.
	rec.mu.Lock()
	for i, r := range rec.routes {
		if math.Abs(r.StableWeight+r.CanaryWeight-100) > 1e-6 {
			t.Errorf("routes-changed event %d: stable %g + canary %g != 100", i, r.StableWeight, r.CanaryWeight)
		}
	}
	if a := stored.Applied.Routes; a != nil && math.Abs(a.StableWeight+a.CanaryWeight-100) > 1e-6 {
		t.Errorf("stored routes: stable %g + canary %g != 100", a.StableWeight, a.CanaryWeight)
	}
	rec.mu.Unlock()
	// 3. The outcome: a failing release rolls back; a healthy one promotes, or
	// rolls back only when a step failed transiently MaxAttempts times.
	res.why = classifyOutcome(stored)
	switch {
	case !s.healthy && stored.Phase != rollout.PhaseRolledBack:
		t.Errorf("a failing release ended %s, want rolled-back; decisions:\n%s", stored.Phase, lastDecisions(stored, 10))
	case !s.healthy && !strings.HasPrefix(res.why, "analysis failed") && !strings.HasPrefix(res.why, "retries exhausted"):
		t.Errorf("a failing release rolled back for another reason than its analysis or exhausted retries: %s\n%s", res.reason, lastDecisions(stored, 10))
	case s.healthy && stored.Phase == rollout.PhaseRolledBack && !strings.HasPrefix(res.why, "retries exhausted"):
		t.Errorf("a healthy release rolled back without exhausting its retries (%s): %s\n%s", res.why, res.reason, lastDecisions(stored, 12))
	case s.healthy && stored.Phase == rollout.PhaseRolledBack:
		t.Logf("healthy release rolled back after exhausting its retries: %s", res.reason)
	}
	if stored.Phase == rollout.PhaseAborted {
		t.Errorf("nobody aborted, yet the rollout ended aborted")
	}
	// 4. The stored state matches the cluster.
	checkCluster(t, e, clean, s, stored)
	return res
}

// classifyOutcome says why a rollout ended as it did: "promoted", "analysis
// failed", "retries exhausted: <step kind>" (a step failed transiently
// maxAttempts times), or "non-transient error: ..." (a step failed once on an
// error the runner does not retry).
func classifyOutcome(st rollout.State) string {
	if st.Phase == rollout.PhaseSucceeded {
		return "promoted"
	}
	if st.Rollback == nil {
		return string(st.Phase)
	}
	reason := st.Rollback.Reason
	switch {
	case strings.HasPrefix(reason, "analysis failed"):
		return "analysis failed"
	case strings.HasPrefix(reason, "step "):
		// "step 3 (setWeight) failed: ...": retried before?
		step := -1
		var kind string
		if _, err := fmt.Sscanf(reason, "step %d (%s", &step, &kind); err == nil {
			kind = strings.TrimSuffix(kind, ")")
		}
		retried := 0
		for _, d := range st.Record.Decisions {
			if d.Action == "retry" && d.Step == step-1 && strings.Contains(d.Reason, fmt.Sprintf("attempt %d of %d", maxAttempts-1, maxAttempts)) {
				retried++
			}
		}
		if retried > 0 {
			return "retries exhausted: " + kind
		}
		return "non-transient error: " + kind + ": " + errorKind(reason)
	}
	return "other: " + reason
}

// errorKind names the fault behind a step failure's message.
func errorKind(msg string) string {
	switch {
	case strings.Contains(msg, "injected timeout"):
		return "timeout"
	case strings.Contains(msg, "the object has been modified"), strings.Contains(msg, "conflict"):
		return "conflict"
	case strings.Contains(msg, "Internal error"):
		return "internal-error"
	case strings.Contains(msg, "unable to handle"):
		return "unavailable"
	}
	return "other"
}

func lastDecisions(st rollout.State, n int) string {
	ds := st.Record.Decisions
	if len(ds) > n {
		ds = ds[len(ds)-n:]
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  step %d %s: %s\n", d.Step, d.Action, d.Reason)
	}
	return b.String()
}

// checkCluster compares the stored state with the cluster, read without
// faults: the routes the state says are applied are the router's, the stable
// Deployment runs the release exactly when the state says it was promoted
// (or rolled in place to the end), and a canary is left with no pods.
func checkCluster(t *testing.T, e *testenv.Env, clean *k8s.Provider, s scenario, st rollout.State) {
	t.Helper()
	ctx := context.Background()
	cs := e.Clientset()
	tg := st.Plan.Target
	// Routes.
	switch {
	case s.mesh:
		ic, err := versioned.NewForConfig(e.Config())
		if err != nil {
			t.Fatal(err)
		}
		router, err := istio.NewForClients(ic, cs, istio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := router.GetRoutes(ctx, tg)
		switch {
		case apierrors.IsNotFound(err) && st.Applied.Routes == nil:
			// No route was ever written, nor the VirtualService created.
		case err != nil:
			t.Errorf("read the VirtualService without faults: %v", err)
		default:
			checkRoutes(t, "VirtualService", st.Applied.Routes, got)
			vs, err := ic.NetworkingV1().VirtualServices(tg.Namespace).Get(ctx, tg.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, route := range vs.Spec.GetHttp() {
				sum := int32(0)
				for _, d := range route.GetRoute() {
					sum += d.GetWeight()
				}
				if len(route.GetRoute()) > 1 && sum != 100 {
					t.Errorf("VirtualService route %q: weights add up to %d", route.GetName(), sum)
				}
			}
		}
	case !s.rolling:
		var got progressive.Routes
		var err error
		deadline := time.Now().Add(20 * time.Second)
		for {
			// The EndpointSlices may still be catching up with the last pods.
			got, err = clean.Router().GetRoutes(ctx, tg)
			if err == nil && routesMatch(st.Applied.Routes, got) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("read the Service's routes without faults: %v", err)
		} else {
			checkRoutes(t, "Service", st.Applied.Routes, got)
		}
	}
	// The stable Deployment's image.
	want := oldImage
	if st.Applied.Promoted || s.rolling && st.Phase == rollout.PhaseSucceeded {
		want = newImage
	}
	d, err := cs.AppsV1().Deployments(tg.Namespace).Get(ctx, tg.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("stable Deployment runs %s, want %s (state: phase %s, promoted %t)", got, want, st.Phase, st.Applied.Promoted)
	}
	if s.rolling && st.Phase == rollout.PhaseRolledBack && d.Spec.Paused {
		t.Errorf("a rolling update undone left the Deployment paused")
	}
	// The canary has no pods left, promoted or rolled back.
	if !s.rolling {
		c, err := cs.AppsV1().Deployments(tg.Namespace).Get(ctx, k8s.CanaryName(tg), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && !st.Applied.Deployed:
		case err != nil:
			t.Errorf("canary Deployment: %v (state: deployed %t)", err, st.Applied.Deployed)
		case c.Spec.Replicas == nil:
			t.Errorf("canary Deployment left with the default replicas after %s", st.Phase)
		case *c.Spec.Replicas != 0:
			t.Errorf("canary Deployment left with %d replicas after %s", *c.Spec.Replicas, st.Phase)
		}
	}
	if st.Phase == rollout.PhaseRolledBack && st.Rollback != nil {
		for _, a := range []string{"routes", "canary"} {
			if !slices.Contains(st.Rollback.Done, a) && (a == "routes" && st.Applied.Routes != nil || a == "canary" && st.Applied.Deployed) {
				t.Errorf("rolled back without the %s action done: %v", a, st.Rollback.Done)
			}
		}
	}
}

// routesMatch compares routes as the runner stores and the router reads them
// (no stored routes: the router must send nothing to the canary).
func routesMatch(stored *progressive.Routes, got progressive.Routes) bool {
	want := progressive.AllStable()
	if stored != nil {
		want = *stored
	}
	return math.Abs(want.StableWeight-got.StableWeight) < 1e-6 && math.Abs(want.CanaryWeight-got.CanaryWeight) < 1e-6 &&
		math.Abs(want.MirrorPercent-got.MirrorPercent) < 1e-6 && slices.Equal(want.Matches, got.Matches)
}

func checkRoutes(t *testing.T, what string, stored *progressive.Routes, got progressive.Routes) {
	t.Helper()
	if !routesMatch(stored, got) {
		t.Errorf("stored routes %+v, but the %s says %+v", stored, what, got)
	}
}

// seedApp creates the Deployment and the Service of the application, and
// waits until the Deployment rolled out.
func seedApp(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: oldImage}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.ObservedGeneration >= got.Generation && got.Status.AvailableReplicas == replicas && got.Status.UpdatedReplicas == replicas {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/%s not rolled out: %v", ns, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report logs the suite's figures.
func report(t *testing.T, results []result, wall time.Duration) {
	slices.SortFunc(results, func(a, b result) int { return strings.Compare(a.name, b.name) })
	var total apifaults.Stats
	outcomes := map[string]int{}
	restarts := map[string]int{}
	retries := 0
	var b strings.Builder
	for _, r := range results {
		total = total.Add(r.stats)
		outcomes[fmt.Sprintf("%s/%s", map[bool]string{true: "healthy", false: "failing"}[r.healthy], r.why)]++
		for _, msg := range r.restarts {
			restarts[restartCause(msg)]++
		}
		retries += r.retries
		fmt.Fprintf(&b, "  %-24s seed %-20d %-12s %-7s %-40s %4d requests %3d faults, %d retries, %d Run restarts\n",
			r.name, r.seed, r.phase, r.took.Round(100*time.Millisecond), r.why, r.stats.Requests, r.stats.Total(), r.retries, len(r.restarts))
	}
	t.Logf("apifaults suite: %d rollouts in %s (wall), fault rate %g%%\n%s", len(results), wall.Round(100*time.Millisecond), faultRate*100, b.String())
	t.Logf("requests and faults: %s", total)
	t.Logf("outcomes: %s", formatMap(outcomes))
	t.Logf("step and rollback retries: %d; Run returned early: %s", retries, formatMap(restarts))
}

func restartCause(msg string) string {
	switch {
	case strings.HasPrefix(msg, "SILENT"):
		return "no error, end not saved"
	case strings.Contains(msg, "save state") && strings.Contains(msg, "changed since version"):
		return "save-state conflict"
	case strings.Contains(msg, "save state"):
		return "save-state " + errorKind(msg)
	case strings.Contains(msg, "kubernetes store"):
		return "load-state " + errorKind(msg)
	}
	if strings.Contains(msg, ": conflict") {
		return "step conflict (provider)"
	}
	return errorKind(msg)
}

func formatMap(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
