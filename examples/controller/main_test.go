package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// The test binary's stack: one control plane with the CRD, one Prometheus
// scraping one test application every 500ms. Each test has its own
// namespace, its own operator (or two) watching only it, and keeps its state
// ConfigMaps and its leader election Lease there.
var (
	env     *testenv.Env
	app     *promtest.App
	promSrv *promtest.Server
	promErr error
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	// controller-runtime's global logger (its parts outside a manager log
	// there): warnings and errors only.
	crlog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	app = promtest.NewApp()
	defer app.Close()
	srv, err := promtest.New(promtest.Options{Targets: []string{app.Addr()}, ScrapeInterval: scrapeInterval})
	if err != nil {
		fmt.Fprintf(os.Stderr, "controller: Prometheus did not start: %v\n", err)
		if testenv.Required() {
			return 1
		}
		promErr = err
	} else {
		promSrv = srv
		defer srv.Stop()
	}
	return testenv.RunMain(m, testenv.Options{CRDs: []string{"config/crd"}}, &env)
}

// requireStack returns the control plane; the test skips (fails under
// CI=true) when it or Prometheus did not start.
func requireStack(t *testing.T) *testenv.Env {
	t.Helper()
	e := env.Require(t)
	if promSrv == nil {
		err := promErr
		if err == nil {
			err = errors.New("not started")
		}
		promtest.Check(t, err)
	}
	if promSrv.Stopped() {
		t.Fatalf("Prometheus has stopped:\n%s", promSrv.LogTail(40))
	}
	return e
}

// testLog keeps an operator's records and prints them when the test fails.
type testLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type runningOperator struct {
	*Operator
	registry *prom.Registry
	identity string
	stop     func() // cancels Start and waits for it
}

// startOperator starts an operator of ns with leader election on short
// timings (a Lease of 3s renewed every 500ms) and a registry of its own.
func startOperator(t *testing.T, e *testenv.Env, ns string) *runningOperator {
	return startNamedOperator(t, e, ns, "")
}

// startNamedOperator is startOperator with a controller name (default
// DefaultName), which names its Lease and its controller-runtime series.
func startNamedOperator(t *testing.T, e *testenv.Env, ns, name string) *runningOperator {
	t.Helper()
	return startOperatorWith(t, e, ns, name, nil)
}

// startOperatorWith is startNamedOperator with tweak applied to its
// rest.Config and Options first. The operator runs as the ServiceAccount of
// config/rbac.yaml (applyRBAC).
func startOperatorWith(t *testing.T, e *testenv.Env, ns, name string, tweak func(*rest.Config, *Options)) *runningOperator {
	t.Helper()
	log := &testLog{}
	reg := prom.NewRegistry()
	cfg := applyRBAC(t, e, ns)
	opts := Options{
		Name:               name,
		StateNamespace:     ns,
		Namespaces:         []string{ns},
		Prometheus:         promSrv.URL,
		LeaderElection:     true,
		LeaseDuration:      3 * time.Second,
		RenewDeadline:      2 * time.Second,
		RetryPeriod:        500 * time.Millisecond,
		Registry:           reg,
		PollInterval:       200 * time.Millisecond,
		BusyRetry:          time.Second,
		Logger:             slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		skipNameValidation: true,
	}
	if tweak != nil {
		tweak(cfg, &opts)
	}
	op, err := NewOperator(cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- op.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(time.Minute):
				t.Errorf("the operator did not stop")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("operator log:\n%s", log.String())
		}
	})
	return &runningOperator{Operator: op, registry: reg, stop: stop}
}

func waitElected(t *testing.T, op *runningOperator, within time.Duration) {
	t.Helper()
	select {
	case <-op.Elected():
	case <-time.After(within):
		t.Fatalf("not elected within %s", within)
	}
}

// seedTarget creates shop's checkout in ns, its traffic booked on the test
// application with the canary behaving as canary.
func seedTarget(t *testing.T, e *testenv.Env, ns string, canary promtest.Behavior) progressive.Target {
	t.Helper()
	reads, err := k8s.New(e.Config(), k8s.Options{NoEvents: true})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		reads.Close()
	})
	target := progressive.Target{Namespace: ns, Name: "checkout"}
	_, err = seed(ctx, reads.Clientset(), reads.Router(), app, target, "v2", canary)
	require.NoError(t, err)
	require.NoError(t, promSrv.WaitFor(ctx, fmt.Sprintf(`http_requests_total{namespace=%q,service="checkout",version=%q}`, ns, promtest.StableVersion), time.Minute))
	return target
}

