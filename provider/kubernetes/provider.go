package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/kubeclient"
)

// Name is the provider name plans refer to: Workload.Name and Router.Name.
const Name = "kubernetes"

// DefaultFieldManager is the field manager of every write.
const DefaultFieldManager = "progressive"

// Defaults of Options.
const (
	DefaultPollInterval  = 100 * time.Millisecond
	DefaultSettleTimeout = 30 * time.Second
	DefaultReadyTimeout  = 5 * time.Minute
	DefaultBatchTimeout  = time.Minute
)

// Options configure a Provider. The zero value selects the documented defaults.
type Options struct {
	// FieldManager names the provider in managedFields. Default "progressive".
	FieldManager string
	// DryRun makes every write a server-side dry run: the apiserver validates and
	// admits it, nothing is stored. Waits that depend on a write are skipped, and
	// no Events are recorded. See the package documentation.
	DryRun bool
	// PollInterval between reads while a call waits for the cluster (endpoints to
	// settle, a batch to be created, pods to become ready). Default 100ms.
	PollInterval time.Duration
	// SettleTimeout bounds the wait, after a traffic change, for the EndpointSlices
	// to show it. Default 30s.
	SettleTimeout time.Duration
	// ReadyTimeout bounds the waits for pods inside one call: the stable
	// Deployment's rollout when it is adopted, and the canary pods a weight needs
	// before the Service may select them. Default 5m.
	ReadyTimeout time.Duration
	// BatchTimeout bounds RollTo's wait for the Deployment controller to create
	// the batch before the Deployment is paused again. Default 1m.
	BatchTimeout time.Duration
	// CanaryProgressDeadline, when positive, replaces the progressDeadlineSeconds
	// the canary Deployment copies from the stable one.
	CanaryProgressDeadline time.Duration
	// Recorder receives the provider's Events. Default: a recorder writing
	// core/v1 Events through the same rest.Config (stop it with Close).
	Recorder record.EventRecorder
	// NoEvents disables Events altogether.
	NoEvents bool
	// Logger for diagnostics. Default slog.Default().
	Logger *slog.Logger
	// LeaveServiceSelector keeps Adopt from narrowing the target's Service to
	// the stable pods: set it when a service mesh router (provider/istio,
	// which routes to subsets by RoleLabel) moves the traffic, since the mesh
	// needs the Service to select both sides' pods. The provider's own Router
	// switches traffic with that selector, so with this option it refuses to
	// run (progressive.ErrInvalid).
	LeaveServiceSelector bool
}

func (o Options) withDefaults() Options {
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = DefaultSettleTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Provider holds a Kubernetes client and hands out the adapters that share it: the
// Workload (also a progressive.Roller), the Router, the ConfigMap StateStore, Job
// hooks and Leases. It counts its own API requests (Stats), which is how the tests
// measure the writes a traffic change costs.
type Provider struct {
	cs          kubernetes.Interface
	opts        Options
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	stats       *counter
	// watches are the Deployment informers behind Workload.WatchStatus.
	watches statusWatches
	// written are the provider's Deployment writes, as answered, that the
	// informers have not shown yet (cached reads return those instead).
	written writtenDeployments
	// stores are the ConfigMap informers of the Stores.
	stores storeCaches
	// leases are the Lease informers of the Leases' waiting claims.
	leases leaseWatches
}

// Stats counts the API requests a Provider made. The informers of
// Workload.WatchStatus count as reads: their Lists, and each watch once when it
// opens, since a watch is one long request whatever it carries.
type Stats struct {
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
}

type counter struct{ reads, writes atomic.Int64 }

type countingTransport struct {
	next http.RoundTripper
	c    *counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		t.c.reads.Add(1)
	default:
		t.c.writes.Add(1)
	}
	return t.next.RoundTrip(r)
}

// New returns a Provider talking to the cluster of cfg. A cfg without a rate limit
// (QPS 0 and no RateLimiter) gets 200 requests per second with bursts of 400
// instead of client-go's 5: the provider's client is shared by every rollout it
// drives, and its own waits poll every PollInterval. A caller that sets QPS keeps
// theirs. Close stops its Event recorder and status informers.
func New(cfg *rest.Config, opts Options) (*Provider, error) {
	if cfg == nil {
		return nil, fmt.Errorf("kubernetes: rest.Config must not be nil: %w", errInvalid)
	}
	c := &counter{}
	// client-go's default (5/s, bursts of 10) would throttle the provider's
	// short polls; stay well below the apiserver's fairness limits anyway.
	cfg = rest.CopyConfig(kubeclient.WithDefaultRateLimit(cfg))
	counted := rest.CopyConfig(cfg)
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, c: c} })
	cs, err := kubernetes.NewForConfig(counted)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	p := newProvider(cs, opts)
	p.stats = c
	if !p.opts.NoEvents && p.opts.Recorder == nil {
		// Events go through a client of their own so that Stats count only the
		// provider's reads and writes of the objects it manages.
		events, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
		if err != nil {
			return nil, fmt.Errorf("kubernetes: events client: %w", err)
		}
		p.broadcaster = record.NewBroadcaster()
		p.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
		p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: p.opts.FieldManager})
	}
	return p, nil
}

