package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/sample"
)

// Series names the Metrics answer, as Query.Expr.
const (
	SeriesRequestRate = "request_rate" // requests per second the role's pods receive (mirrored copies included)
	SeriesErrorRate   = "error_rate"   // percent of requests answered with a 5xx
	SeriesSuccessRate = "success_rate" // 100 - error_rate
	SeriesLatencyP50  = "latency_p50"  // milliseconds
	SeriesLatencyP95  = "latency_p95"  // milliseconds
	SeriesLatencyP99  = "latency_p99"  // milliseconds
	SeriesCPU         = "cpu"          // percent of the CPU limit
)

var seriesNames = []string{
	SeriesCPU, SeriesErrorRate, SeriesLatencyP50, SeriesLatencyP95, SeriesLatencyP99,
	SeriesRequestRate, SeriesSuccessRate,
}

// Window is the span every synthetic value summarises, like rate(...[1m]).
const Window = time.Minute

// MaxRangePoints bounds the samples of one QueryRange (Prometheus' own limit).
const MaxRangePoints = 11000

// Profile defaults.
const (
	DefaultRequestRate  = 100
	DefaultErrorRate    = 0.2
	DefaultLatencyP95Ms = 120
	DefaultCPU          = 40
	DefaultMatchShare   = 5
)

// latencySigma is the spread of the log-normal latency distribution; with it the
// p50 is about 44% of the p95 and the p99 about 140%.
const latencySigma = 0.5

// Profile is a service's healthy baseline. Zero fields take their defaults, so a
// profile cannot say "exactly zero errors": script that with an ErrorRateSet
// incident of Value 0, or use a tiny rate such as 1e-9.
type Profile struct {
	// RequestRate is the service's total traffic in requests per second. Default 100.
	RequestRate float64
	// ErrorRate is the percent of requests answered with a 5xx. Default 0.2.
	ErrorRate float64
	// LatencyP95Ms is the 95th percentile latency in milliseconds. Default 120.
	LatencyP95Ms float64
	// CPU is the pods' CPU use in percent of their limit. Default 40.
	CPU float64
	// MatchShare is the percent of requests that carry a route's header or cookie
	// match and go to the canary ahead of the weights. Default 5.
	MatchShare float64
}

// DefaultProfile returns the profile a target gets when none is set.
func DefaultProfile() Profile { return Profile{}.withDefaults() }

func (p Profile) withDefaults() Profile {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.RequestRate, DefaultRequestRate)
	def(&p.ErrorRate, DefaultErrorRate)
	def(&p.LatencyP95Ms, DefaultLatencyP95Ms)
	def(&p.CPU, DefaultCPU)
	def(&p.MatchShare, DefaultMatchShare)
	return p
}

func (p Profile) validate() error {
	var pr progressive.Problems
	for _, f := range []struct {
		name  string
		v     float64
		limit float64
	}{
		{"requestRate", p.RequestRate, math.Inf(1)},
		{"errorRate", p.ErrorRate, 100},
		{"latencyP95Ms", p.LatencyP95Ms, math.Inf(1)},
		{"cpu", p.CPU, math.Inf(1)},
		{"matchShare", p.MatchShare, 100},
	} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > f.limit {
			pr.Add(f.name, f.v, "must be between 0 and %g", f.limit)
		}
	}
	return pr.Err()
}

// IncidentKind says what an Incident does.
type IncidentKind string

const (
	// ErrorRateFactor multiplies the error rate by Value (capped at 100%).
	ErrorRateFactor IncidentKind = "error-rate-factor"
	// ErrorRateSet sets the error rate to Value percent.
	ErrorRateSet IncidentKind = "error-rate-set"
	// LatencyFactor multiplies every latency quantile by Value.
	LatencyFactor IncidentKind = "latency-factor"
	// NoTraffic stops the role's requests: request_rate reads 0, and error rate,
	// success rate and latencies read NaN (0/0), though the series exist.
	NoTraffic IncidentKind = "no-traffic"
	// BackendDown makes every query fail with an error wrapping
	// progressive.ErrTransient, whatever its role; it is judged at the clock's
	// now, not at Query.Time.
	BackendDown IncidentKind = "backend-down"
	// CPUSet sets the CPU use to Value percent, without noise.
	CPUSet IncidentKind = "cpu-set"
)

