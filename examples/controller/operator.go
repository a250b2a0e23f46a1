package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/go-logr/logr"
	prom "github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Defaults of Options.
const (
	DefaultName           = "progressive-rollouts"
	DefaultStateNamespace = "progressive-system"
	DefaultPollInterval   = time.Second
	DefaultConcurrency    = 4
	// Leader election timings: controller-runtime's defaults.
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// DefaultRetention is what the operator keeps of finished rollouts' states
// (a ConfigMap each, holding the decision record): the newest 10 of each
// Deployment, none older than 30 days. The ProgressiveRollouts themselves
// are left alone and keep their status; only `Runner.Record` of a pruned
// rollout is gone. Unfinished rollouts are never pruned.
var DefaultRetention = rollout.Retention{KeepPerTarget: 10, MaxAge: 30 * 24 * time.Hour}

// Options configure the operator. The zero value selects the documented
// defaults; Prometheus is required.
type Options struct {
	// Name is the controller's name, the reporting controller of its Events
	// and the name of its leader election Lease. Default DefaultName.
	Name string
	// StateNamespace holds the rollouts' state ConfigMaps and the leader
	// election Lease; it is created when missing. Default
	// DefaultStateNamespace.
	StateNamespace string
	// Namespaces limit the ProgressiveRollouts the operator watches.
	// Default: every namespace.
	Namespaces []string
	// Prometheus is the address of the Prometheus HTTP API the checks query.
	Prometheus string
	// LeaderElection makes the replicas of the operator elect one leader,
	// the only one that reconciles; a new leader resumes every rollout.
	LeaderElection bool
	// LeaseDuration, RenewDeadline and RetryPeriod time the election.
	// Defaults DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// MetricsAddr is where the manager serves /metrics (controller-runtime's
	// and the operator's). Default "0": not served.
	MetricsAddr string
	// Registry receives the operator's metrics. Default controller-runtime's
	// metrics.Registry, which the manager serves at MetricsAddr.
	Registry prom.Registerer
	// PollInterval is the runner's: the longest a rollout waits before it
	// is looked at again (readiness, a held rollout). Default
	// DefaultPollInterval.
	PollInterval time.Duration
	// BusyRetry is how often a ProgressiveRollout whose target another one
	// holds tries to start. Default controller.DefaultBusyRetry.
	BusyRetry time.Duration
	// Concurrency is how many ProgressiveRollouts are reconciled at the same
	// instant. Default DefaultConcurrency.
	Concurrency int
	// Logger receives the manager's and the runner's records. Default
	// slog.Default().
	Logger *slog.Logger
	// Retention is applied to the state store by the leader, at its start
	// and every PruneEvery (controller.Pruner). Default DefaultRetention;
	// NoPrune keeps everything.
	Retention rollout.Retention
	NoPrune   bool
	// PruneEvery is the time between two prunes. Default
	// controller.DefaultPruneEvery.
	PruneEvery time.Duration

	// skipNameValidation lets the tests run several operators of one Name in
	// one process, as replicas would run in several pods.
	skipNameValidation bool
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.StateNamespace == "" {
		o.StateNamespace = DefaultStateNamespace
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.Registry == nil {
		o.Registry = crmetrics.Registry
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retention == (rollout.Retention{}) {
		o.Retention = DefaultRetention
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = controller.DefaultPruneEvery
	}
	return o
}

// Operator is the ProgressiveRollout controller in a controller-runtime
// manager.
type Operator struct {
	opts     Options
	mgr      manager.Manager
	provider *k8s.Provider
	runner   *rollout.Runner
}

// NewScheme returns the scheme of the operator's client: client-go's types
// and the ProgressiveRollout API. (A function, not a package variable: each
// manager gets its own.)
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	return s, nil
}

// NewOperator wires the operator for the cluster of cfg: the manager (with
// leader election when asked), the Kubernetes provider (Workload, Router by
// replica ratio, the ConfigMap state store), Prometheus, the runner and the
// controller. Start runs it.
func NewOperator(cfg *rest.Config, opts Options) (*Operator, error) {
	opts = opts.withDefaults()
	if opts.Prometheus == "" {
		return nil, fmt.Errorf("operator: a Prometheus address is required: %w", progressive.ErrInvalid)
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	var cacheOpts cache.Options
	if len(opts.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	// The manager's cache also watches the state ConfigMaps (and nothing
	// else of ConfigMaps), each reduced to its rollout's id, version and
	// whether it holds a command: a command stored by another program takes
	// effect at once (controller.StateHandler).
	cacheOpts.ByObject = map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{opts.StateNamespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{k8s.ManagedByLabel: k8s.DefaultFieldManager, k8s.ComponentLabel: stateComponent}),
			Transform:  summarizeState,
		},
	}
	lease, renew, retry := opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod
	mopts := manager.Options{
		Scheme: scheme,
		// The manager logs through the program's slog handler; the runner
		// logs through the manager's logger (controller.Logger below).
		Logger:                        logr.FromSlogHandler(opts.Logger.Handler()),
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        "0",
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              opts.Name,
		LeaderElectionNamespace:       opts.StateNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
	}
	if opts.skipNameValidation {
		skip := true
		mopts.Controller = config.Controller{SkipNameValidation: &skip}
	}
	mgr, err := manager.New(cfg, mopts)
	if err != nil {
		return nil, fmt.Errorf("operator: manager: %w", err)
	}
	p, err := k8s.New(cfg, k8s.Options{Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("operator: kubernetes provider: %w", err)
	}
	o := &Operator{opts: opts, mgr: mgr, provider: p}
	if err := o.wire(); err != nil {
		p.Close()
		return nil, err
	}
	return o, nil
}

func (o *Operator) wire() error {
	store, err := o.provider.Store(o.opts.StateNamespace)
	if err != nil {
		return fmt.Errorf("operator: state store: %w", err)
	}
	source, err := prometheus.New(prometheus.Options{Address: o.opts.Prometheus})
	if err != nil {
		return fmt.Errorf("operator: prometheus: %w", err)
	}
	recorder := o.mgr.GetEventRecorder(o.opts.Name)
	m := newMetrics(o.mgr.GetClient())
	if err := m.register(o.opts.Registry); err != nil {
		return fmt.Errorf("operator: metrics: %w", err)
	}
	o.runner, err = rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{o.provider.Router()},
			Workloads: []progressive.Workload{o.provider.Workload()},
			Metrics:   []progressive.MetricSource{source},
		},
		Store:        store,
		Observers:    []rollout.Observer{controller.Events(recorder), m},
		Logger:       controller.Logger(o.mgr.GetLogger()),
		PollInterval: o.opts.PollInterval,
		RetryBackoff: o.opts.PollInterval,
	})
	if err != nil {
		return fmt.Errorf("operator: runner: %w", err)
	}
	r, err := controller.NewReconciler(o.mgr.GetClient(), o.runner, controller.Binding[*v1alpha1.ProgressiveRollout](binding{}),
		controller.Options[*v1alpha1.ProgressiveRollout]{Recorder: recorder, BusyRetry: o.opts.BusyRetry})
	if err != nil {
		return fmt.Errorf("operator: reconciler: %w", err)
	}
	if !o.opts.NoPrune {
		pruner, err := controller.NewPruner(o.runner, controller.PrunerOptions{
			Retention: o.opts.Retention, Every: o.opts.PruneEvery, Logger: o.mgr.GetLogger().WithName("pruner"),
		})
		if err != nil {
			return fmt.Errorf("operator: %w", err)
		}
		if err := o.mgr.Add(pruner); err != nil {
			return fmt.Errorf("operator: pruner: %w", err)
		}
	}
	states := crsource.Kind(o.mgr.GetCache(), &corev1.ConfigMap{}, controller.StateHandler(r, stateChange))
	return r.SetupWithManager(o.mgr, o.opts.Name, crcontroller.Options{MaxConcurrentReconciles: o.opts.Concurrency}, states)
}

