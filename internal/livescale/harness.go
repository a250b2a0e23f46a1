package livescale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Defaults of Options.
const (
	DefaultN              = 100
	DefaultStableReplicas = 2
	DefaultCanaryReplicas = 1
	DefaultSoak           = 10 * time.Second
	DefaultInterval       = 10 * time.Second
	DefaultWindow         = "10s"
	DefaultStepWeight     = 10
	DefaultMaxWeight      = 50
	// DefaultRPS is each service's request rate: at 10% the canary serves 30
	// requests a second, 300 in a 10s window, above the 101 that
	// metrics.App.ErrorRate(1) needs to tell one error from a regression (at
	// promtest's 100 requests a second a 10% canary never has enough).
	DefaultRPS     = 300
	DefaultTimeout = 10 * time.Minute
	// StableVersion and CanaryVersion are the releases: the Deployments start
	// at the first, every rollout promotes the second.
	StableVersion = "v1"
	CanaryVersion = "v2"
)

// TestenvOptions are the control plane's options for the harness: the Istio
// CRDs, and a controller manager whose client may send 200 requests per
// second instead of its default 20, so that the Deployment and ReplicaSet
// controllers keep up with a hundred targets on two cores (the harness
// measures the runner, not the controllers: readiness is timed by a watch).
func TestenvOptions() testenv.Options {
	return testenv.Options{
		ModuleCRDs:            []testenv.ModuleCRD{testenv.IstioCRDs()},
		ControllerManagerArgs: []string{"--kube-api-qps=200", "--kube-api-burst=400"},
	}
}

