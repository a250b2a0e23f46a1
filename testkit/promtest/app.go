package promtest

import (
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults of the test application.
const (
	DefaultRPS     = 100.0
	DefaultLatency = 100 * time.Millisecond
	DefaultCPU     = 40.0
	// CPULimitCores is every pod's CPU limit.
	CPULimitCores = 0.5
	// StableVersion is the version label of the stable side's series: the value
	// rollout.Runner renders {{.Version}} with for the stable role.
	StableVersion = "stable"
	// tick is how often the application books requests.
	tick = 50 * time.Millisecond
)

// Behavior is how one side of a service answers.
type Behavior struct {
	// ErrorPercent of its requests are answered 500 (the rest 200).
	ErrorPercent float64
	// Latency is the median request duration; durations spread evenly from 0.6 to
	// 1.4 times it, so the p95 is about 1.36 times it. Default 100ms.
	Latency time.Duration
	// CPU is the pod's CPU use in percent of its limit. Default 40.
	CPU float64
	// NoTraffic stops the side from receiving requests (its counters stop moving).
	NoTraffic bool
}

func (b Behavior) withDefaults() Behavior {
	if b.Latency <= 0 {
		b.Latency = DefaultLatency
	}
	if b.CPU == 0 {
		b.CPU = DefaultCPU
	}
	return b
}

// App is a small in-process application for tests: an httptest server on
// 127.0.0.1 whose /metrics serves, for each of its services, the metrics a real
// service and its platform export, for its stable and canary side:
//
//	http_requests_total{namespace, service, version, code}                 counter
//	http_request_duration_seconds_bucket{namespace, service, version, le}  histogram
//	container_cpu_usage_seconds_total{namespace, pod, container}            counter (cAdvisor)
//	kube_pod_container_resource_limits{namespace, pod, container, resource="cpu", unit="core"}  (kube-state-metrics)
//
// These are the series package metrics queries by default. The stable side's
// version label is StableVersion; pods are named like a Deployment's,
// <service>-<hash>-<id> and <service>-canary-<hash>-<id>. Requests are not served
// over HTTP: the application books them on its metrics every 50ms, at each
// service's rate, splitting them between the sides by the canary's share and
// answering errors and durations exactly as each side's Behavior says
// (deterministically, with no randomness).
type App struct {
	srv *httptest.Server

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cpu      *prometheus.CounterVec
	limits   *prometheus.GaugeVec
	// Istio's standard metrics, for services with ServiceSpec.Istio.
	istioRequests *prometheus.CounterVec
	istioDuration *prometheus.HistogramVec

	mu       sync.Mutex
	services []*Service
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

// NewApp starts the application. Close stops it.
func NewApp() *App {
	reg := prometheus.NewRegistry()
	a := &App{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests answered."},
			[]string{"namespace", "service", "version", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Request duration.", Buckets: prometheus.DefBuckets},
			[]string{"namespace", "service", "version"}),
		cpu: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "container_cpu_usage_seconds_total", Help: "CPU time used."},
			[]string{"namespace", "pod", "container"}),
		limits: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kube_pod_container_resource_limits", Help: "Container limits."},
			[]string{"namespace", "pod", "container", "resource", "unit"}),
		istioRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total", Help: "Requests as Istio's sidecars report them."},
			istioLabels("response_code")),
		istioDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_duration_milliseconds", Help: "Request duration as Istio's sidecars report it.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}},
			istioLabels()),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	reg.MustRegister(a.requests, a.duration, a.cpu, a.limits, a.istioRequests, a.istioDuration)
	a.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go a.run()
	return a
}

// Addr is the host:port Prometheus scrapes.
func (a *App) Addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// Close stops booking requests and serving metrics.
func (a *App) Close() {
	a.stopOnce.Do(func() {
		close(a.stop)
		<-a.stopped
		a.srv.Close()
	})
}

// ServiceSpec describes a service of the application.
type ServiceSpec struct {
	Namespace, Name string
	// CanaryVersion labels the canary's series (the plan's Release.Version).
	CanaryVersion string
	// RPS is the service's total request rate. Default 100.
	RPS float64
	// CanaryShare returns the canary's share of requests in percent, read at every
	// booking: a rollout's router weight, typically. Nil means 0.
	CanaryShare func() float64
	// Stable and Canary are the sides' initial behaviors.
	Stable, Canary Behavior
	// Istio, when set, also books the traffic on Istio's standard metrics
	// (istio_requests_total and istio_request_duration_milliseconds with
	// reporter="destination"), under each side's workload and service, the
	// series Flagger's built-in checks and Argo Rollouts' documented Istio
	// queries read.
	Istio *IstioNames
}

// IstioNames are the destination labels of each side on Istio's metrics.
type IstioNames struct {
	// StableWorkload and CanaryWorkload are destination_workload (the
	// Deployment's name: podinfo-primary and podinfo under Flagger).
	StableWorkload, CanaryWorkload string
	// StableService and CanaryService are destination_service (a host such as
	// podinfo-canary.test.svc.cluster.local) and, before the first dot,
	// destination_service_name.
	StableService, CanaryService string
}

func istioLabels(extra ...string) []string {
	return append([]string{"reporter", "destination_workload_namespace", "destination_workload", "destination_service", "destination_service_name"}, extra...)
}