// Start creates the state namespace when missing and runs the manager until
// ctx ends; a leader releases its Lease on the way out, so another replica
// takes over at once. It stops the provider's informers when it returns.
// Under config/rbac.yaml, which creates the namespace, the operator may not
// create namespaces: that refusal is not an error.
func (o *Operator) Start(ctx context.Context) error {
	defer o.provider.Close()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.opts.StateNamespace}}
	if _, err := o.provider.Clientset().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("operator: state namespace %s: %w", o.opts.StateNamespace, err)
	}
	if err := o.mgr.Start(ctx); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	return nil
}

// Elected is closed once this replica leads (at once without leader
// election).
func (o *Operator) Elected() <-chan struct{} { return o.mgr.Elected() }

// Runner is the operator's runner (for Record and commands).
func (o *Operator) Runner() *rollout.Runner { return o.runner }

// binding is the ProgressiveRollout's controller.Binding, controller.Commander
// and controller.Ender.
type binding struct{}

var (
	_ controller.Commander[*v1alpha1.ProgressiveRollout] = binding{}
	_ controller.Ender[*v1alpha1.ProgressiveRollout]     = binding{}
)

// Ended reports whether the status says rollout id ended: its state may have
// been pruned since, and the rollout must not start again.
func (binding) Ended(obj *v1alpha1.ProgressiveRollout, id string) bool {
	switch controller.Phase(obj.Status.Phase) {
	case controller.PhaseSucceeded, controller.PhaseRolledBack, controller.PhaseAborted:
		return obj.Status.RolloutID == id
	}
	return false
}

