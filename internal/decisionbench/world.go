package decisionbench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/agentops/progressive"

	"github.com/agentops/progressive/internal/sample"
)

// Series the benchmark's metric source answers, named as provider/sim names them,
// so that the same checks run against the simulator and the benchmark.
const (
	seriesRequestRate = "request_rate" // requests per second over the minute
	seriesErrorRate   = "error_rate"   // percent of requests answered with an error
	seriesLatencyP95  = "latency_p95"  // milliseconds
)

// Traffic is the healthy service a scenario perturbs.
type Traffic struct {
	// RequestRate is the service's total traffic in requests per second, split
	// between stable and canary by the canary's weight.
	RequestRate float64
	// ErrorRate is the healthy fraction of requests that fail (0.005 is 0.5%).
	ErrorRate float64
	// LatencyP95Ms is the healthy 95th percentile latency.
	LatencyP95Ms float64
	// Diurnal is the amplitude of the daily swing: traffic is multiplied by
	// 1 + Diurnal·sin(2π·t/24h + φ), the healthy error rate by 1 + Diurnal·sin(…)
	// shifted by a quarter day, latency by 1 + Diurnal/3·sin(…), with φ drawn per
	// run. Both versions see the same swing.
	Diurnal float64
}

// Scenario is one kind of canary: what is wrong with it, if anything.
type Scenario struct {
	Name string
	// ErrorFactor multiplies the canary's error rate (1 or 0: healthy).
	ErrorFactor float64
	// LatencyFactor multiplies the canary's latency (1 or 0: healthy).
	LatencyFactor float64
	// NoCanaryTraffic: the canary receives no requests at all (a broken route):
	// its request rate is 0 and its error rate and latency NaN (0/0).
	NoCanaryTraffic bool
	// OutageFrom and OutageTo bound an outage of the metrics backend: every query
	// made at an instant in [OutageFrom, OutageTo) fails with an error wrapping
	// progressive.ErrTransient. Durations since the canary started.
	OutageFrom, OutageTo time.Duration
	// SpikeMinute, when positive, is a minute (1 is the first) during which the whole
	// service, stable and canary alike, fails SpikeErrorRate of its requests and
	// is SpikeLatencyFactor times slower: a shared dependency's hiccup.
	SpikeMinute        int
	SpikeErrorRate     float64
	SpikeLatencyFactor float64
	// Bad says the canary should not be promoted: for it, "promoted" is a miss.
	Bad bool
	// NoPromotionFrom, when positive, puts the scenario under the no-promotion
	// goal at request rates from this one up: the canary is regressed (errors x2
	// or worse, latency +100%; or serves nothing at all) and the rule must never
	// promote it. Below it the data cannot tell at the 1% false-rollback budget:
	// at 10 req/s a 10% canary serves 60 requests a minute, 0.3 errors at 0.5%.
	NoPromotionFrom float64
}

// ScenarioKind says what a scenario asks of a rule.
type ScenarioKind string

const (
	// Good: the canary is fine (healthy, an outage of the metrics backend, a
	// spike shared with stable); rolling it back is a false rollback.
	Good ScenarioKind = "good"
	// Absolute: the regression crosses the absolute thresholds at the day's
	// mean, or the canary serves nothing; every rule is asked to stop it.
	Absolute ScenarioKind = "absolute"
	// RelativeOnly: the canary is worse than stable but under the absolute
	// thresholds; only rules that compare with stable are asked to stop it,
	// and a threshold rule that promotes it has done what it was told.
	RelativeOnly ScenarioKind = "relative only"
)

// Kind classifies the scenario for a service and a plan's thresholds.
func (sc Scenario) Kind(tr Traffic, p Plan) ScenarioKind {
	switch {
	case !sc.Bad:
		return Good
	case sc.NoCanaryTraffic:
		return Absolute
	case sc.ErrorFactor > 0 && sc.ErrorFactor*tr.ErrorRate*100 > p.MaxErrorRate*(1+1e-9):
		return Absolute
	case sc.LatencyFactor > 0 && sc.LatencyFactor*tr.LatencyP95Ms > p.MaxLatencyP95*(1+1e-9):
		return Absolute
	}
	return RelativeOnly
}