// Service is one service of the App, whose behavior a test changes while it runs.
type Service struct {
	app  *App
	spec ServiceSpec

	mu      sync.Mutex
	stable  side
	canary  side
	changed time.Time
}

// side is one role's behavior and its running tallies, so that fractions of
// requests and errors carry over between bookings.
type side struct {
	b        Behavior
	version  string
	pod      string
	requests float64  // owed, fractional
	errors   float64  // owed, fractional
	served   uint64   // for the latency pattern
	istio    []string // Istio label values without response_code, or nil
}

// Service adds a service and starts booking its requests.
func (a *App) Service(spec ServiceSpec) *Service {
	if spec.RPS <= 0 {
		spec.RPS = DefaultRPS
	}
	s := &Service{
		app:     a,
		spec:    spec,
		stable:  side{b: spec.Stable.withDefaults(), version: StableVersion, pod: spec.Name + "-6d8f9c7b5d-x2x4q"},
		canary:  side{b: spec.Canary.withDefaults(), version: spec.CanaryVersion, pod: spec.Name + "-canary-5b7c9d8f6c-k9m3p"},
		changed: time.Now(),
	}
	if n := spec.Istio; n != nil {
		s.stable.istio = istioValues(spec.Namespace, n.StableWorkload, n.StableService)
		s.canary.istio = istioValues(spec.Namespace, n.CanaryWorkload, n.CanaryService)
	}
	for _, sd := range []*side{&s.stable, &s.canary} {
		a.limits.WithLabelValues(spec.Namespace, sd.pod, "app", "cpu", "core").Set(CPULimitCores)
	}
	a.mu.Lock()
	a.services = append(a.services, s)
	a.mu.Unlock()
	return s
}

// SetCanary changes the canary's behavior from now on and returns the time of
// the change (a regression's start).
func (s *Service) SetCanary(b Behavior) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canary.b = b.withDefaults()
	s.changed = time.Now()
	return s.changed
}

// SetStable changes the stable side's behavior and returns the time of the change.
func (s *Service) SetStable(b Behavior) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stable.b = b.withDefaults()
	s.changed = time.Now()
	return s.changed
}

// SetCanaryRelease changes the canary's release: its series are labelled version from
// now on, with behavior b. It returns the time of the change.
func (s *Service) SetCanaryRelease(version string, b Behavior) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canary = side{b: b.withDefaults(), version: version, pod: s.canary.pod, istio: s.canary.istio}
	s.changed = time.Now()
	return s.changed
}

// Changed returns the time of the last SetCanary or SetStable.
func (s *Service) Changed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (a *App) run() {
	defer close(a.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			// The tick's own time can precede last (taken after the ticker
			// started); a negative dt would decrease a counter, which panics.
			now := time.Now()
			dt := max(now.Sub(last).Seconds(), 0)
			last = now
			a.mu.Lock()
			services := append([]*Service(nil), a.services...)
			a.mu.Unlock()
			for _, s := range services {
				s.book(dt)
			}
		}
	}
}

// book records dt seconds of the service's traffic.
func (s *Service) book(dt float64) {
	share := 0.0
	if s.spec.CanaryShare != nil {
		share = math.Min(math.Max(s.spec.CanaryShare(), 0), 100) / 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.spec.RPS * dt
	s.serve(&s.stable, total*(1-share), dt)
	s.serve(&s.canary, total*share, dt)
}

func (s *Service) serve(sd *side, requests, dt float64) {
	a, ns := s.app, s.spec.Namespace
	a.cpu.WithLabelValues(ns, sd.pod, "app").Add(sd.b.CPU / 100 * CPULimitCores * dt)
	if sd.b.NoTraffic {
		return
	}
	sd.requests += requests
	n := math.Floor(sd.requests)
	sd.requests -= n
	if n == 0 {
		return
	}
	sd.errors += n * sd.b.ErrorPercent / 100
	errs := math.Min(math.Floor(sd.errors), n)
	sd.errors -= errs
	svc := s.spec.Name
	if errs > 0 {
		a.requests.WithLabelValues(ns, svc, sd.version, "500").Add(errs)
	}
	if ok := n - errs; ok > 0 {
		a.requests.WithLabelValues(ns, svc, sd.version, "200").Add(ok)
	}
	h := a.duration.WithLabelValues(ns, svc, sd.version)
	var ih prometheus.Observer
	if sd.istio != nil {
		if errs > 0 {
			a.istioRequests.WithLabelValues(append(sd.istio, "500")...).Add(errs)
		}
		if ok := n - errs; ok > 0 {
			a.istioRequests.WithLabelValues(append(sd.istio, "200")...).Add(ok)
		}
		ih = a.istioDuration.WithLabelValues(sd.istio...)
	}
	median := sd.b.Latency.Seconds()
	for range int(n) {
		// Durations cycle evenly through [0.6, 1.4] x the median.
		f := 0.6 + 0.8*float64(sd.served%20)/19
		sd.served++
		h.Observe(median * f)
		if ih != nil {
			ih.Observe(median * f * 1000)
		}
	}
}

func istioValues(ns, workload, service string) []string {
	name, _, _ := strings.Cut(service, ".")
	return []string{"destination", ns, workload, service, name}
}
