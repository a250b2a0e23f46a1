package stats

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRateSPRTThresholdsAndDefaults(t *testing.T) {
	var zero RateSPRT // usable as is
	v, err := zero.Update(0, 10, 0, 10)
	mustNoErr(t, err)
	near(t, "lower = ln(0.05)", v.LowerBound, -2.995732273553991, 1e-15)
	near(t, "upper = ln(1/0.01)", v.UpperBound, 4.605170185988092, 1e-15)
	if v.Decision != Continue || v.Tick != 1 || zero.Ticks != 1 {
		t.Errorf("zero value: %+v", v)
	}
	s, err := NewRateSPRT(RateSPRTConfig{Alpha: 0.05, Beta: 0.2, MinRelativeIncrease: 2})
	mustNoErr(t, err)
	near(t, "upper", s.UpperBound, math.Log(20), 1e-15)
	near(t, "lower", s.LowerBound, math.Log(0.2), 1e-15)
	if d := (RateSPRTConfig{}).WithDefaults(); d.Alpha != 0.01 || d.Beta != 0.05 || d.MinRelativeIncrease != 1.5 {
		t.Errorf("defaults %+v", d)
	}
}

// TestRateSPRTIncrementHandDerived: r = 2 and equal traffic give p0 = 1/2
// and p1 = 2/3; 3 canary and 1 baseline errors have likelihood ratio
// (2/3)^3 (1/3) / (1/2)^4 = 128/81.
func TestRateSPRTIncrementHandDerived(t *testing.T) {
	s, _ := NewRateSPRT(RateSPRTConfig{MinRelativeIncrease: 2})
	v, err := s.Update(3, 100, 1, 100)
	mustNoErr(t, err)
	near(t, "delta", v.Delta, math.Log(128.0/81), 1e-15)
	near(t, "llr", v.LLR, 0.457581109247178, 1e-15)

	// Random ticks against the binomial likelihood written out directly.
	r := newRand(9)
	for i := 0; i < 200; i++ {
		ratio := 1.1 + 4*r.Float64()
		ct, bt := r.Int64N(5000)+1, r.Int64N(5000)+1
		ce, be := r.Int64N(ct/10+1), r.Int64N(bt/10+1)
		s, _ := NewRateSPRT(RateSPRTConfig{MinRelativeIncrease: ratio})
		v, err := s.Update(ce, ct, be, bt)
		mustNoErr(t, err)
		p0 := float64(ct) / float64(ct+bt)
		p1 := ratio * float64(ct) / (ratio*float64(ct) + float64(bt))
		want := float64(ce)*math.Log(p1/p0) + float64(be)*math.Log((1-p1)/(1-p0))
		near(t, "delta vs binomial LR", v.Delta, want, 1e-9*(1+math.Abs(want)))
	}
}

// TestRateSPRTBoundaries: with defaults and equal traffic, a canary error
// adds ln(1.5/1.25) and a baseline error ln(1/1.25). 25 canary errors stay
// below ln(100), 26 cross it; 13 baseline errors stay above ln(0.05), 14
// cross it.
func TestRateSPRTBoundaries(t *testing.T) {
	step := math.Log(1.5 / 1.25)
	for _, c := range []struct {
		ce, be int64
		want   Decision
	}{{25, 0, Continue}, {26, 0, RejectH0}, {0, 13, Continue}, {0, 14, AcceptH0}} {
		s, _ := NewRateSPRT(RateSPRTConfig{})
		v, err := s.Update(c.ce, 1000, c.be, 1000)
		mustNoErr(t, err)
		if v.Decision != c.want {
			t.Errorf("%d canary / %d baseline errors: %v (llr %v)", c.ce, c.be, v.Decision, v.LLR)
		}
		near(t, "llr", v.LLR, float64(c.ce)*step+float64(c.be)*math.Log(1/1.25), 1e-12)
		if c.want.Terminal() && s.DecidedAtTick != 1 {
			t.Errorf("decided at %d", s.DecidedAtTick)
		}
	}
}