func newClient(t *testing.T, e *testenv.Env) client.Client {
	t.Helper()
	scheme, err := NewScheme()
	require.NoError(t, err)
	cl, err := client.New(e.Config(), client.Options{Scheme: scheme})
	require.NoError(t, err)
	return cl
}

// rowLog reads the namespace's ProgressiveRollouts as kubectl get does,
// every 100ms, and keeps each distinct row of each object.
type rowLog struct {
	mu   sync.Mutex
	rows map[string][]row
	err  error
}

func watchRows(t *testing.T, e *testenv.Env, ns string) *rowLog {
	l := &rowLog{rows: map[string][]row{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, rows, err := getTable(ctx, e.Clientset(), ns)
			l.mu.Lock()
			if err != nil && ctx.Err() == nil {
				l.err = err
			}
			for _, r := range rows {
				seen := l.rows[r["Name"]]
				if n := len(seen); n == 0 || seen[n-1].String() != r.String() {
					l.rows[r["Name"]] = append(seen, r)
				}
			}
			l.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return l
}

// seen returns the distinct rows of name so far.
func (l *rowLog) seen(name string) []row {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]row(nil), l.rows[name]...)
}

// waitFor waits until name's latest row satisfies ok and returns it.
func (l *rowLog) waitFor(t *testing.T, name string, within time.Duration, ok func(row) bool) row {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if rows := l.seen(name); len(rows) > 0 && ok(rows[len(rows)-1]) {
			return rows[len(rows)-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	t.Fatalf("%s: condition not met within %s (table error: %v); rows seen:\n%s", name, within, err, formatRows(l.seen(name)))
	return nil
}

func formatRows(rows []row) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("  " + r.String() + "\n")
	}
	return b.String()
}

func ended(r row) bool { return controller.Phase(r["Phase"]).Terminal() }

func hasRow(rows []row, phase, weight, step string) bool {
	for _, r := range rows {
		if r["Phase"] == phase && r["Weight"] == weight && r["Step"] == step {
			return true
		}
	}
	return false
}

func getRollout(t *testing.T, cl client.Client, ns, name string) *v1alpha1.ProgressiveRollout {
	t.Helper()
	var pr v1alpha1.ProgressiveRollout
	require.NoError(t, cl.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &pr))
	return &pr
}