// Scenarios is the benchmark's suite, in table order.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "healthy"},
		{Name: "errors x1.5", ErrorFactor: 1.5, Bad: true},
		{Name: "errors x2", ErrorFactor: 2, Bad: true, NoPromotionFrom: 100},
		{Name: "errors x5", ErrorFactor: 5, Bad: true, NoPromotionFrom: 10},
		{Name: "errors x10", ErrorFactor: 10, Bad: true, NoPromotionFrom: 10},
		{Name: "latency +20%", LatencyFactor: 1.2, Bad: true},
		{Name: "latency +100%", LatencyFactor: 2, Bad: true, NoPromotionFrom: 10},
		{Name: "no canary traffic", NoCanaryTraffic: true, Bad: true, NoPromotionFrom: 10},
		{Name: "backend outage 5m", OutageFrom: 5 * time.Minute, OutageTo: 10 * time.Minute},
		{Name: "noisy spike", SpikeMinute: 7, SpikeErrorRate: 0.05, SpikeLatencyFactor: 5},
	}
}

// epoch is the virtual instant the canary starts taking traffic in every run.
var epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// bucket is one minute of one version at one weight.
type bucket struct {
	n, k int     // requests and errors
	p95  float64 // estimated p95 latency in ms; NaN without requests
	lat  float64 // the true p95 of the minute
	z    float64 // the standard normal draw of the p95 estimate's error
}

type bucketKey struct {
	minute int
	canary bool
	weight float64
}

// world is one run's reality: the random streams every rule of the run reads.
// The minute m at weight w of a version is drawn from a PCG seeded by the suite's
// seed, the run, m, the version and w, so that two rules that have the canary at
// the same weight in the same minute see exactly the same requests, errors and
// latencies, whatever each did before.
type world struct {
	sc    Scenario
	tr    Traffic
	seed  uint64
	run   uint64
	phase float64 // diurnal phase of this run
	cache map[bucketKey]bucket
}

func newWorld(sc Scenario, tr Traffic, seed uint64, run int) *world {
	rng := rand.New(rand.NewPCG(seed, mix(uint64(run), 0x5eed)))
	return &world{sc: sc, tr: tr, seed: seed, run: uint64(run), phase: 2 * math.Pi * rng.Float64(),
		cache: make(map[bucketKey]bucket, 128)}
}

// outage reports whether the metrics backend is down at t (since the start).
func (w *world) outage(t time.Duration) bool {
	return w.sc.OutageTo > w.sc.OutageFrom && t >= w.sc.OutageFrom && t < w.sc.OutageTo
}

// bucket returns minute m (covering (m-1, m] minutes since the start) of the canary
// or the stable version while the canary has weight percent of the requests.
func (w *world) bucket(m int, canary bool, weight float64) bucket {
	key := bucketKey{m, canary, weight}
	if b, ok := w.cache[key]; ok {
		return b
	}
	var role uint64 = 1
	if canary {
		role = 2
	}
	rng := rand.New(rand.NewPCG(w.seed, mix(w.run, uint64(m), role, math.Float64bits(weight))))
	theta := 2*math.Pi*float64(m)/(24*60) + w.phase
	share := weight / 100
	if !canary {
		share = 1 - share
	}
	lambda := w.tr.RequestRate * share * 60 * (1 + w.tr.Diurnal*math.Sin(theta))
	errRate := w.tr.ErrorRate * (1 + w.tr.Diurnal*math.Sin(theta+math.Pi/2))
	lat := w.tr.LatencyP95Ms * (1 + w.tr.Diurnal/3*math.Sin(theta))
	if canary {
		if f := w.sc.ErrorFactor; f > 0 {
			errRate *= f
		}
		if f := w.sc.LatencyFactor; f > 0 {
			lat *= f
		}
		if w.sc.NoCanaryTraffic {
			lambda = 0
		}
	}
	if m == w.sc.SpikeMinute {
		errRate = w.sc.SpikeErrorRate
		lat *= w.sc.SpikeLatencyFactor
	}
	var b bucket
	b.n = sample.Poisson(rng, lambda)
	b.k = sample.Binomial(rng, b.n, math.Min(1, errRate))
	b.lat, b.z = lat, rng.NormFloat64()
	b.p95 = p95Estimate(lat, b.n, b.z)
	w.cache[key] = b
	return b
}