// NewForClientset returns a Provider using cs (a fake clientset in unit tests, say).
// Its Stats stay zero, and it records Events only to Options.Recorder.
func NewForClientset(cs kubernetes.Interface, opts Options) *Provider {
	return newProvider(cs, opts)
}

func newProvider(cs kubernetes.Interface, opts Options) *Provider {
	p := &Provider{cs: cs, opts: opts.withDefaults(), stats: &counter{}}
	if !p.opts.NoEvents {
		p.recorder = p.opts.Recorder
	}
	return p
}

// Close stops the Event recorder New started, flushing what it can, the
// informers of Workload.WatchStatus, closing their subscriptions' channels, and
// the ConfigMap informers of its Stores (which read directly after it).
func (p *Provider) Close() {
	p.watches.close()
	p.stores.close()
	p.leases.close()
	if p.broadcaster != nil {
		p.broadcaster.Shutdown()
	}
}

// Clientset returns the client the provider uses.
func (p *Provider) Clientset() kubernetes.Interface { return p.cs }

// Stats returns the API requests made so far (zero for NewForClientset).
func (p *Provider) Stats() Stats {
	return Stats{Reads: p.stats.reads.Load(), Writes: p.stats.writes.Load()}
}

// Workload returns the Deployment workload (a progressive.Workload and a
// progressive.Roller).
func (p *Provider) Workload() *Workload { return &Workload{p: p} }

// Router returns the Service router (a progressive.TrafficRouter and a
// progressive.RouterInitializer).
func (p *Provider) Router() *Router { return &Router{p: p} }

// DryRun reports whether writes are server-side dry runs.
func (p *Provider) DryRun() bool { return p.opts.DryRun }

// DryRun reports whether the workload's writes are server-side dry runs, so
// that Runner.DryRun and the checklist's rollback rehearsal send them rather
// than only describe them (rollout.DryRunner).
func (w *Workload) DryRun() bool { return w.p.DryRun() }

// DryRun reports whether the router's writes are server-side dry runs
// (rollout.DryRunner).
func (r *Router) DryRun() bool { return r.p.DryRun() }

func (p *Provider) dryRun() []string {
	if p.opts.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func (p *Provider) createOpts() metav1.CreateOptions {
	return metav1.CreateOptions{FieldManager: p.opts.FieldManager, DryRun: p.dryRun()}
}

func (p *Provider) updateOpts() metav1.UpdateOptions {
	return metav1.UpdateOptions{FieldManager: p.opts.FieldManager, DryRun: p.dryRun()}
}

func (p *Provider) patchOpts() metav1.PatchOptions {
	return metav1.PatchOptions{FieldManager: p.opts.FieldManager, DryRun: p.dryRun()}
}

func (p *Provider) applyOpts() metav1.ApplyOptions {
	return metav1.ApplyOptions{FieldManager: p.opts.FieldManager, Force: true, DryRun: p.dryRun()}
}

// event records an Event on obj unless events are off or this is a dry run.
func (p *Provider) event(obj runtime.Object, typ, reason, format string, args ...any) {
	if p.recorder == nil || p.opts.DryRun || obj == nil {
		return
	}
	p.recorder.Eventf(obj, typ, reason, format, args...)
}

// poll calls cond every PollInterval until it reports done, returns an error, or
// timeout passes (then it returns the last "not yet" reason as the error).
//
// Under progressive.AllowPending (the runner's Reconcile) it checks once and
// answers "not yet" with a progressive.PendingError instead of waiting: the
// caller comes back later, and a controller's worker is never held for the
// minutes pods may take. The action that preceded the wait was done and is
// not repeated by the next call; the caller bounds the total wait.
func (p *Provider) poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (done bool, why string, err error)) error {
	if progressive.PendingAllowed(ctx) {
		done, why, err := cond(ctx)
		switch {
		case err != nil && !isTransient(err):
			return err
		case err != nil:
			return progressive.Pending(p.opts.PollInterval, "%s", err.Error())
		case !done:
			return progressive.Pending(p.opts.PollInterval, "%s", why)
		}
		return nil
	}
	var why string
	err := wait.PollUntilContextTimeout(ctx, p.opts.PollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		done, w, err := cond(ctx)
		if err != nil && !isTransient(err) {
			return false, err
		}
		if err != nil {
			w = err.Error()
		}
		why = w
		return done, nil
	})
	if err != nil && ctx.Err() == nil && wait.Interrupted(err) {
		return fmt.Errorf("%s after %s: %w", why, timeout, errTransient)
	}
	return err
}
