package stats

import "testing"

func benchSamples(n1, n2 int) (x, y []float64) {
	r := newRand(42)
	x, y = make([]float64, n1), make([]float64, n2)
	for i := range x {
		x[i] = 100 + 20*r.ExpFloat64() + 5
	}
	for i := range y {
		y[i] = 100 + 20*r.ExpFloat64()
	}
	return x, y
}

var benchSink float64

// BenchmarkMannWhitney60x60 is the default call on two samples of 60:
// R's rule picks the normal approximation (n >= 50).
func BenchmarkMannWhitney60x60(b *testing.B) {
	x, y := benchSamples(60, 60)
	b.ReportAllocs()
	for b.Loop() {
		r, _ := MannWhitney(x, y, MannWhitneyOptions{Alternative: Greater})
		benchSink += r.PValue
	}
}

// BenchmarkMannWhitney60x60Exact forces the exact p-value; the 60x60
// distribution is built once and then served from the cache.
func BenchmarkMannWhitney60x60Exact(b *testing.B) {
	x, y := benchSamples(60, 60)
	b.ReportAllocs()
	for b.Loop() {
		r, _ := MannWhitney(x, y, MannWhitneyOptions{Alternative: Greater, Exact: ExactAlways})
		benchSink += r.PValue
	}
}

// BenchmarkExactDistribution49x49 builds the largest distribution R's
// default rule uses, bypassing the cache.
func BenchmarkExactDistribution49x49(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink += newWilcoxDist(49, 49).cdfAt(1000)
	}
}

// BenchmarkHodgesLehmann60x60 is the estimate plus the 95% interval.
func BenchmarkHodgesLehmann60x60(b *testing.B) {
	x, y := benchSamples(60, 60)
	b.ReportAllocs()
	for b.Loop() {
		h, _ := HodgesLehmann(x, y, ShiftOptions{})
		benchSink += h.Estimate
	}
}

// BenchmarkHodgesLehmann10kx10k: 1e8 pairwise differences, none stored.
func BenchmarkHodgesLehmann10kx10k(b *testing.B) {
	x, y := benchSamples(10000, 10000)
	b.ReportAllocs()
	for b.Loop() {
		h, _ := HodgesLehmann(x, y, ShiftOptions{})
		benchSink += h.Estimate
	}
}

// BenchmarkRateSPRTUpdate is one tick of the sequential test.
func BenchmarkRateSPRTUpdate(b *testing.B) {
	s, _ := NewRateSPRT(RateSPRTConfig{})
	b.ReportAllocs()
	for b.Loop() {
		// alternate so the test never stops
		v, _ := s.Update(1, 100, 9, 900)
		benchSink += v.LLR
		s.LLR = 0
	}
}