func conditionOf(pr *v1alpha1.ProgressiveRollout, typ string) metav1.Condition {
	for _, c := range pr.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// eventReasons are the reasons of the Events regarding name, once want are
// all there (Events are sent asynchronously).
func eventReasons(t *testing.T, e *testenv.Env, ns, name string, want ...string) []string {
	t.Helper()
	var reasons []string
	require.Eventually(t, func() bool {
		evs, err := e.Clientset().EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "regarding.name=" + name})
		if err != nil {
			return false
		}
		reasons = reasons[:0]
		have := map[string]bool{}
		for _, ev := range evs.Items {
			reasons = append(reasons, ev.Reason)
			have[ev.Reason] = true
		}
		for _, w := range want {
			if !have[w] {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond, "events of %s: want %v, have %v", name, want, reasons)
	return reasons
}

func deploymentImage(t *testing.T, e *testenv.Env, ns, name string) (string, int32) {
	t.Helper()
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas
}

// metricValue is a series' value in reg, or -1 when absent.
func metricValue(t *testing.T, reg *prom.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label || l.GetValue() != value {
					continue
				}
				if g := m.GetGauge(); g != nil {
					return g.GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// reconcileTimes reads controller-runtime's reconcile time histogram of
// controller name: how many reconciles, their mean, and the smallest bucket
// bound that holds every one of them (-1: above the largest bucket).
func reconcileTimes(t *testing.T, name string) (int, time.Duration, time.Duration) {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_time_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			mine := false
			for _, l := range m.GetLabel() {
				mine = mine || (l.GetName() == "controller" && l.GetValue() == name)
			}
			h := m.GetHistogram()
			n := h.GetSampleCount()
			if !mine || n == 0 {
				continue
			}
			slowest := time.Duration(-1)
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() == n {
					slowest = time.Duration(b.GetUpperBound() * float64(time.Second))
					break
				}
			}
			return int(n), time.Duration(h.GetSampleSum() / float64(n) * float64(time.Second)).Round(time.Millisecond), slowest
		}
	}
	t.Fatalf("no reconcile times of controller %s", name)
	return 0, 0, 0
}

// A healthy release: 25% then 50%, each soaked 2s under the error-rate and
// latency checks, then promoted; every phase is readable with kubectl get.
func TestCanaryPromoted(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{})
	// A controller name of its own: its reconcile-time series are this test's.
	const name = "progressive-rollouts-promoted"
	op := startNamedOperator(t, e, ns, name)
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)

	start := time.Now()
	require.NoError(t, cl.Create(context.Background(), newRollout(ns, "checkout-v2", "checkout", "v2", 2*time.Second)))
	final := rows.waitFor(t, "checkout-v2", 90*time.Second, ended)
	took := time.Since(start)
	n, mean, slowest := reconcileTimes(t, name)
	t.Logf("%d reconciles, mean %s, every one within %s (controller_runtime_reconcile_time_seconds)", n, mean, slowest)
	// The soaks are the runner's RequeueAfter, not a wait inside Reconcile.
	assert.Less(t, mean, time.Second, "reconciles return at once")
	seen := rows.seen("checkout-v2")
	t.Logf("promoted in %s; kubectl get showed:\n%s", took.Round(time.Millisecond), formatRows(seen))

	assert.Equal(t, "Succeeded", final["Phase"])
	assert.Equal(t, "0", final["Weight"])
	assert.Equal(t, "7/7", final["Step"])
	assert.Equal(t, "checkout", final["Target"])
	assert.Equal(t, "v2", final["Version"])
	assert.True(t, hasRow(seen, "Progressing", "25", "3/7"), "the soak at 25%% was visible")
	assert.True(t, hasRow(seen, "Progressing", "50", "5/7"), "the soak at 50%% was visible")

	pr := getRollout(t, cl, ns, "checkout-v2")
	assert.Equal(t, pr.Generation, pr.Status.ObservedGeneration)
	assert.NotEmpty(t, pr.Status.RolloutID)
	assert.NotNil(t, pr.Status.StartedAt)
	assert.Contains(t, pr.Status.Message, "serves all traffic")
	assert.Equal(t, metav1.ConditionTrue, conditionOf(pr, controller.ConditionReady).Status)
	assert.Equal(t, metav1.ConditionFalse, conditionOf(pr, controller.ConditionProgressing).Status)
	assert.Equal(t, metav1.ConditionFalse, conditionOf(pr, controller.ConditionDegraded).Status)
	require.NotNil(t, pr.Status.LastAnalysis)
	require.Len(t, pr.Status.LastAnalysis.Checks, 2)
	for _, c := range pr.Status.LastAnalysis.Checks {
		assert.Equal(t, "pass", c.Outcome, c.Message)
		assert.NotNil(t, c.Value, c.Name)
	}
	assert.Contains(t, pr.Finalizers, controller.DefaultFinalizer)

	img, replicas := deploymentImage(t, e, ns, "checkout")
	assert.Equal(t, image("checkout", "v2"), img, "stable took the release")
	assert.Equal(t, int32(stableReplicas), replicas)
	_, canaryReplicas := deploymentImage(t, e, ns, "checkout-canary")
	assert.Zero(t, canaryReplicas)

	rec, err := op.Runner().Record(context.Background(), pr.Status.RolloutID)
	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
	assert.Equal(t, 50.0, rec.Impact.MaxCanaryWeight)

	reasons := eventReasons(t, e, ns, "checkout-v2", "Started", "StepStarted", "TrafficShifted", "AnalysisPassed", "Succeeded")
	assert.NotContains(t, reasons, "AnalysisFailed")

	require.Eventually(t, func() bool {
		return metricValue(t, op.registry, "progressive_rollouts", "phase", "Succeeded") == 1
	}, 10*time.Second, 100*time.Millisecond, "the phase gauge counts the cached object")
	assert.Equal(t, 0.0, metricValue(t, op.registry, "progressive_rollouts", "phase", "Progressing"))
	assert.Equal(t, 1.0, metricValue(t, op.registry, "progressive_rollout_decisions_total", "decision", "promoted"))
	assert.Equal(t, 2.0, metricValue(t, op.registry, "progressive_rollout_decisions_total", "decision", "analysis_pass"))
}

