// Package k8sshared holds what the native Kubernetes examples (k8s-canary,
// k8s-rolling, k8s-bluegreen) share: connecting to a cluster or starting the
// test control plane (internal/testenv), creating the guide's Deployment and
// Service, a small fixed MetricSource (Prometheus is not wired into these
// examples), a router wrapper that measures each traffic change, and printing.
package k8sshared

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
)

// Flags are the connection flags every example takes.
type Flags struct {
	Kubeconfig string
	Testenv    bool
	Namespace  string
}

// FailLabel, set to "fail" on a pod, makes the local control plane (with
// FailStage installed, as Connect does) fail it with exit code 1: how the
// examples give a Job a failing migration without a real container.
const FailLabel = testenv.CustomStageLabel

// FailStage is the kwok Stage behind FailLabel.
const FailStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: example-pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + FailLabel + `"]'
      operator: 'In'
      values: ['fail']
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 1
            finishedAt: {{ $now | Quote }}
            reason: Error
            message: "migration 0042_split_orders failed: relation already exists"
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
`

// TestenvOptions are the options Connect starts the local control plane with.
func TestenvOptions() testenv.Options { return testenv.Options{ExtraStages: []string{FailStage}} }

// Register adds --kubeconfig, --testenv and --namespace to fs.
func (f *Flags) Register(fs *flag.FlagSet, defaultNamespace string) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster to run against (default $KUBECONFIG)")
	fs.BoolVar(&f.Testenv, "testenv", false, "start a throwaway control plane (internal/testenv: etcd, kube-apiserver, controller manager, scheduler and kwok on 127.0.0.1) and run against it; the first start builds the binaries (minutes), later starts take seconds")
	fs.StringVar(&f.Namespace, "namespace", defaultNamespace, "namespace to create the example objects and run in")
}

// Connect returns the rest.Config to use and a function that releases it (stops
// the control plane with --testenv).
func (f *Flags) Connect(ctx context.Context, log io.Writer) (*rest.Config, func(), error) {
	if f.Testenv {
		start := time.Now()
		fmt.Fprintln(log, "starting a local control plane (internal/testenv)...")
		env, err := testenv.Start(ctx, TestenvOptions())
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(log, "control plane ready in %s (start %s); kubeconfig %s\n", time.Since(start).Round(time.Millisecond), env.StartDuration().Round(time.Millisecond), env.Kubeconfig())
		return env.Config(), func() { _ = env.Stop() }, nil
	}
	if f.Kubeconfig == "" {
		return nil, nil, errors.New("no cluster: pass --kubeconfig (or set $KUBECONFIG), or --testenv to start a local control plane")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", f.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	return cfg, func() {}, nil
}

// Service describes a seed service: a Deployment and a Service selecting app=Name.
type Service struct {
	Namespace, Name string
	Replicas        int32
	Image           string
}

// Target is the service as a rollout target.
func (s Service) Target() progressive.Target {
	return progressive.Target{Namespace: s.Namespace, Name: s.Name}
}

// Ensure creates the namespace, the Deployment and the Service when missing and
// waits until the Deployment has rolled out.
func Ensure(ctx context.Context, cs kubernetes.Interface, s Service) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", s.Namespace, err)
	}
	for {
		if _, err := cs.CoreV1().ServiceAccounts(s.Namespace).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	labels := map[string]string{"app": s.Name}
	replicas := s.Replicas
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: s.Image,
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(s.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("deployment %s/%s: %w", s.Namespace, s.Name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
		Spec: corev1.ServiceSpec{
			Selector: maps.Clone(labels),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cs.CoreV1().Services(s.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service %s/%s: %w", s.Namespace, s.Name, err)
	}
	return WaitRolledOut(ctx, cs, s.Namespace, s.Name, 2*time.Minute)
}

// WaitRolledOut waits until the Deployment finished its rollout.
func WaitRolledOut(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := d.Status
		if st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == *d.Spec.Replicas && st.Replicas == st.UpdatedReplicas && st.AvailableReplicas == st.UpdatedReplicas {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deployment %s/%s not rolled out after %s: %+v", ns, name, timeout, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Metrics is a small fixed MetricSource: each role answers each series with a
// value set in advance (Set changes it), standing in for Prometheus.
type Metrics struct {
	mu     sync.Mutex
	values map[progressive.Role]map[string]float64
}

// NewMetrics returns a source where both roles answer the given series values.
func NewMetrics(values map[string]float64) *Metrics {
	return &Metrics{values: map[progressive.Role]map[string]float64{
		progressive.Stable: maps.Clone(values),
		progressive.Canary: maps.Clone(values),
	}}
}

// Name implements progressive.MetricSource.
func (m *Metrics) Name() string { return "fixed" }

// Set makes role answer v for series.
func (m *Metrics) Set(role progressive.Role, series string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[role][series] = v
}

// Query implements progressive.MetricSource: the expression is a series name.
func (m *Metrics) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[q.Role][q.Expr]
	if !ok {
		return progressive.Result{}, fmt.Errorf("fixed metrics: no series %q: %w", q.Expr, progressive.ErrInvalid)
	}
	return progressive.Result{Status: progressive.StatusValue, Value: v, Time: time.Now()}, nil
}

// Change is one traffic change a MeasuredRouter saw.
type Change struct {
	Asked, Achieved progressive.Routes
	Writes          int64
	Took            time.Duration
	At              time.Time
}

// MeasuredRouter wraps the provider's router and measures each SetRoutes: the API
// writes it cost and how long it took until the EndpointSlices showed it.
type MeasuredRouter struct {
	*k8s.Router
	Provider *k8s.Provider
	Out      io.Writer

	mu      sync.Mutex
	changes []Change
	// underway is a change the router answered "not yet" (the runner asks
	// again): its writes and start count toward the call that completes it.
	underway *Change
}

var _ progressive.RouterInitializer = (*MeasuredRouter)(nil)

// SetRoutes implements progressive.TrafficRouter.
func (m *MeasuredRouter) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	before := m.Provider.Stats().Writes
	start := time.Now()
	err := m.Router.SetRoutes(ctx, t, routes)
	writes := m.Provider.Stats().Writes - before
	m.mu.Lock()
	if u := m.underway; u != nil && u.Asked.CanaryWeight == routes.CanaryWeight {
		writes += u.Writes
		start = u.At
	}
	m.underway = nil
	if progressive.IsPending(err) {
		m.underway = &Change{Asked: routes, Writes: writes, At: start}
	}
	m.mu.Unlock()
	took := time.Since(start)
	if progressive.IsPending(err) {
		fmt.Fprintf(m.Out, "           router: canary %g%% under way after %s (%d writes so far): %v\n", routes.CanaryWeight, took.Round(time.Millisecond), writes, err)
		return err
	}
	if err != nil {
		fmt.Fprintf(m.Out, "           router: canary %g%% failed after %s (%d writes): %v\n", routes.CanaryWeight, took.Round(time.Millisecond), writes, err)
		return err
	}
	got, gerr := m.Router.GetRoutes(ctx, t)
	if gerr == nil {
		fmt.Fprintf(m.Out, "           router: asked canary %g%%, achieved %.4g%%: %d API write(s), endpoints settled in %s\n",
			routes.CanaryWeight, got.CanaryWeight, writes, took.Round(time.Millisecond))
	}
	m.mu.Lock()
	m.changes = append(m.changes, Change{Asked: routes, Achieved: got, Writes: writes, Took: took, At: start})
	m.mu.Unlock()
	return nil
}

// Finalize implements progressive.TrafficRouter, measured like SetRoutes.
func (m *MeasuredRouter) Finalize(ctx context.Context, t progressive.Target) error {
	return m.SetRoutes(ctx, t, progressive.AllStable())
}

// Changes returns the traffic changes so far.
func (m *MeasuredRouter) Changes() []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Change(nil), m.changes...)
}

// Progress prints the rollout's events as they happen, through the library's
// printer (rollout/progress, stamped in seconds since the start, as these
// examples are about how fast things happen), and remembers when a rollback was
// decided and when traffic was back on stable.
type Progress struct {
	Out io.Writer

	once    sync.Once
	printer *progress.Printer

	mu                    sync.Mutex
	rollbackAt, recovered time.Time
}

// Observe implements rollout.Observer.
func (p *Progress) Observe(ctx context.Context, e rollout.Event) {
	p.once.Do(func() {
		// These options are fixed and valid: New only refuses invalid ones.
		p.printer, _ = progress.New(progress.Options{Out: p.Out, Relative: true})
	})
	if p.printer != nil {
		p.printer.Observe(ctx, e)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case rollout.EventRollbackStarted:
		p.rollbackAt = e.Time
	case rollout.EventRoutesChanged:
		if !p.rollbackAt.IsZero() && p.recovered.IsZero() && e.Routes != nil && e.Routes.CanaryWeight == 0 {
			p.recovered = e.Time
		}
	}
}

// RollbackLatency is the time from the rollback decision to the router reporting
// all traffic back on stable (zero when there was no rollback of traffic).
func (p *Progress) RollbackLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rollbackAt.IsZero() || p.recovered.IsZero() {
		return 0
	}
	return p.recovered.Sub(p.rollbackAt)
}