// Options configure Run. Config, App and Prometheus are required.
type Options struct {
	// Config reaches the control plane (testenv.Env.Config). Its rate limit is
	// not used for the runner's clients: see QPS.
	Config *rest.Config
	// App is the application Prometheus scrapes; Run adds one Service per
	// rollout to it.
	App *promtest.App
	// Prometheus scrapes App (every second: promtest's default).
	Prometheus *promtest.Server
	// Namespace holds every target and the state store. Default: a new
	// namespace livescale-<random>, left in place.
	Namespace string
	// N is the number of concurrent rollouts. Default 100.
	N int
	// StableReplicas and CanaryReplicas are each target's pods. Default 2 and 1.
	StableReplicas, CanaryReplicas int
	// Soak is each weight's analysis time, Interval the checks' interval and
	// Window their rate() range. Default 10s, 10s, "10s".
	Soak, Interval time.Duration
	Window         string
	// StepWeight and MaxWeight make the weights (10, 20, ..., 50). Default 10, 50.
	StepWeight, MaxWeight float64
	// RPS is each service's request rate in the App. Default DefaultRPS.
	RPS float64
	// QPS and Burst, when QPS is positive, are the rate limit of the runner's
	// clients (the kubernetes provider's and the istio router's). Zero leaves
	// it to the providers' defaults, as a program built with
	// clientcmd.BuildConfigFromFlags gets (the testenv's 100/200 is removed).
	QPS   float32
	Burst int
	// InconclusiveLimit, when positive, replaces the checks' default (3): a
	// Prometheus sharing two cores with the control plane and 100 services can
	// miss scrapes for longer than three intervals under the race detector, a
	// gap in the test bed rather than in the canaries.
	InconclusiveLimit int
	// PollInterval and RetryBackoff are the runner's (rollout.Options). Zero
	// keeps the runner's defaults.
	PollInterval, RetryBackoff time.Duration
	// ProviderPollInterval is the kubernetes provider's (k8s.Options). Zero
	// keeps its default.
	ProviderPollInterval time.Duration
	// MemoryStore keeps the states in a rollout.MemoryStore instead of the
	// kubernetes provider's ConfigMaps: an experiment that tells the store's
	// share of the lag (its requests and their throttling) from the rest.
	MemoryStore bool
	// Timeout bounds the rollouts, from the first Start. Default 10m.
	Timeout time.Duration
	// Logger receives the harness' progress and the runner's diagnostics.
	// Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.N <= 0 {
		o.N = DefaultN
	}
	if o.StableReplicas <= 0 {
		o.StableReplicas = DefaultStableReplicas
	}
	if o.CanaryReplicas <= 0 {
		o.CanaryReplicas = DefaultCanaryReplicas
	}
	if o.Soak <= 0 {
		o.Soak = DefaultSoak
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Window == "" {
		o.Window = DefaultWindow
	}
	if o.StepWeight <= 0 {
		o.StepWeight = DefaultStepWeight
	}
	if o.MaxWeight <= 0 {
		o.MaxWeight = DefaultMaxWeight
	}
	if o.RPS <= 0 {
		o.RPS = DefaultRPS
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Report is what Run measured.
type Report struct {
	N, Promoted int
	// Failed lists the rollouts that were not promoted, with why.
	Failed []string
	// Lags are every step's lag against its plan (see Schedule);
	// FirstMeasurements the analysis steps' first measurements against theirs.
	Lags, FirstMeasurements []StepLag
	// Problems are the steps that could not be compared with their plan.
	Problems []string
	Lag      Distribution
	ByKind   []KindDistribution
	// FirstMeasurement is the distribution of FirstMeasurements' lags.
	FirstMeasurement Distribution

	// Setup is the time to create and roll out the targets; Wall the time
	// from the first Start to the last rollout's end.
	Setup, Wall time.Duration
	// Requests are the runner's API requests (every client the kubernetes
	// provider and the istio router made from the counted rest.Config, Events
	// included) during Wall; Writes those that were not reads.
	Requests, Writes int64
	// RequestsPerSecond is Requests over Wall; PeakRequestsPerSecond the most
	// in one second.
	RequestsPerSecond, PeakRequestsPerSecond float64
	// RSS is the process' resident set at the end, PeakRSS the largest sampled
	// during the rollouts (every second), ProcessPeakRSS the kernel's VmHWM
	// (the whole process' life, setup included).
	RSS, PeakRSS, ProcessPeakRSS int64
	// Throttled counts the process' requests that waited more than 10 ms in
	// client-go's rate limiter during Wall; Throttle is their wait by verb and
	// resource. APILatency is the round trip of the runner's requests (from
	// the counted transport: the apiserver's time, without the throttling).
	Throttled            int64
	Throttle, APILatency []OpStats
	// Calls are the runner's store and Prometheus calls, timed.
	Calls []OpStats
	// Settings describe the run in one line.
	Settings string
}

// Run creates Options.N targets in one namespace, then drives one canary
// rollout on each, all at once, with one rollout.Runner (runner.Run in a
// goroutine per rollout) sharing one kubernetes provider (the Workload, with
// LeaveServiceSelector), one Istio router (creating each target's
// VirtualService and DestinationRule), one ConfigMap store and one Prometheus
// source, and measures every step's start against the plan. An error means
// the harness could not run; rollouts that failed are in Report.Failed.
func Run(ctx context.Context, opts Options) (Report, error) {
	o := opts.withDefaults()
	var rep Report
	if o.Config == nil || o.App == nil || o.Prometheus == nil {
		return rep, fmt.Errorf("livescale: Options.Config, App and Prometheus are required: %w", progressive.ErrInvalid)
	}
	registerClientGoMetrics()
	log := o.Logger

	// Setup goes through a client of its own, not counted.
	setupCfg := rest.CopyConfig(o.Config)
	setupCfg.QPS, setupCfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(setupCfg)
	if err != nil {
		return rep, fmt.Errorf("livescale: setup client: %w", err)
	}
	ns := o.Namespace
	if ns == "" {
		ns = fmt.Sprintf("livescale-%d", time.Now().UnixMilli()%1_000_000)
	}
	setupStart := time.Now()
	if err := ensureNamespace(ctx, cs, ns); err != nil {
		return rep, err
	}
	names := make([]string, o.N)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%03d", i)
	}
	if err := createTargets(ctx, cs, ns, names, o.StableReplicas); err != nil {
		return rep, err
	}
	if err := waitRolledOut(ctx, cs, ns, o.N, 3*time.Minute); err != nil {
		return rep, err
	}
	rep.Setup = time.Since(setupStart)
	log.Info("livescale: targets rolled out", "n", o.N, "namespace", ns, "took", rep.Setup.Round(time.Millisecond))

	// The readiness a waiting step waits for, as a watch sees it.
	watch := newReadinessWatch(cs, ns, o.CanaryReplicas, o.StableReplicas)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := watch.start(wctx); err != nil {
		return rep, err
	}

	// The runner's clients, counted.
	runCfg := rest.CopyConfig(o.Config)
	runCfg.QPS, runCfg.Burst, runCfg.RateLimiter = o.QPS, o.Burst, nil
	if o.QPS <= 0 {
		runCfg.QPS, runCfg.Burst = 0, 0
	}
	runCfg, counter, apiLatency := Count(runCfg)
	provider, err := k8s.New(runCfg, k8s.Options{LeaveServiceSelector: true, PollInterval: o.ProviderPollInterval, Logger: log})
	if err != nil {
		return rep, fmt.Errorf("livescale: kubernetes provider: %w", err)
	}
	defer provider.Close()
	var store rollout.StateStore
	if o.MemoryStore {
		store = rollout.NewMemoryStore()
	} else if store, err = provider.Store(ns); err != nil {
		return rep, fmt.Errorf("livescale: store: %w", err)
	}
	router, err := istio.New(runCfg, istio.Options{Create: true})
	if err != nil {
		return rep, fmt.Errorf("livescale: istio router: %w", err)
	}
	src, err := prometheus.New(prometheus.Options{Address: o.Prometheus.URL, Timeout: 5 * time.Second})
	if err != nil {
		return rep, fmt.Errorf("livescale: prometheus source: %w", err)
	}
	calls := &Timings{}
	rec := NewRecorder()
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{provider.Workload()},
			Metrics:   []progressive.MetricSource{timedSource{MetricSource: src, t: calls}},
		},
		Store:        timedStore{StateStore: store, t: calls},
		Observers:    []rollout.Observer{rec},
		Logger:       log,
		PollInterval: o.PollInterval,
		RetryBackoff: o.RetryBackoff,
	})
	if err != nil {
		return rep, fmt.Errorf("livescale: runner: %w", err)
	}

	app := metrics.App{Window: o.Window}
	checks := []progressive.Check{app.ErrorRate(1), app.LatencyP95(500)}
	for i := range checks {
		checks[i].Interval = o.Interval
		checks[i].InconclusiveLimit = o.InconclusiveLimit
	}
	plans := make([]progressive.Plan, o.N)
	for i, name := range names {
		target := progressive.Target{Namespace: ns, Name: name}
		plan, err := strategy.Canary{
			StepWeight: o.StepWeight, MaxWeight: o.MaxWeight, Soak: o.Soak,
			Replicas: o.CanaryReplicas, Checks: checks,
		}.Plan(target, progressive.Release{Version: CanaryVersion, Image: image(name, CanaryVersion)})
		if err != nil {
			return rep, fmt.Errorf("livescale: plan of %s: %w", name, err)
		}
		plans[i] = plan
		id := plan.Name
		o.App.Service(promtest.ServiceSpec{Namespace: ns, Name: name, CanaryVersion: CanaryVersion, RPS: o.RPS,
			CanaryShare: func() float64 { return rec.Weight(id) }})
	}
	if err := o.Prometheus.WaitFor(ctx, fmt.Sprintf(`http_requests_total{namespace=%q,service=%q}`, ns, names[len(names)-1]), 30*time.Second); err != nil {
		return rep, fmt.Errorf("livescale: %w", err)
	}
	storeName := "ConfigMap store"
	if o.MemoryStore {
		storeName = "memory store (experiment)"
	}
	rep.Settings = fmt.Sprintf("N=%d, %d+%d pods each, weights %g..%g step %g, soak %s, checks every %s over [%s], runner poll %s, client QPS %s, %s",
		o.N, o.StableReplicas, o.CanaryReplicas, o.StepWeight, o.MaxWeight, o.StepWeight, o.Soak, o.Interval, o.Window,
		durOr(o.PollInterval, rollout.DefaultPollInterval), qpsString(o.QPS, o.Burst), storeName)
	log.Info("livescale: starting rollouts", "settings", rep.Settings)

	// The rollouts, all at once.
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	calls.Reset()
	clientGo.throttle.Reset()
	apiLatency.Reset()
	throttledBefore := clientGo.throttled.Load()
	reqBefore, writesBefore := counter.Requests(), counter.Writes()
	sampler := startSampler(counter)
	start := time.Now()
	results := make([]error, o.N)
	var wg sync.WaitGroup
	for i := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = drive(rctx, runner, plans[i])
		}()
	}
	wg.Wait()
	rep.Wall = time.Since(start)
	rep.PeakRequestsPerSecond, rep.PeakRSS = sampler.stop()
	rep.Requests, rep.Writes = counter.Requests()-reqBefore, counter.Writes()-writesBefore
	rep.RequestsPerSecond = float64(rep.Requests) / rep.Wall.Seconds()
	rep.Throttled = clientGo.throttled.Load() - throttledBefore
	rep.Throttle, rep.APILatency, rep.Calls = clientGo.throttle.Stats(), apiLatency.Stats(), calls.Stats()
	if rep.RSS, rep.ProcessPeakRSS, err = RSS(); err != nil {
		log.Warn("livescale: no RSS", "err", err)
	}

	// Compare every rollout with its plan.
	vars := analysis.Vars{Namespace: ns, CanaryVersion: CanaryVersion, StableVersion: promtest.StableVersion}
	rep.N = o.N
	for i, plan := range plans {
		id := plan.Name
		tl := rec.Timeline(id)
		if err := results[i]; err != nil {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s: %v", id, err))
		} else {
			rep.Promoted++
		}
		vars.Service = plan.Target.Name
		lags, first, problems := Schedule(id, plan, tl, watch.get(plan.Target.Name), vars)
		rep.Lags = append(rep.Lags, lags...)
		rep.FirstMeasurements = append(rep.FirstMeasurements, first...)
		rep.Problems = append(rep.Problems, problems...)
	}
	rep.Lag = Distribute(lagsOf(rep.Lags))
	rep.ByKind = ByKind(rep.Lags)
	rep.FirstMeasurement = Distribute(lagsOf(rep.FirstMeasurements))
	log.Info("livescale: done", "promoted", rep.Promoted, "n", rep.N, "wall", rep.Wall.Round(time.Millisecond), "lag", rep.Lag.String())
	return rep, nil
}