func TestRateSPRTStickyAndPersistence(t *testing.T) {
	ticks := [][4]int64{{1, 100, 8, 900}, {2, 110, 9, 890}, {0, 0, 3, 1000}, {4, 100, 7, 900}, {6, 100, 9, 900}, {5, 105, 8, 895}, {7, 100, 9, 900}}
	whole, _ := NewRateSPRT(RateSPRTConfig{Alpha: 0.05, MinRelativeIncrease: 2})
	var last RateVerdict
	for _, tk := range ticks {
		v, err := whole.Update(tk[0], tk[1], tk[2], tk[3])
		mustNoErr(t, err)
		last = v
	}
	if last.Decision != RejectH0 {
		t.Fatalf("expected a regression, got %+v", last)
	}
	// Persist after every tick and resume from JSON: same end state.
	resumed, _ := NewRateSPRT(RateSPRTConfig{Alpha: 0.05, MinRelativeIncrease: 2})
	for _, tk := range ticks {
		b, err := json.Marshal(resumed)
		mustNoErr(t, err)
		var next RateSPRT
		mustNoErr(t, json.Unmarshal(b, &next))
		if _, err := next.Update(tk[0], tk[1], tk[2], tk[3]); err != nil {
			t.Fatal(err)
		}
		resumed = &next
	}
	if *resumed != *whole {
		t.Errorf("resumed %+v\nwhole   %+v", *resumed, *whole)
	}
	b, _ := json.Marshal(whole)
	if !strings.Contains(string(b), `"decision":"reject_h0"`) || !strings.Contains(string(b), `"llr":`) {
		t.Errorf("wire form %s", b)
	}
	// Closed after a terminal decision: further ticks change nothing.
	before := *whole
	v, err := whole.Update(0, 1000, 50, 1000)
	mustNoErr(t, err)
	if *whole != before || v.Decision != RejectH0 || v.Delta != 0 {
		t.Errorf("update after decision changed the state: %+v", v)
	}
	if got := whole.Verdict(); got.Decision != RejectH0 || got.LLR != whole.LLR {
		t.Errorf("Verdict %+v", got)
	}
	if !strings.HasPrefix(v.String(), "regression:") {
		t.Errorf("explanation %q", v)
	}
	ratio, ok := whole.ObservedRatio()
	if !ok || ratio <= 1 {
		t.Errorf("observed ratio %v %v", ratio, ok)
	}
}

func TestRateSPRTValidation(t *testing.T) {
	s, _ := NewRateSPRT(RateSPRTConfig{})
	before := *s
	for _, c := range [][4]int64{{-1, 10, 0, 10}, {0, -1, 0, 10}, {11, 10, 0, 10}, {0, 10, 11, 10}} {
		if _, err := s.Update(c[0], c[1], c[2], c[3]); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%v: %v", c, err)
		}
	}
	if *s != before {
		t.Error("a rejected update changed the state")
	}
	for _, cfg := range []RateSPRTConfig{{Alpha: 1}, {Alpha: -0.1}, {Beta: 1.5}, {MinRelativeIncrease: 1}, {MinRelativeIncrease: 0.8}, {MinRelativeIncrease: math.Inf(1)}, {Alpha: math.NaN()}} {
		if _, err := NewRateSPRT(cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", cfg, err)
		}
		bad := RateSPRT{Config: cfg}
		if _, err := bad.Update(1, 10, 1, 10); !errors.Is(err, ErrInvalidArgument) || bad.Ticks != 0 {
			t.Errorf("update with %+v: %v", cfg, err)
		}
	}
	// A side without traffic carries no evidence but the tick counts.
	v, err := s.Update(0, 0, 5, 100)
	mustNoErr(t, err)
	if v.Delta != 0 || v.Tick != 1 {
		t.Errorf("no canary traffic: %+v", v)
	}
	if _, ok := s.ObservedRatio(); ok {
		t.Error("ratio undefined without canary traffic")
	}
	var d Decision
	if err := d.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("unknown decision accepted")
	}
}

// binomial draws from Binomial(n, p) by inversion (BINV); fine for the
// small n*p used here.
func binomial(r *rand.Rand, n int64, p float64) int64 {
	if n == 0 || p <= 0 {
		return 0
	}
	if p > 0.5 {
		return n - binomial(r, n, 1-p)
	}
	q := 1 - p
	s, a := p/q, float64(n+1)*p/q
	f := math.Pow(q, float64(n))
	u := r.Float64()
	var x int64
	for u > f && x < n {
		u -= f
		x++
		f *= a/float64(x) - s
	}
	return x
}

// tickFunc returns one tick: canary errors, canary requests, baseline
// errors, baseline requests.
type tickFunc func(r *rand.Rand) (int64, int64, int64, int64)