// PrintRecord prints a decision record in a few lines.
func PrintRecord(out io.Writer, rec rollout.DecisionRecord) {
	im := rec.Impact
	fmt.Fprintf(out, "\nDecision record %s: %s in %s", rec.ID, im.Outcome, time.Duration(im.Duration).Round(time.Millisecond))
	if im.RollbackDuration != nil {
		fmt.Fprintf(out, ", back on stable %s after the decision", time.Duration(*im.RollbackDuration).Round(time.Millisecond))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  context:   %s\n", rec.Context.Reason)
	for _, d := range rec.Decisions {
		fmt.Fprintf(out, "  decision:  [%s] %s: %s\n", d.Kind, d.Action, d.Reason)
	}
	for _, l := range rec.Learning {
		fmt.Fprintf(out, "  learning:  %s\n", l)
	}
}

// QuietLogger discards the runner's diagnostics (the Progress observer prints).
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// RunPlan gives plan a unique name (each run of an example is a new rollout),
// prints its explanation, starts it and drives it to its end under the
// target's Lease, so that a second copy of the program waits instead of
// driving the same rollout.
func RunPlan(ctx context.Context, p *k8s.Provider, runner *rollout.Runner, plan *progressive.Plan, out io.Writer) (rollout.State, error) {
	suffix := "-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	// The id stays a DNS label (at most 63 characters) with the suffix.
	plan.Name = strings.TrimRight(plan.Name[:min(len(plan.Name), 63-len(suffix))], "-") + suffix
	fmt.Fprintf(out, "%s\n", rollout.Explain(*plan))
	lease, err := p.Lease(plan.Target, k8s.LeaseOptions{})
	if err != nil {
		return rollout.State{}, err
	}
	if _, err := runner.Start(ctx, *plan); err != nil {
		return rollout.State{}, err
	}
	return k8s.RunWithLease(ctx, lease, runner, plan.Name)
}