// drive starts one rollout and runs it to its end; an error says why it was
// not promoted.
func drive(ctx context.Context, runner *rollout.Runner, plan progressive.Plan) error {
	if _, err := runner.Start(ctx, plan); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	st, err := runner.Run(ctx, plan.Name)
	if err != nil {
		return fmt.Errorf("run: %w (phase %s, step %d)", err, st.Phase, st.Step.Index)
	}
	if st.Phase != rollout.PhaseSucceeded {
		reason := st.HeldReason
		if st.Rollback != nil {
			reason = st.Rollback.Reason
		}
		return fmt.Errorf("ended %s: %s", st.Phase, reason)
	}
	return nil
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func qpsString(qps float32, burst int) string {
	if qps <= 0 {
		return "providers' default"
	}
	return fmt.Sprintf("%g/%d", qps, burst)
}

func image(name, version string) string { return "registry.example/" + name + ":" + version }

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("livescale: namespace %s: %w", ns, err)
	}
	for {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("livescale: namespace %s: waiting for its default ServiceAccount: %w", ns, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createTargets creates each target's Deployment (pods labelled with the role
// the DestinationRule's stable subset selects, so adopting them restarts
// nothing) and its Service (selecting both sides, as a mesh needs), eight at a
// time.
func createTargets(ctx context.Context, cs kubernetes.Interface, ns string, names []string, replicas int) error {
	sem := make(chan struct{}, 8)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = createTarget(ctx, cs, ns, name, int32(replicas))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// The stable Deployment's selector leaves the role label out (the pods carry
// it). A selector with RoleLabel=stable, which provider/kubernetes' adopt
// accepts, makes its Workload.Status list the ReplicaSets by that selector and
// so never find the canary's: the deploy step then waits for its ReadyTimeout
// (10 minutes) and rolls back. That is a bug of provider/kubernetes
// (Workload.Status, see the package's report), not a choice of this harness.
func createTarget(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) error {
	labels := map[string]string{"app": name, k8s.RoleLabel: "stable"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image(name, StableVersion),
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("livescale: Deployment %s/%s: %w", ns, name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("livescale: Service %s/%s: %w", ns, name, err)
	}
	return nil
}

// waitRolledOut waits until n Deployments of ns have rolled out.
func waitRolledOut(ctx context.Context, cs kubernetes.Interface, ns string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("livescale: list Deployments: %w", err)
		}
		done := 0
		for _, d := range list.Items {
			st := d.Status
			if st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == *d.Spec.Replicas && st.Replicas == st.UpdatedReplicas && st.ReadyReplicas == st.Replicas {
				done++
			}
		}
		if done >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("livescale: %d of %d Deployments rolled out after %s", done, n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readinessWatch watches the ReplicaSets of a namespace and remembers, per
// target (the pods' app label), when its canary's ReplicaSet first had the
// canary's pods ready, and when the stable side's ReplicaSet of the promoted
// release first had all the stable pods: what the deploy and promote steps
// wait for, the moment the cluster showed it.
type readinessWatch struct {
	cs                     kubernetes.Interface
	ns                     string
	canaryWant, stableWant int32

	mu    sync.Mutex
	ready map[string]Readiness
}

func newReadinessWatch(cs kubernetes.Interface, ns string, canary, stable int) *readinessWatch {
	return &readinessWatch{cs: cs, ns: ns, canaryWant: int32(canary), stableWant: int32(stable), ready: map[string]Readiness{}}
}

func (w *readinessWatch) start(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(w.cs, 0, informers.WithNamespace(w.ns))
	inf := f.Apps().V1().ReplicaSets().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.see(obj) },
		UpdateFunc: func(_, obj any) { w.see(obj) },
	}); err != nil {
		return fmt.Errorf("livescale: watch ReplicaSets: %w", err)
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("livescale: watch ReplicaSets: %v did not sync", typ)
		}
	}
	return nil
}

func (w *readinessWatch) see(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	now := time.Now()
	name := rs.Labels["app"]
	role := rs.Labels[k8s.RoleLabel]
	version := rs.Labels[k8s.VersionLabel]
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.ready[name]
	switch {
	case role == "canary" && r.CanaryReady.IsZero() && rs.Status.ReadyReplicas >= w.canaryWant:
		r.CanaryReady = now
	case role == "stable" && version == CanaryVersion && r.PromotedReady.IsZero() &&
		rs.Status.Replicas >= w.stableWant && rs.Status.ReadyReplicas >= w.stableWant:
		r.PromotedReady = now
	default:
		return
	}
	w.ready[name] = r
}

func (w *readinessWatch) get(name string) Readiness {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ready[name]
}

// sampler reads the request counter and the RSS every second.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	peak  float64
	rss   int64
}

