package stats

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestHodgesLehmannPublishedExamples(t *testing.T) {
	// Hollander & Wolfe Example 4.1: the median of the pairwise differences
	// is 0.305 (Geyer's Stat 5601 notes give -0.305 for y - x).
	h, err := HodgesLehmann(chorioX, chorioY, ShiftOptions{})
	mustNoErr(t, err)
	near(t, "chorioamnion HL", h.Estimate, 0.305, 1e-12)
	if h.Method != MethodExact {
		t.Errorf("method %v", h.Method)
	}

	// Depression ratings as two samples (ties: normal method). SAS PROC
	// NPAR1WAY HL (CAMIS comparison): location shift 0.5600, asymptotic
	// (Moses) 95% limits -0.3700 and 1.1830. R's wilcox.test(x, y,
	// conf.int = TRUE) reports the estimate as 0.5600562 (uniroot, tol 1e-4).
	h, err = HodgesLehmann(deprX, deprY, ShiftOptions{})
	mustNoErr(t, err)
	near(t, "depression HL", h.Estimate, 0.56, 1e-12)
	near(t, "depression HL vs R's root", h.Estimate, 0.5600562, 1e-4)
	near(t, "depression lower", h.Lower, -0.37, 1e-12)
	near(t, "depression upper", h.Upper, 1.183, 1e-12)
	if h.Method != MethodNormal || h.AchievedConfLevel != 0.95 {
		t.Errorf("method %v achieved %v", h.Method, h.AchievedConfLevel)
	}
}

// TestKthPairwiseDifference checks the selection on the implicit matrix
// against materialising and sorting all differences, with and without ties,
// on sizes below and well above the gathering threshold.
func TestKthPairwiseDifference(t *testing.T) {
	r := newRand(4)
	sizes := [][2]int{{1, 1}, {1, 9}, {9, 1}, {3, 4}, {37, 41}, {200, 150}, {7, 900}, {900, 7}, {1300, 900}}
	for _, sz := range sizes {
		for _, tied := range []bool{false, true} {
			if tied && sz[0]*sz[1] > 1e6 {
				continue // the brute-force oracle is the slow part
			}
			x, y := make([]float64, sz[0]), make([]float64, sz[1])
			for i := range x {
				x[i] = r.NormFloat64()*3 + 1
				if tied {
					x[i] = math.Round(x[i])
				}
			}
			for i := range y {
				y[i] = r.ExpFloat64()
				if tied {
					y[i] = math.Round(y[i])
				}
			}
			want := sortedDiffs(x, y)
			m := newDiffMatrix(x, y)
			ks := []int{1, len(want), (len(want) + 1) / 2}
			for i := 0; i < 20; i++ {
				ks = append(ks, 1+r.IntN(len(want)))
			}
			for _, k := range ks {
				if got := m.kth(k); got != want[k-1] {
					t.Fatalf("%v tied=%v: kth(%d) = %v, sorted %v", sz, tied, k, got, want[k-1])
				}
			}
		}
	}
}

func TestSelectKth(t *testing.T) {
	r := newRand(14)
	for trial := 0; trial < 300; trial++ {
		n := 1 + r.IntN(200)
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(r.IntN(1 + trial%40)) // from all-equal to few ties
		}
		want := slices.Sorted(slices.Values(a))
		k := r.IntN(n)
		if got := selectKth(a, k); got != want[k] {
			t.Fatalf("n=%d k=%d: %v, want %v", n, k, got, want[k])
		}
		if !slices.Equal(slices.Sorted(slices.Values(a)), want) {
			t.Fatal("selectKth lost or duplicated elements")
		}
	}
}