var incidentKinds = []IncidentKind{ErrorRateFactor, ErrorRateSet, LatencyFactor, NoTraffic, BackendDown, CPUSet}

// Incident changes a target's metrics during [Start, End).
type Incident struct {
	// Target is the service hit; the zero Target hits every service.
	Target progressive.Target
	// Role is the side hit; empty hits both.
	Role  progressive.Role
	Kind  IncidentKind
	Value float64
	// Start is when the incident begins (zero: always was); End when it is over
	// (zero: never).
	Start, End time.Time
}

func (i Incident) validate() error {
	var p progressive.Problems
	if i.Target != (progressive.Target{}) {
		p.Merge("target", i.Target.Validate())
	}
	if err := validRole(i.Role); err != nil {
		p.Add("role", string(i.Role), "must be %q, %q or empty", progressive.Stable, progressive.Canary)
	}
	if !slices.Contains(incidentKinds, i.Kind) {
		p.Add("kind", string(i.Kind), "unknown incident kind (known: %v)", incidentKinds)
	}
	if math.IsNaN(i.Value) || i.Value < 0 {
		p.Add("value", i.Value, "must not be negative")
	}
	if i.Kind == ErrorRateSet && i.Value > 100 {
		p.Add("value", i.Value, "an error rate is at most 100 percent")
	}
	if !i.End.IsZero() && !i.End.After(i.Start) {
		p.Add("end", i.End, "must be after start %s", i.Start)
	}
	return p.Err()
}

func (i Incident) activeAt(t time.Time) bool {
	return !t.Before(i.Start) && (i.End.IsZero() || t.Before(i.End))
}

func (i Incident) hits(target progressive.Target, role progressive.Role) bool {
	return (i.Target == progressive.Target{} || i.Target == target) && (i.Role == "" || i.Role == role)
}

// Metrics is a progressive.MetricSource and progressive.RangeQuerier of synthetic
// metrics. Each answer summarises the minute before the query's time: a Poisson
// number of requests at the role's share of the target's traffic, a binomial number
// of errors among them, log-normal latency quantiles estimated from those requests,
// and CPU around the profile. The noise is drawn from a PCG generator seeded with
// the Options seed and the target, role and instant, so the same query at the same
// instant always gets the same answer, however queries interleave.
//
// A role's share comes from the Router (canary weight, plus the mirrored part of
// the stable traffic, plus the requests carrying a match); for a target the router
// has never been told about it comes from the Workload's ready replicas (a replica
// canary without a mesh); otherwise all traffic is on stable. A target none of the
// three knows, and a role with no share, has no data. Role "" reads the whole
// service.
//
// The routes are those in effect at the query's time (from the router's history),
// as are the incidents; pod counts are those of the clock's now.
type Metrics struct {
	clock    clock.PassiveClock
	seed     uint64
	logger   *slog.Logger
	router   *Router
	workload *Workload

	mu        sync.Mutex
	profiles  map[progressive.Target]Profile
	incidents []Incident
	flags     map[progressive.Target]flagBinding
}

// flagBinding makes the users a flag serves one variation the target's canary.
type flagBinding struct {
	store     *FlagStore
	ref       progressive.FlagRef
	variation string
}

// NewMetrics returns a metric source reading shares from router and workload,
// either of which may be nil. Most users get one from New.
func NewMetrics(opts Options, router *Router, workload *Workload) *Metrics {
	opts = opts.withDefaults()
	return &Metrics{
		clock:    opts.Clock,
		seed:     opts.Seed,
		logger:   opts.Logger.With("provider", Name, "component", "metrics"),
		router:   router,
		workload: workload,
		profiles: map[progressive.Target]Profile{},
		flags:    map[progressive.Target]flagBinding{},
	}
}