// A canary answering 20% errors fails its first analysis, at 25%: all
// traffic goes back to stable and the status says why.
func TestRegressionRolledBack(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{ErrorPercent: 20})
	op := startOperator(t, e, ns)
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)

	start := time.Now()
	require.NoError(t, cl.Create(context.Background(), newRollout(ns, "checkout-v2", "checkout", "v2", 2*time.Second)))
	final := rows.waitFor(t, "checkout-v2", 90*time.Second, ended)
	seen := rows.seen("checkout-v2")
	t.Logf("rolled back in %s; kubectl get showed:\n%s", time.Since(start).Round(time.Millisecond), formatRows(seen))

	assert.Equal(t, "RolledBack", final["Phase"])
	assert.Equal(t, "0", final["Weight"])
	assert.True(t, hasRow(seen, "Progressing", "25", "3/7"))
	for _, r := range seen {
		assert.NotEqual(t, "50", r["Weight"], "never beyond the first weight")
	}
	pr := getRollout(t, cl, ns, "checkout-v2")
	assert.Contains(t, pr.Status.Message, "error-rate", "the status says why")
	deg := conditionOf(pr, controller.ConditionDegraded)
	assert.Equal(t, metav1.ConditionTrue, deg.Status)
	assert.Equal(t, string(controller.PhaseRolledBack), deg.Reason)
	assert.Contains(t, deg.Message, "error-rate")
	assert.Equal(t, metav1.ConditionFalse, conditionOf(pr, controller.ConditionReady).Status)
	require.NotNil(t, pr.Status.LastAnalysis)
	var failed bool
	for _, c := range pr.Status.LastAnalysis.Checks {
		if c.Name == "error-rate" {
			failed = c.Outcome == "fail" && c.Value != nil && *c.Value > 1
		}
	}
	assert.True(t, failed, "the last analysis shows the failing error rate: %+v", pr.Status.LastAnalysis)

	img, _ := deploymentImage(t, e, ns, "checkout")
	assert.Equal(t, image("checkout", "v1"), img, "stable untouched")
	eventReasons(t, e, ns, "checkout-v2", "AnalysisFailed", "RollbackStarted", "RolledBack")
	assert.Equal(t, 1.0, metricValue(t, op.registry, "progressive_rollout_decisions_total", "decision", "rolled_back"))
}