// part is the share frac (0 < frac < 1) of minute m that a query window covers:
// each request of the minute falls in it independently with probability frac,
// so requests and errors are thinned binomially, and the p95 estimate keeps the
// minute's error draw at the smaller count. Thinning is drawn from its own
// stream, so that a part never changes the whole minutes.
func (w *world) part(m int, canary bool, weight, frac float64) bucket {
	b := w.bucket(m, canary, weight)
	var role uint64 = 3
	if canary {
		role = 4
	}
	rng := rand.New(rand.NewPCG(w.seed, mix(w.run, uint64(m), role, math.Float64bits(weight), math.Float64bits(frac))))
	k := sample.Binomial(rng, b.k, frac)
	n := k + sample.Binomial(rng, b.n-b.k, frac)
	return bucket{n: n, k: k, lat: b.lat, z: b.z, p95: p95Estimate(b.lat, n, b.z)}
}

// canaryWindow is what a Prometheus query over the window (t-d, t] returns for
// the canary, the way Flagger's and Argo's queries read it: requests and errors
// summed over the window (whole minutes whole, the minutes it cuts thinned to
// the share it covers) and the p95 as the request-weighted geometric mean of
// the minutes' estimates. weightOf gives the canary's weight during minute m
// (which covers (m-1, m] minutes since the start).
type windowStats struct {
	n, k int
	p95  float64 // NaN without requests
}

func (w *world) canaryWindow(t, d time.Duration, weightOf func(m int) float64) windowStats {
	from := max(t-d, 0)
	var st windowStats
	var logSum float64
	for m := int(from/time.Minute) + 1; time.Duration(m-1)*time.Minute < t; m++ {
		lo, hi := time.Duration(m-1)*time.Minute, time.Duration(m)*time.Minute
		covered := min(hi, t) - max(lo, from)
		if covered <= 0 {
			continue
		}
		weight := weightOf(m)
		if weight <= 0 {
			continue
		}
		var b bucket
		if covered == time.Minute {
			b = w.bucket(m, true, weight)
		} else {
			b = w.part(m, true, weight, float64(covered)/float64(time.Minute))
		}
		st.n += b.n
		st.k += b.k
		if b.n > 0 {
			logSum += float64(b.n) * math.Log(b.p95)
		}
	}
	st.p95 = math.NaN()
	if st.n > 0 {
		st.p95 = math.Exp(logSum / float64(st.n))
	}
	return st
}

// servedBefore reports whether the canary served any request in (0, t]: once
// it has, its counters exist and a window without requests reads NaN (0/0); if
// it never has, the query returns no series at all.
func (w *world) servedBefore(t time.Duration, weightOf func(m int) float64) bool {
	return w.canaryWindow(t, t, weightOf).n > 0
}

// Metrics the models query, in the order of their configs.
const (
	metricErrorPct   = iota // error rate in percent
	metricLatencyP95        // p95 in ms
	metricSuccessPct        // success rate in percent (Flagger's request-success-rate, Argo's success-rate)
)

// measure answers one model query at t over a window d: an error while the
// metrics backend is down, no data when the canary never served, NaN when it
// served before but not in the window.
func (w *world) measure(metric int, t, d time.Duration, weightOf func(m int) float64) Measurement {
	if w.outage(t) {
		return Measurement{Err: true}
	}
	st := w.canaryWindow(t, d, weightOf)
	if st.n == 0 {
		if !w.servedBefore(t, weightOf) {
			return Measurement{NoData: true}
		}
		return Measurement{Value: math.NaN()}
	}
	switch metric {
	case metricErrorPct:
		return Measurement{Value: 100 * float64(st.k) / float64(st.n)}
	case metricSuccessPct:
		return Measurement{Value: 100 * float64(st.n-st.k) / float64(st.n)}
	}
	return Measurement{Value: st.p95}
}