func startSampler(c *Counter) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastAt := c.Requests(), time.Now()
		for {
			select {
			case <-s.stopc:
				return
			case now := <-t.C:
				n := c.Requests()
				s.peak = max(s.peak, float64(n-last)/now.Sub(lastAt).Seconds())
				last, lastAt = n, now
				if rss, _, err := RSS(); err == nil {
					s.rss = max(s.rss, rss)
				}
			}
		}
	}()
	return s
}

func (s *sampler) stop() (peakPerSecond float64, peakRSS int64) {
	close(s.stopc)
	<-s.done
	return s.peak, s.rss
}

// String prints the report's figures.
func (r Report) String() string {
	var b strings.Builder
	mb := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	fmt.Fprintf(&b, "%s\n", r.Settings)
	fmt.Fprintf(&b, "promoted %d of %d; setup %s; wall %s (first Start to last end)\n", r.Promoted, r.N, r.Setup.Round(time.Millisecond), r.Wall.Round(time.Millisecond))
	fmt.Fprintf(&b, "schedule lag, every step:   %s\n", r.Lag)
	for _, k := range r.ByKind {
		fmt.Fprintf(&b, "  after %-11s %s\n", k.Kind+":", k.Distribution)
	}
	fmt.Fprintf(&b, "first measurement lag:      %s\n", r.FirstMeasurement)
	fmt.Fprintf(&b, "API requests: %d (%d writes, %.0f per rollout), %.1f/s on average, %.0f/s at the busiest second; throttled (>10ms in client-go's limiter): %d\n",
		r.Requests, r.Writes, float64(r.Requests)/float64(max(r.N, 1)), r.RequestsPerSecond, r.PeakRequestsPerSecond, r.Throttled)
	fmt.Fprintf(&b, "RSS: %s at the end, %s at most during the rollouts, %s peak of the process (VmHWM)\n", mb(r.RSS), mb(r.PeakRSS), mb(r.ProcessPeakRSS))
	section := func(title string, ops []OpStats, n int) {
		if len(ops) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s\n", title)
		for _, s := range ops[:min(n, len(ops))] {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	section("runner calls (timed around the store and the Prometheus source):", r.Calls, 10)
	section("client-side throttling, by request:", r.Throttle, 8)
	section("API round trips of the runner's clients (no throttling), by request:", r.APILatency, 12)
	if w := Worst(r.Lags, 5); len(w) > 0 {
		fmt.Fprintf(&b, "largest lags:\n%s\n", indent(joinLags(w)))
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(&b, "not promoted (%d):\n%s\n", len(r.Failed), indent(strings.Join(r.Failed[:min(10, len(r.Failed))], "\n")))
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "not compared (%d):\n%s\n", len(r.Problems), indent(strings.Join(r.Problems[:min(10, len(r.Problems))], "\n")))
	}
	return b.String()
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