// A second ProgressiveRollout of a Deployment that one is releasing waits,
// with a condition naming the holder; it starts once the first is aborted
// through its annotation, and deleting it aborts it.
func TestSecondRolloutWaitsForTheTarget(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	target := seedTarget(t, e, ns, promtest.Behavior{})
	op := startOperator(t, e, ns)
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)
	ctx := context.Background()

	require.NoError(t, cl.Create(ctx, newRollout(ns, "checkout-v2", "checkout", "v2", time.Minute)))
	rows.waitFor(t, "checkout-v2", 60*time.Second, func(r row) bool { return r["Weight"] == "25" })
	holder := getRollout(t, cl, ns, "checkout-v2").Status.RolloutID
	require.NotEmpty(t, holder)

	require.NoError(t, cl.Create(ctx, newRollout(ns, "checkout-v3", "checkout", "v3", time.Minute)))
	rows.waitFor(t, "checkout-v3", 30*time.Second, func(r row) bool { return r["Phase"] == "Pending" })
	waiting := getRollout(t, cl, ns, "checkout-v3")
	c := conditionOf(waiting, controller.ConditionProgressing)
	assert.Equal(t, metav1.ConditionFalse, c.Status)
	assert.Equal(t, controller.ReasonTargetBusy, c.Reason)
	assert.Contains(t, c.Message, "held by rollout "+holder, "the condition names the holder")
	assert.Contains(t, waiting.Status.Message, holder)
	eventReasons(t, e, ns, "checkout-v3", controller.ReasonTargetBusy)

	// kubectl annotate progressiverollout checkout-v2 progressive.agentops.dev/command="abort: make way for v3"
	first := getRollout(t, cl, ns, "checkout-v2")
	patch := client.MergeFrom(first.DeepCopy())
	first.Annotations = map[string]string{v1alpha1.CommandAnnotation: "abort: make way for v3"}
	aborted := time.Now()
	require.NoError(t, cl.Patch(ctx, first, patch))
	rows.waitFor(t, "checkout-v2", 30*time.Second, func(r row) bool { return r["Phase"] == "Aborted" })
	t.Logf("aborted %s after the annotation", time.Since(aborted).Round(time.Millisecond))
	first = getRollout(t, cl, ns, "checkout-v2")
	assert.Equal(t, "abort: make way for v3", first.Status.ObservedCommand)
	assert.Contains(t, first.Status.Message, "make way for v3")

	rows.waitFor(t, "checkout-v3", 30*time.Second, func(r row) bool { return r["Phase"] == "Progressing" })
	second := getRollout(t, cl, ns, "checkout-v3")
	assert.Equal(t, metav1.ConditionTrue, conditionOf(second, controller.ConditionProgressing).Status)
	rows.waitFor(t, "checkout-v3", 60*time.Second, func(r row) bool { return r["Weight"] == "25" })

	// Deleting it aborts the rollout before the object goes.
	require.NoError(t, cl.Delete(ctx, second))
	require.Eventually(t, func() bool {
		err := cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-v3"}, &v1alpha1.ProgressiveRollout{})
		return apierrors.IsNotFound(err)
	}, 60*time.Second, 100*time.Millisecond)
	st, err := op.Runner().Get(ctx, second.Status.RolloutID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseAborted, st.Phase)
	assert.Contains(t, st.Rollback.Reason, "ProgressiveRollout "+ns+"/checkout-v3 was deleted")
	img, _ := deploymentImage(t, e, ns, "checkout")
	assert.Equal(t, image("checkout", "v1"), img)
	routes, err := op.provider.Router().GetRoutes(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight, "all traffic back on stable")
}

// Two replicas: the leader drives; when it stops mid-rollout, the other is
// elected and resumes the rollout from its stored state, doing no step twice.
func TestLeaderFailoverResumes(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{})
	a := startOperator(t, e, ns)
	waitElected(t, a, 30*time.Second)
	b := startOperator(t, e, ns)
	select {
	case <-b.Elected():
		t.Fatal("two leaders")
	case <-time.After(time.Second):
	}
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)
	ctx := context.Background()
	leaseHolder := func() string {
		l, err := e.Clientset().CoordinationV1().Leases(ns).Get(ctx, DefaultName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	first := leaseHolder()
	require.NotEmpty(t, first)

	require.NoError(t, cl.Create(ctx, newRollout(ns, "checkout-v2", "checkout", "v2", 3*time.Second)))
	rows.waitFor(t, "checkout-v2", 60*time.Second, func(r row) bool { return r["Weight"] == "25" })
	stopped := time.Now()
	a.stop()
	waitElected(t, b, 15*time.Second)
	t.Logf("the second replica was elected %s after the leader stopped", time.Since(stopped).Round(time.Millisecond))
	assert.NotEqual(t, first, leaseHolder())

	final := rows.waitFor(t, "checkout-v2", 90*time.Second, ended)
	t.Logf("kubectl get showed:\n%s", formatRows(rows.seen("checkout-v2")))
	assert.Equal(t, "Succeeded", final["Phase"])
	pr := getRollout(t, cl, ns, "checkout-v2")
	rec, err := b.Runner().Record(ctx, pr.Status.RolloutID)
	require.NoError(t, err)
	routes := map[string]int{}
	for _, d := range rec.Decisions {
		if d.Action == "route" {
			routes[d.Reason]++
		}
	}
	for reason, n := range routes {
		assert.Equal(t, 1, n, "route %q decided %d times", reason, n)
	}
	assert.Len(t, routes, 2, "25%% and 50%%: %v", routes)
	assert.Equal(t, 1.0, metricValue(t, b.registry, "progressive_rollout_decisions_total", "decision", "promoted"), "the new leader finished it")
	assert.Equal(t, -1.0, metricValue(t, a.registry, "progressive_rollout_decisions_total", "decision", "promoted"))
}