// latencySigma is the spread of the log-normal latency distribution (as in
// provider/sim): the p50 is about 44% of the p95.
const latencySigma = 0.5

// p95Estimate is the sample p95 of n log-normal latencies whose true p95 is p95:
// the asymptotic distribution of a sample quantile, whose error shrinks as
// 1/sqrt(n).
func p95Estimate(p95 float64, n int, z float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	const p, zq = 0.95, 1.6448536269514722
	density := math.Exp(-zq*zq/2) / math.Sqrt(2*math.Pi)
	se := latencySigma * math.Sqrt(p*(1-p)/float64(n)) / density
	return p95 * math.Exp(se*z)
}

// mix folds values into one well-spread 64-bit key (splitmix64 steps).
func mix(vs ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vs {
		h ^= v
		h += 0x9e3779b97f4a7c15
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
		h = (h ^ (h >> 27)) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// schedule is the canary's weight over time, as one rule drives it.
type schedule struct {
	changes []weightChange
}

type weightChange struct {
	at     time.Duration
	weight float64
}

func (s *schedule) set(at time.Duration, weight float64) {
	s.changes = append(s.changes, weightChange{at, weight})
}

// during returns the weight in effect during the minute that ends at t.
func (s *schedule) during(t time.Duration) float64 {
	w := 0.0
	for _, c := range s.changes {
		if c.at < t {
			w = c.weight
		}
	}
	return w
}

// source is the progressive.MetricSource (and RangeQuerier) through which the
// analysis engine reads one run, for one rule's schedule. Queries are answered at
// whole minutes: the value at t summarises the minute that ends at t.
type source struct {
	w     *world
	sched *schedule
}

var (
	_ progressive.MetricSource = (*source)(nil)
	_ progressive.RangeQuerier = (*source)(nil)
)

func (s *source) Name() string { return "decisionbench" }

func (s *source) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	since := q.Time.Sub(epoch)
	if s.w.outage(since) {
		return progressive.Result{}, fmt.Errorf("decisionbench: metrics backend unreachable: %w", progressive.ErrTransient)
	}
	return s.eval(q.Expr, q.Role, since)
}

func (s *source) QueryRange(_ context.Context, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	if s.w.outage(q.Time.Sub(epoch)) {
		return nil, fmt.Errorf("decisionbench: metrics backend unreachable: %w", progressive.ErrTransient)
	}
	var out []progressive.Sample
	for t := start; !t.After(end); t = t.Add(step) {
		r, err := s.eval(q.Expr, q.Role, t.Sub(epoch))
		if err != nil {
			return nil, err
		}
		if r.Status == progressive.StatusNoData {
			continue
		}
		out = append(out, progressive.Sample{Time: t, Value: r.Value})
	}
	return out, nil
}

func (s *source) eval(expr string, role progressive.Role, since time.Duration) (progressive.Result, error) {
	res := progressive.Result{Status: progressive.StatusNoData, Time: epoch.Add(since)}
	m := int(since / time.Minute)
	if since%time.Minute != 0 {
		m++ // a sample between whole minutes reads the minute in progress
	}
	weight := s.sched.during(since)
	canary := role == progressive.Canary
	if m < 1 || (canary && weight == 0) {
		return res, nil
	}
	b := s.w.bucket(m, canary, weight)
	var v float64
	switch expr {
	case seriesRequestRate:
		v = float64(b.n) / 60
	case seriesErrorRate:
		v = math.NaN()
		if b.n > 0 {
			v = 100 * float64(b.k) / float64(b.n)
		}
	case seriesLatencyP95:
		v = b.p95
	default:
		return res, fmt.Errorf("decisionbench: unknown series %q: %w", expr, progressive.ErrInvalid)
	}
	res.Status, res.Value = progressive.StatusValue, v
	if math.IsNaN(v) {
		res.Status = progressive.StatusNaN
	}
	return res, nil
}