// TestHodgesLehmannExactMatchesOracle rebuilds R's exact interval from
// scratch: the null distribution by enumeration, qwilcox by its definition,
// and the order statistics from the sorted differences.
func TestHodgesLehmannExactMatchesOracle(t *testing.T) {
	r := newRand(5)
	for trial := 0; trial < 40; trial++ {
		m, n := 1+r.IntN(8), 1+r.IntN(8)
		seen := map[float64]bool{}
		x, y := distinctSample(r, m, seen), distinctSample(r, n, seen)
		diffs := sortedDiffs(x, y)
		N := len(diffs)
		counts := enumerateU(m, n)
		var total float64
		for _, c := range counts {
			total += c
		}
		cdf := func(q int) float64 {
			var s float64
			for u := 0; u <= q && u < len(counts); u++ {
				s += counts[u]
			}
			return s / total
		}
		qwilcox := func(p float64) int { // smallest q with P(U<=q) >= p
			for q := 0; ; q++ {
				if cdf(q) >= p-1e-12 {
					return q
				}
			}
		}
		for _, conf := range []float64{0.8, 0.9, 0.95, 0.98} {
			alpha := 1 - conf
			want := median(diffs)
			for _, alt := range []Alternative{TwoSided, Greater, Less} {
				h, err := HodgesLehmann(x, y, ShiftOptions{ConfLevel: conf, Alternative: alt})
				mustNoErr(t, err)
				a := alpha
				if alt == TwoSided {
					a /= 2
				}
				q := max(qwilcox(a), 1)
				achieved := cdf(q - 1)
				if alt == TwoSided {
					achieved *= 2
				}
				lo, hi := math.Inf(-1), math.Inf(1)
				if alt != Less {
					lo = diffs[q-1]
				}
				if alt != Greater {
					hi = diffs[N-q]
				}
				if h.Estimate != want || h.Lower != lo || h.Upper != hi || h.Method != MethodExact {
					t.Fatalf("%dx%d conf %v %v: got (%v, %v, %v) %v, want (%v, %v, %v)",
						m, n, conf, alt, h.Estimate, h.Lower, h.Upper, h.Method, want, lo, hi)
				}
				near(t, "achieved", h.AchievedConfLevel, 1-achieved, 1e-12)
				if h.ConfLevelAchievable != !(achieved-alpha > alpha/2) {
					t.Fatalf("achievable flag %v for achieved alpha %v", h.ConfLevelAchievable, achieved)
				}
			}
		}
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// TestHodgesLehmannInvertsTest checks the defining property of the Moses
// interval: a shift d is inside the 1-alpha interval iff the two-sided test
// of x - d against y has p >= alpha. Just inside each bound (between the
// bound and the next distinct difference inwards) the test must accept,
// just outside it must reject. Exact and normal methods, with and without
// ties.
func TestHodgesLehmannInvertsTest(t *testing.T) {
	r := newRand(6)
	for trial := 0; trial < 30; trial++ {
		mode := []ExactMode{ExactAuto, ExactNever}[trial%2]
		m, n := 4+r.IntN(30), 4+r.IntN(30)
		x, y := make([]float64, m), make([]float64, n)
		for i := range x {
			x[i] = math.Round((r.NormFloat64()+0.5)*1000) / 1000
		}
		for i := range y {
			y[i] = math.Round(r.NormFloat64()*1000) / 1000
		}
		if trial%4 == 1 { // ties within samples
			x[1], y[1] = x[0], y[0]
		}
		diffs := sortedDiffs(x, y)
		conf := []float64{0.9, 0.95, 0.98}[trial%3]
		h, err := HodgesLehmann(x, y, ShiftOptions{ConfLevel: conf, Exact: mode})
		mustNoErr(t, err)
		pAt := func(d float64) float64 {
			// the probe must sit strictly between differences, so that
			// x - d has no ties with y
			if i := sort.SearchFloat64s(diffs, d); i < len(diffs) && diffs[i] == d {
				t.Fatalf("probe %v hits a difference", d)
			}
			res, err := MannWhitney(x, y, MannWhitneyOptions{Mu: d, Exact: mode})
			mustNoErr(t, err)
			return res.PValue
		}
		alpha := 1 - conf
		check := func(bound float64, inward int) {
			i := sort.SearchFloat64s(diffs, bound)
			j := i // next distinct difference inwards
			for j >= 0 && j < len(diffs) && diffs[j] == bound {
				j += inward
			}
			if j >= 0 && j < len(diffs) {
				if p := pAt((bound + diffs[j]) / 2); p < alpha {
					t.Errorf("trial %d (%v): inside bound %v p = %v < %v", trial, h.Method, bound, p, alpha)
				}
			}
			k := i // next distinct difference outwards
			for k >= 0 && k < len(diffs) && diffs[k] == bound {
				k -= inward
			}
			if k >= 0 && k < len(diffs) {
				if p := pAt((bound + diffs[k]) / 2); p >= alpha {
					t.Errorf("trial %d (%v): outside bound %v p = %v >= %v", trial, h.Method, bound, p, alpha)
				}
			}
		}
		check(h.Lower, +1)
		check(h.Upper, -1)
	}
}

func TestHodgesLehmannOneSidedAndEdgeCases(t *testing.T) {
	r := newRand(7)
	x, y := make([]float64, 30), make([]float64, 40)
	for i := range x {
		x[i] = r.NormFloat64() + 1
	}
	for i := range y {
		y[i] = r.NormFloat64()
	}
	for _, mode := range []ExactMode{ExactAuto, ExactNever} {
		two, _ := HodgesLehmann(x, y, ShiftOptions{ConfLevel: 0.9, Exact: mode})
		g, _ := HodgesLehmann(x, y, ShiftOptions{ConfLevel: 0.95, Alternative: Greater, Exact: mode})
		l, _ := HodgesLehmann(x, y, ShiftOptions{ConfLevel: 0.95, Alternative: Less, Exact: mode})
		if g.Lower != two.Lower || !math.IsInf(g.Upper, 1) || l.Upper != two.Upper || !math.IsInf(l.Lower, -1) {
			t.Errorf("%v: one-sided 95%% bounds (%v, %v) differ from two-sided 90%% (%v, %v)",
				mode, g.Lower, l.Upper, two.Lower, two.Upper)
		}
		if !(two.Lower <= two.Estimate && two.Estimate <= two.Upper) {
			t.Errorf("estimate outside interval: %+v", two)
		}
	}

	// 2x2: qwilcox(0.025, 2, 2) = 0 is raised to 1, the interval is the
	// range of the differences, with achieved level 1 - 2/6: R warns that
	// the requested level is not achievable.
	h, err := HodgesLehmann([]float64{1, 2}, []float64{3, 5}, ShiftOptions{})
	mustNoErr(t, err)
	if h.Lower != -4 || h.Upper != -1 || h.Estimate != -2.5 || h.ConfLevelAchievable {
		t.Errorf("2x2: %+v", h)
	}
	near(t, "2x2 achieved", h.AchievedConfLevel, 4.0/6, 1e-15)

	// Inputs untouched, errors.
	xc := slices.Clone(x)
	_, _ = HodgesLehmann(x, y, ShiftOptions{})
	if !slices.Equal(x, xc) {
		t.Error("input modified")
	}
	for _, o := range []ShiftOptions{{ConfLevel: 1}, {ConfLevel: -0.5}, {ConfLevel: math.NaN()}, {Alternative: 9}, {Exact: 9}} {
		if _, err := HodgesLehmann(x, y, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if _, err := HodgesLehmann(x, []float64{math.NaN()}, ShiftOptions{}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN: %v", err)
	}
}

func TestShiftEstimateJSON(t *testing.T) {
	h, err := HodgesLehmann(chorioX, chorioY, ShiftOptions{Alternative: Greater})
	mustNoErr(t, err)
	b, err := json.Marshal(h)
	mustNoErr(t, err)
	var back ShiftEstimate
	mustNoErr(t, json.Unmarshal(b, &back))
	if back != h {
		t.Errorf("round trip:\n%+v\n%+v\n%s", h, back, b)
	}
	var m map[string]any
	mustNoErr(t, json.Unmarshal(b, &m))
	if m["upper"] != nil || m["method"] != "exact" || m["alternative"] != "greater" {
		t.Errorf("wire form %s", b)
	}
}

// TestHodgesLehmannLargeSamples runs a size whose n1*n2 differences could
// not reasonably be materialised (2.5e9 pairs = 20 GB) and checks the
// estimate and the coverage of a known shift.
func TestHodgesLehmannLargeSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("large sample")
	}
	r := newRand(8)
	const n = 50_000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i] = r.ExpFloat64() + 3
		y[i] = r.ExpFloat64()
	}
	start := time.Now()
	h, err := HodgesLehmann(x, y, ShiftOptions{})
	mustNoErr(t, err)
	t.Logf("%dx%d: %+v in %v", n, n, h, time.Since(start))
	if !(h.Lower < 3 && 3 < h.Upper) || h.Upper-h.Lower > 0.04 || math.Abs(h.Estimate-3) > 0.02 {
		t.Errorf("shift 3 not recovered: %+v", h)
	}
}