// BindFlag makes the requests of users served variation of flag ref the canary of
// target, and everyone else's the stable side: a feature-flag rollout's metrics by
// variation, as an application labels them. It takes precedence over the router
// and workload shares; a flag that is off serves no one the variation.
func (m *Metrics) BindFlag(target progressive.Target, store *FlagStore, ref progressive.FlagRef, variation string) error {
	if err := invalidTarget(target); err != nil {
		return err
	}
	if store == nil {
		return fmt.Errorf("sim metrics: bind flag %s: store must not be nil: %w", ref, progressive.ErrInvalid)
	}
	f, err := store.GetFlag(context.Background(), ref)
	if err != nil {
		return fmt.Errorf("sim metrics: bind flag: %w", err)
	}
	if _, ok := f.Variation(variation); !ok {
		return fmt.Errorf("sim metrics: bind flag %s: no variation %q: %w", ref, variation, progressive.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flags[target] = flagBinding{store: store, ref: ref, variation: variation}
	return nil
}

// flagShare reads the bound flag's share of target, when one is bound.
func (m *Metrics) flagShare(target progressive.Target) (float64, bool) {
	m.mu.Lock()
	b, ok := m.flags[target]
	m.mu.Unlock()
	if !ok {
		return 0, false
	}
	f, err := b.store.GetFlag(context.Background(), b.ref)
	if err != nil || !f.On {
		return 0, true
	}
	v, _ := f.Variation(b.variation)
	return f.Fallthrough.WeightOf(v.ID) / 100, true
}

// Name returns "sim".
func (m *Metrics) Name() string { return Name }

// SetProfile sets target's healthy baseline; zero fields take their defaults.
func (m *Metrics) SetProfile(target progressive.Target, p Profile) error {
	if err := invalidTarget(target); err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("sim metrics: profile of %s: %w", target, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.profiles[target] = p.withDefaults()
	return nil
}

// Inject scripts an incident. Incidents compose in the order they were injected
// (two error-rate factors multiply; a later ErrorRateSet overrides).
func (m *Metrics) Inject(inc Incident) error {
	if err := inc.validate(); err != nil {
		return fmt.Errorf("sim metrics: incident: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.incidents = append(m.incidents, inc)
	m.logger.Debug("incident injected", "target", inc.Target.String(), "role", string(inc.Role),
		"kind", string(inc.Kind), "value", inc.Value, "start", inc.Start, "end", inc.End)
	return nil
}

// ClearIncidents removes every incident.
func (m *Metrics) ClearIncidents() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.incidents = nil
}

// Query answers one instant query; q.Expr is one of the Series names and q.Time zero
// means the clock's now. An unknown name is an error wrapping progressive.ErrInvalid
// (a bad query); a BackendDown incident one wrapping progressive.ErrTransient.
func (m *Metrics) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	if err := ctxErr(ctx); err != nil {
		return progressive.Result{}, err
	}
	series, err := checkQuery(q)
	if err != nil {
		return progressive.Result{}, err
	}
	now := m.clock.Now()
	if err := m.backendDown(q.Target, now); err != nil {
		return progressive.Result{}, err
	}
	t := q.Time
	if t.IsZero() {
		t = now
	}
	return m.eval(q.Target, q.Role, series, t), nil
}

// QueryRange answers q at start, start+step, ... up to end. Instants without data
// are left out; NaN answers are kept as NaN samples, as Prometheus does.
func (m *Metrics) QueryRange(ctx context.Context, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	series, err := checkQuery(q)
	if err != nil {
		return nil, err
	}
	switch {
	case step <= 0:
		return nil, fmt.Errorf("sim metrics: range step %s: must be positive: %w", step, progressive.ErrInvalid)
	case end.Before(start):
		return nil, fmt.Errorf("sim metrics: range end %s is before start %s: %w", end, start, progressive.ErrInvalid)
	case end.Sub(start)/step >= MaxRangePoints:
		return nil, fmt.Errorf("sim metrics: range of %s at step %s exceeds %d points: %w",
			end.Sub(start), step, MaxRangePoints, progressive.ErrInvalid)
	}
	if err := m.backendDown(q.Target, m.clock.Now()); err != nil {
		return nil, err
	}
	var out []progressive.Sample
	for t := start; !t.After(end); t = t.Add(step) {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		r := m.eval(q.Target, q.Role, series, t)
		if r.Status == progressive.StatusNoData {
			continue
		}
		out = append(out, progressive.Sample{Time: t, Value: r.Value})
	}
	return out, nil
}

func checkQuery(q progressive.Query) (string, error) {
	series := strings.TrimSpace(q.Expr)
	if !slices.Contains(seriesNames, series) {
		return "", fmt.Errorf("sim metrics: query %q: unknown series (known: %s): %w",
			q.Expr, strings.Join(seriesNames, ", "), progressive.ErrInvalid)
	}
	if err := invalidTarget(q.Target); err != nil {
		return "", err
	}
	return series, validRole(q.Role)
}

func (m *Metrics) backendDown(target progressive.Target, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, inc := range m.incidents {
		if inc.Kind == BackendDown && inc.activeAt(now) && (inc.Target == progressive.Target{} || inc.Target == target) {
			return fmt.Errorf("sim metrics: backend unreachable: %w", progressive.ErrTransient)
		}
	}
	return nil
}

// side is what one role looks like at one instant.
type side struct {
	share     float64 // of the target's requests, mirrored ones included
	served    float64 // share, or 0 during a NoTraffic incident
	errPct    float64
	latFactor float64
	cpu       float64
	cpuSet    bool
	noTraffic bool
	pods      int // -1 when the workload does not know
}

// eval computes one answer.
func (m *Metrics) eval(target progressive.Target, role progressive.Role, series string, t time.Time) progressive.Result {
	prof, stable, canary, known := m.state(target, t)
	res := progressive.Result{Status: progressive.StatusNoData, Time: t}
	if !known {
		return res
	}
	var s side
	switch role {
	case progressive.Stable:
		s = stable
	case progressive.Canary:
		s = canary
	default:
		s = combine(stable, canary)
	}
	if s.share == 0 && series != SeriesCPU {
		return res
	}

	rng := rand.New(rand.NewPCG(m.seed, instantKey(target, role, t)))
	n := sample.Poisson(rng, prof.RequestRate*s.served*Window.Seconds())
	k := sample.Binomial(rng, n, s.errPct/100)
	zs := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	cpuNoise := rng.NormFloat64()

	value := func(v float64) progressive.Result {
		res.Status, res.Value = progressive.StatusValue, v
		if math.IsNaN(v) {
			res.Status = progressive.StatusNaN
		}
		return res
	}
	switch series {
	case SeriesRequestRate:
		return value(float64(n) / Window.Seconds())
	case SeriesErrorRate:
		return value(ratio(k, n))
	case SeriesSuccessRate:
		return value(100 - ratio(k, n))
	case SeriesLatencyP50:
		return value(latency(prof.LatencyP95Ms*s.latFactor, 0, n, zs[0]))
	case SeriesLatencyP95:
		return value(latency(prof.LatencyP95Ms*s.latFactor, 1, n, zs[1]))
	case SeriesLatencyP99:
		return value(latency(prof.LatencyP95Ms*s.latFactor, 2, n, zs[2]))
	case SeriesCPU:
		if s.pods == 0 || (s.pods < 0 && s.share == 0) {
			return res
		}
		if s.cpuSet {
			return value(s.cpu)
		}
		return value(math.Max(0, s.cpu*(1+0.05*cpuNoise)))
	}
	return res
}

// state gathers the profile and both sides of target at t.
func (m *Metrics) state(target progressive.Target, t time.Time) (prof Profile, stable, canary side, known bool) {
	var hasRoutes, hasWorkload bool
	var routes progressive.Routes
	if m.router != nil {
		routes, hasRoutes = m.router.routesAt(target, t)
	}
	flagShare, hasFlag := m.flagShare(target)
	stablePods, canaryPods := -1, -1
	var stableReady, canaryReady int
	if m.workload != nil {
		var sp, cp int
		stableReady, canaryReady, sp, cp, hasWorkload = m.workload.podCounts(target)
		if hasWorkload {
			stablePods, canaryPods = sp, cp
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	prof, hasProfile := m.profiles[target]
	if !hasProfile {
		prof = DefaultProfile()
	}
	stable = side{errPct: prof.ErrorRate, latFactor: 1, cpu: prof.CPU, pods: stablePods}
	canary = side{errPct: prof.ErrorRate, latFactor: 1, cpu: prof.CPU, pods: canaryPods}
	switch {
	case hasFlag:
		stable.share, canary.share = 1-flagShare, flagShare
	case hasRoutes:
		var ms float64
		if len(routes.Matches) > 0 {
			ms = prof.MatchShare / 100
		}
		sw, cw, mp := routes.StableWeight/100, routes.CanaryWeight/100, routes.MirrorPercent/100
		stable.share = (1 - ms) * sw
		canary.share = ms + (1-ms)*cw + (1-ms)*sw*mp
	case hasWorkload:
		if total := stableReady + canaryReady; total > 0 {
			stable.share = float64(stableReady) / float64(total)
			canary.share = float64(canaryReady) / float64(total)
		}
	case hasProfile:
		stable.share = 1
	default:
		return prof, stable, canary, false
	}
	for _, inc := range m.incidents {
		if !inc.activeAt(t) {
			continue
		}
		for _, s := range []struct {
			role progressive.Role
			side *side
		}{{progressive.Stable, &stable}, {progressive.Canary, &canary}} {
			if inc.hits(target, s.role) {
				s.side.apply(inc)
			}
		}
	}
	for _, s := range []*side{&stable, &canary} {
		if !s.noTraffic {
			s.served = s.share
		}
	}
	return prof, stable, canary, true
}

func (s *side) apply(inc Incident) {
	switch inc.Kind {
	case ErrorRateFactor:
		s.errPct = math.Min(100, s.errPct*inc.Value)
	case ErrorRateSet:
		s.errPct = inc.Value
	case LatencyFactor:
		s.latFactor *= inc.Value
	case NoTraffic:
		s.noTraffic = true
	case CPUSet:
		s.cpu, s.cpuSet = inc.Value, true
	}
}

// combine describes the whole service: both sides' requests together.
func combine(a, b side) side {
	out := side{share: a.share + b.share, served: a.served + b.served, pods: -1}
	if a.pods >= 0 && b.pods >= 0 {
		out.pods = a.pods + b.pods
	}
	// Weigh each side by the requests it serves; when none are served, by share.
	wa, wb := a.served, b.served
	if wa+wb == 0 {
		wa, wb = a.share, b.share
	}
	if wa+wb == 0 {
		wa = 1
	}
	w := wa + wb
	out.errPct = (wa*a.errPct + wb*b.errPct) / w
	out.latFactor = (wa*a.latFactor + wb*b.latFactor) / w
	out.cpu = (wa*a.cpu + wb*b.cpu) / w
	out.cpuSet = a.cpuSet || b.cpuSet
	return out
}

func ratio(k, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return 100 * float64(k) / float64(n)
}

// Standard normal quantiles of p50, p95 and p99, and their densities.
var (
	quantileP = [3]float64{0.50, 0.95, 0.99}
	quantileZ = [3]float64{0, 1.6448536269514722, 2.3263478740408408}
)

// latency estimates quantile q (0: p50, 1: p95, 2: p99) of a log-normal whose p95
// is p95, from n requests: the sample quantile's error shrinks as 1/sqrt(n).
func latency(p95 float64, q, n int, z float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	mu := math.Log(p95) - quantileZ[1]*latencySigma
	p, zq := quantileP[q], quantileZ[q]
	density := math.Exp(-zq*zq/2) / math.Sqrt(2*math.Pi)
	se := latencySigma * math.Sqrt(p*(1-p)/float64(n)) / density
	return math.Exp(mu + zq*latencySigma + se*z)
}

// instantKey seeds the noise of one target, role and instant.
func instantKey(target progressive.Target, role progressive.Role, t time.Time) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target.Namespace))
	h.Write([]byte{0})
	h.Write([]byte(target.Name))
	h.Write([]byte{0})
	h.Write([]byte(role))
	h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	h.Write(b[:])
	return h.Sum64()
}