// Plan builds a strategy.Canary plan from the spec. Every problem is an
// error wrapping progressive.ErrInvalid, which the Reconciler reports as
// Invalid.
func (binding) Plan(_ context.Context, obj *v1alpha1.ProgressiveRollout) (progressive.Plan, error) {
	spec := obj.Spec
	ns := spec.Target.Namespace
	if ns == "" {
		ns = obj.Namespace
	}
	if ns != obj.Namespace {
		// A namespaced resource must not move another namespace's traffic:
		// whoever may create one here would otherwise reach every namespace.
		return progressive.Plan{}, fmt.Errorf("spec.target.namespace %q: a ProgressiveRollout releases a Deployment of its own namespace (%s): %w", ns, obj.Namespace, progressive.ErrInvalid)
	}
	var problems progressive.Problems
	soak := duration(&problems, "spec.canary.soak", spec.Canary.Soak)
	checks := make([]progressive.Check, 0, len(spec.Checks))
	for i, c := range spec.Checks {
		field := fmt.Sprintf("spec.checks[%d]", i)
		checks = append(checks, progressive.Check{
			Name:     c.Name,
			Query:    c.Query,
			Min:      c.Min,
			Max:      c.Max,
			Interval: duration(&problems, field+".interval", c.Interval),
			Window:   duration(&problems, field+".window", c.Window),
		})
	}
	if err := problems.Err(); err != nil {
		return progressive.Plan{}, err
	}
	plan, err := strategy.Canary{
		StepWeight: float64(spec.Canary.StepWeight),
		MaxWeight:  float64(spec.Canary.MaxWeight),
		Soak:       soak,
		Replicas:   int(spec.Canary.Replicas),
		Checks:     checks,
	}.Plan(progressive.Target{Namespace: ns, Name: spec.Target.Name}, progressive.Release{Version: spec.Release.Version, Image: spec.Release.Image})
	if err != nil {
		return progressive.Plan{}, err
	}
	plan.Reason = fmt.Sprintf("%s %s/%s", v1alpha1.Kind, obj.Namespace, obj.Name)
	return plan, nil
}

func duration(p *progressive.Problems, field, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.Add(field, s, "must be a non-negative Go duration such as 15m or 500ms")
		return 0
	}
	return d
}

// SetStatus copies the rollout's status into the object. Times are cut to
// seconds and weights to hundredths, as they read back from the API: an
// unchanged rollout then leaves the object unchanged and costs no write.
func (binding) SetStatus(obj *v1alpha1.ProgressiveRollout, s controller.Status) {
	st := &obj.Status
	st.ObservedGeneration = s.ObservedGeneration
	st.RolloutID = s.RolloutID
	st.Phase = string(s.Phase)
	st.Step = s.StepText()
	st.StepName = s.StepName
	st.CanaryWeight = nil
	if s.State != nil {
		w := math.Round(s.CanaryWeight*100) / 100
		st.CanaryWeight = &w
	}
	st.Message = s.Message
	st.StartedAt = nil
	if !s.StartedAt.IsZero() {
		t := metav1.NewTime(s.StartedAt).Rfc3339Copy()
		st.StartedAt = &t
	}
	st.LastAnalysis = nil
	if a := s.Analysis; a != nil {
		out := &v1alpha1.Analysis{Time: metav1.NewTime(a.Time).Rfc3339Copy()}
		for _, c := range a.Checks {
			out.Checks = append(out.Checks, v1alpha1.CheckResult{Name: c.Name, Outcome: string(c.Outcome), Value: c.Value, Message: c.Reason})
		}
		st.LastAnalysis = out
	}
	if s.Command != "" {
		st.ObservedCommand = s.Command
	}
	controller.SetConditions(&st.Conditions, s.Conditions)
}

// Command reads v1alpha1.CommandAnnotation: "abort", or "abort: reason".
func (binding) Command(obj *v1alpha1.ProgressiveRollout) (controller.Command, bool) {
	v := obj.Annotations[v1alpha1.CommandAnnotation]
	if v == "" || v == obj.Status.ObservedCommand {
		return controller.Command{}, false
	}
	kind, reason, _ := strings.Cut(v, ":")
	return controller.Command{
		Kind:   rollout.CommandKind(strings.ToLower(strings.TrimSpace(kind))),
		Reason: strings.TrimSpace(reason),
		ID:     v,
	}, true
}
