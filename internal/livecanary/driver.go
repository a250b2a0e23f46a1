package livecanary

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// The plan every scenario runs: Flagger's 10% steps up to 50%, 10 s at each.
const (
	StepWeight = 10.0
	MaxWeight  = 50.0
	Soak       = 10 * time.Second
	// Interval of the error-rate check; {{.Interval}} renders as 10s, so each
	// measurement looks back 10 s.
	Interval = 10 * time.Second
	// MaxErrorPercent is the error-rate threshold: one error among the ~100
	// requests a 10 s window holds at 10% of 100 req/s reads 1%.
	MaxErrorPercent = 2.0
	// CanaryVersion labels the canary's release and its series.
	CanaryVersion = "v2"
)

// ErrorRateQuery is the error rate written the way Flagger writes it: the
// numerator's series (code 5xx) exists only after the canary's first error.
const ErrorRateQuery = `sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}]))` +
	` / sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}])) * 100`

// SamplesQuery counts the requests behind one error-rate measurement.
const SamplesQuery = `sum(increase(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`

// ErrorRateCheck is the scenarios' only check.
func ErrorRateCheck() progressive.Check {
	return progressive.Check{
		Name:     "error-rate",
		Query:    ErrorRateQuery,
		Max:      progressive.Float(MaxErrorPercent),
		Interval: Interval,
		Samples:  &progressive.SampleSize{Query: SamplesQuery, Min: progressive.MinSamplesFor(MaxErrorPercent, 100)},
	}
}

// Plan is the canary plan of target: 10, 20, 30, 40, 50% for 10 s each,
// then promotion.
func Plan(target progressive.Target) (progressive.Plan, error) {
	return strategy.Canary{
		StepWeight: StepWeight,
		MaxWeight:  MaxWeight,
		Soak:       Soak,
		Checks:     []progressive.Check{ErrorRateCheck()},
	}.Plan(target, progressive.Release{Version: CanaryVersion, Image: "registry.example/" + target.Name + ":" + CanaryVersion})
}

// LeaseName is the name of the Lease guarding a target's rollout.
func LeaseName(target progressive.Target) string { return "progressive-" + target.Name }

// ShortLease are the lease timings of the restart scenario: a dead driver's
// lease expires at most 3 s after its last renewal.
func ShortLease() k8s.LeaseOptions {
	return k8s.LeaseOptions{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}
}

// DriverConfig is what a driver needs to run a target's rollout; a child
// driver process receives it as JSON.
type DriverConfig struct {
	// Kubeconfig is the path of the cluster's kubeconfig (child processes only).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Prometheus is the address of the Prometheus HTTP API.
	Prometheus string             `json:"prometheus"`
	Target     progressive.Target `json:"target"`
	// Rollout is the id of the rollout to drive.
	Rollout string `json:"rollout"`
	// LeaseDuration, RenewDeadline and RetryPeriod of the Lease; zero: the
	// provider's defaults.
	LeaseDuration time.Duration `json:"leaseDuration,omitempty"`
	RenewDeadline time.Duration `json:"renewDeadline,omitempty"`
	RetryPeriod   time.Duration `json:"retryPeriod,omitempty"`
	// LogQueries prints a QueryMarker line with the wall time of every
	// Prometheus query to stderr: a measurement taken from history after a
	// restart is dated when it was due, and the restart scenario needs when
	// the new driver really queried.
	LogQueries bool `json:"logQueries,omitempty"`
}

// QueryMarker starts the line a driver with LogQueries prints per query,
// followed by the wall time in RFC 3339 with nanoseconds.
const QueryMarker = "livecanary-query-at "

// loggedSource prints the wall time of each query (DriverConfig.LogQueries).
type loggedSource struct {
	progressive.MetricSource
	out io.Writer
}

func (l loggedSource) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	fmt.Fprintf(l.out, "%s%s\n", QueryMarker, time.Now().Format(time.RFC3339Nano))
	return l.MetricSource.Query(ctx, q)
}

// Driver is one process' way to drive rollouts of a target, wired exactly as
// a user would wire it: provider/kubernetes for the canary Deployment (the
// mesh routes, so it leaves the Service's selector alone), the ConfigMap
// StateStore and the Lease; provider/istio for the VirtualService (created
// with its DestinationRule); provider/prometheus for the metrics; and
// rollout.New's defaults for the rest.
type Driver struct {
	Provider *k8s.Provider
	Runner   *rollout.Runner
	Lease    *k8s.Lease
	// Counter counts the driver's API requests.
	Counter *Counter

	ticks *tickStore
}

// NewDriver builds a driver on cfg. Observers receive the runner's events.
func NewDriver(cfg *rest.Config, dc DriverConfig, log *slog.Logger, observers ...rollout.Observer) (*Driver, error) {
	counted, counter := Counted(cfg)
	p, err := k8s.New(counted, k8s.Options{LeaveServiceSelector: true, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	router, err := istio.New(counted, istio.Options{Create: true})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("istio router: %w", err)
	}
	src, err := prometheus.New(prometheus.Options{Address: dc.Prometheus, Logger: log})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("prometheus source: %w", err)
	}
	store, err := p.Store(dc.Target.Namespace)
	if err != nil {
		p.Close()
		return nil, err
	}
	ticks := &tickStore{StateStore: store, c: counter}
	var metrics progressive.MetricSource = src
	if dc.LogQueries {
		metrics = loggedSource{MetricSource: src, out: os.Stderr}
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Metrics:   []progressive.MetricSource{metrics},
			Workloads: []progressive.Workload{p.Workload()},
		},
		Store:     ticks,
		Observers: observers,
		Logger:    log,
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	lease, err := p.Lease(dc.Target, k8s.LeaseOptions{
		Name:          LeaseName(dc.Target),
		LeaseDuration: dc.LeaseDuration, RenewDeadline: dc.RenewDeadline, RetryPeriod: dc.RetryPeriod,
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return &Driver{Provider: p, Runner: runner, Lease: lease, Counter: counter, ticks: ticks}, nil
}

// Run drives rollout id to its end while holding the target's Lease
// (kubernetes.RunWithLease).
func (d *Driver) Run(ctx context.Context, id string) (rollout.State, error) {
	return k8s.RunWithLease(ctx, d.Lease, d.Runner, id)
}

// Ticks are the Reconciles the driver made so far, with their API requests.
func (d *Driver) Ticks() []Tick { return d.ticks.Ticks() }

// Close releases the provider.
func (d *Driver) Close() { d.Provider.Close() }
