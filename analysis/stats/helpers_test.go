package stats

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// near fails the test unless |got-want| <= tol.
func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.15g, want %.15g (±%g)", what, got, want, tol)
	}
}

// relNear fails the test unless got and want agree to relative tolerance rel.
func relNear(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if !(math.Abs(got-want) <= rel*math.Abs(want)) {
		t.Errorf("%s = %.15g, want %.15g (relative ±%g)", what, got, want, rel)
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }

// naiveW counts #{x > y} + ½#{x = y} over all pairs: the definition of W.
func naiveW(x, y []float64) float64 {
	var w float64
	for _, a := range x {
		for _, b := range y {
			switch {
			case a > b:
				w++
			case a == b:
				w += 0.5
			}
		}
	}
	return w
}

// sortedDiffs materialises and sorts all x_i - y_j: the brute-force oracle
// for order statistics of pairwise differences.
func sortedDiffs(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	slices.Sort(d)
	return d
}

// enumerateU returns, for samples of sizes m and n drawn without ties, the
// number of the C(m+n, m) rank assignments giving each value of U, by
// brute force over bit masks (m+n <= 20). Independent of the DP.
func enumerateU(m, n int) []float64 {
	counts := make([]float64, m*n+1)
	for mask := uint32(0); mask < 1<<(m+n); mask++ {
		if bits.OnesCount32(mask) != m {
			continue
		}
		u, ys := 0, 0
		for pos := 0; pos < m+n; pos++ {
			if mask&(1<<pos) != 0 {
				u += ys // this x exceeds every y below it
			} else {
				ys++
			}
		}
		counts[u]++
	}
	return counts
}

// permutationP is the exact permutation p-value of the observed samples by
// enumerating every split of the pooled values (no ties assumed), with R's
// conventions for the alternatives. It is the oracle for MannWhitney's
// exact branch.
func permutationP(x, y []float64, alt Alternative) float64 {
	pooled := append(slices.Clone(x), y...)
	m, n := len(x), len(y)
	obs := naiveW(x, y)
	var total, le, ge float64
	xs := make([]float64, 0, m)
	ys := make([]float64, 0, n)
	for mask := uint32(0); mask < 1<<(m+n); mask++ {
		if bits.OnesCount32(mask) != m {
			continue
		}
		xs, ys = xs[:0], ys[:0]
		for i, v := range pooled {
			if mask&(1<<i) != 0 {
				xs = append(xs, v)
			} else {
				ys = append(ys, v)
			}
		}
		w := naiveW(xs, ys)
		total++
		if w <= obs {
			le++
		}
		if w >= obs {
			ge++
		}
	}
	switch alt {
	case Less:
		return le / total
	case Greater:
		return ge / total
	}
	p := le / total
	if obs > float64(m*n)/2 {
		p = ge / total
	}
	return math.Min(2*p, 1)
}

// distinctSample draws n distinct values (rounded to 1e-3 so that ties are
// possible only when asked for) from r.
func distinctSample(r *rand.Rand, n int, seen map[float64]bool) []float64 {
	out := make([]float64, 0, n)
	for len(out) < n {
		v := math.Round(r.NormFloat64()*1e6) / 1e3
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