// simulate runs the test until it decides or maxTicks pass, per-request
// (Bernoulli) errors, and tallies the outcomes.
func simulate(t *testing.T, seed uint64, runs, maxTicks int, cfg RateSPRTConfig, tick tickFunc) (reject, accept, undecided int, meanTicks float64) {
	t.Helper()
	r := newRand(seed)
	var total int64
	for run := 0; run < runs; run++ {
		s, err := NewRateSPRT(cfg)
		mustNoErr(t, err)
		for i := 0; i < maxTicks && !s.Decision.Terminal(); i++ {
			if _, err := s.Update(tick(r)); err != nil {
				t.Fatal(err)
			}
		}
		switch s.Decision {
		case RejectH0:
			reject++
		case AcceptH0:
			accept++
		default:
			undecided++
		}
		total += s.Ticks
	}
	return reject, accept, undecided, float64(total) / float64(runs)
}

// TestRateSPRTMonteCarloHealthy: 2,000 healthy canaries (10% of traffic,
// same 1% error rate as the baseline), looked at after every tick. The
// false rollback rate must stay at or below alpha = 1% (plus 2.3 binomial
// standard errors of Monte Carlo noise).
func TestRateSPRTMonteCarloHealthy(t *testing.T) {
	tick := func(r *rand.Rand) (int64, int64, int64, int64) {
		return binomial(r, 100, 0.01), 100, binomial(r, 900, 0.01), 900
	}
	rej, acc, und, mean := simulate(t, 10, 2000, 400, RateSPRTConfig{}, tick)
	t.Logf("healthy: %d rejected, %d accepted, %d undecided of 2000; mean %.1f ticks", rej, acc, und, mean)
	if rate := float64(rej) / 2000; rate > 0.01+0.005 {
		t.Errorf("false alarm rate %v exceeds alpha", rate)
	}
	if acc < 1900 {
		t.Errorf("only %d healthy runs accepted within 400 ticks", acc)
	}
}

// TestRateSPRTMonteCarloNonStationary: the baseline error rate and the
// traffic split change every tick (load swings, incidents hitting both,
// ramping canary weight). Conditioning on each tick's errors makes the
// nuisance rate cancel: the false alarm rate is still below alpha.
func TestRateSPRTMonteCarloNonStationary(t *testing.T) {
	tick := func(r *rand.Rand) (int64, int64, int64, int64) {
		rate := 0.002 * math.Exp(3*r.Float64()) // 0.2% .. 4%
		ct := 20 + r.Int64N(500)
		bt := 200 + r.Int64N(800)
		return binomial(r, ct, rate), ct, binomial(r, bt, rate), bt
	}
	rej, acc, und, mean := simulate(t, 11, 2000, 400, RateSPRTConfig{}, tick)
	t.Logf("non-stationary healthy: %d rejected, %d accepted, %d undecided; mean %.1f ticks", rej, acc, und, mean)
	if rate := float64(rej) / 2000; rate > 0.015 {
		t.Errorf("false alarm rate %v exceeds alpha", rate)
	}
}

// TestRateSPRTMonteCarloRegression: a canary with 5x the baseline error
// rate is caught in (almost) every run, within a few ticks.
func TestRateSPRTMonteCarloRegression(t *testing.T) {
	tick := func(r *rand.Rand) (int64, int64, int64, int64) {
		return binomial(r, 100, 0.05), 100, binomial(r, 900, 0.01), 900
	}
	rej, acc, und, mean := simulate(t, 12, 2000, 100, RateSPRTConfig{}, tick)
	t.Logf("5x regression: %d rejected, %d accepted, %d undecided; mean %.1f ticks", rej, acc, und, mean)
	if rej < 1980 {
		t.Errorf("5x regression detected in only %d of 2000 runs", rej)
	}
	if mean > 10 {
		t.Errorf("mean time to decision %.1f ticks", mean)
	}
}

// TestRateSPRTMonteCarloDesignPoint: at exactly the minimum effect of
// interest (1.5x) the test must accept H0 in at most beta = 5% of runs.
func TestRateSPRTMonteCarloDesignPoint(t *testing.T) {
	tick := func(r *rand.Rand) (int64, int64, int64, int64) {
		return binomial(r, 500, 0.015), 500, binomial(r, 500, 0.01), 500
	}
	rej, acc, und, mean := simulate(t, 13, 1000, 2000, RateSPRTConfig{}, tick)
	t.Logf("1.5x: %d rejected, %d accepted, %d undecided of 1000; mean %.1f ticks", rej, acc, und, mean)
	if rate := float64(acc) / 1000; rate > 0.05+0.015 {
		t.Errorf("missed regression rate %v exceeds beta", rate)
	}
}
