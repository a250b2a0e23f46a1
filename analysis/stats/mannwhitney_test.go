package stats

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// Published two-sample examples with known W and p-values.
var (
	// Hollander & Wolfe (1973) p. 69, Example 4.1, permeability of the
	// human chorioamnion; R's ?wilcox.test example. Term (x) vs 12-26 weeks.
	chorioX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	chorioY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	// Hollander & Wolfe depression ratings (paired in R's docs, used here as
	// two independent samples, as in the CAMIS/SAS comparison).
	deprX = []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	deprY = []float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}
	// R's airquality data set, Ozone in May (Month 5) and August (Month 8)
	// with NAs removed; R's ?wilcox.test formula example.
	ozoneMay = []float64{41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37}
	ozoneAug = []float64{39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85}
)

func TestMannWhitneyPublishedExamples(t *testing.T) {
	cases := []struct {
		name   string
		x, y   []float64
		opts   MannWhitneyOptions
		w, p   float64
		tol    float64 // absolute tolerance on p, from the published digits
		method Method
	}{
		{
			// R: wilcox.test(x, y, alternative = "g") -> W = 35,
			// p-value = 0.1272 (0.1272061 in Geyer's Stat 5601 notes
			// via pwilcox).
			name: "chorioamnion exact greater", x: chorioX, y: chorioY,
			opts: MannWhitneyOptions{Alternative: Greater},
			w:    35, p: 0.1272061, tol: 5e-8, method: MethodExact,
		},
		{
			// R: wilcox.test(x, y, alternative = "greater", exact = FALSE,
			// correct = FALSE) -> p-value = 0.1103 (the "H&W large sample
			// approximation" of the R example).
			name: "chorioamnion normal uncorrected", x: chorioX, y: chorioY,
			opts: MannWhitneyOptions{Alternative: Greater, Exact: ExactNever, NoCorrection: true},
			w:    35, p: 0.1103, tol: 5e-5, method: MethodNormal,
		},
		{
			// R: x <- c(1,5,9,24,56,21,3,7,21,4);
			// y <- c(12,15,5,9,9,14,56,22,3,7,32,5); wilcox.test(x, y)
			// -> "with continuity correction", W = 51.5, p-value = 0.5966.
			name: "ties, normal corrected", x: []float64{1, 5, 9, 24, 56, 21, 3, 7, 21, 4},
			y: []float64{12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5},
			w: 51.5, p: 0.5966, tol: 5e-5, method: MethodNormal,
		},
		{
			// Same x, y <- c(1233,4356,987,39999,1111,200000)
			// -> W = 0, p-value = 0.001364 (ties within x).
			name: "ties within x, W = 0", x: []float64{1, 5, 9, 24, 56, 21, 3, 7, 21, 4},
			y: []float64{1233, 4356, 987, 39999, 1111, 200000},
			w: 0, p: 0.001364, tol: 5e-7, method: MethodNormal,
		},
		{
			// R: wilcox.test(Ozone ~ Month, data = airquality,
			// subset = Month %in% c(5, 8)) -> W = 127.5, p-value = 0.0001208.
			name: "airquality May vs August", x: ozoneMay, y: ozoneAug,
			w: 127.5, p: 0.0001208, tol: 5e-8, method: MethodNormal,
		},
		{
			// SciPy's mannwhitneyu documentation: males [19,22,16,29,24] vs
			// females [20,11,17,12]: U1 = 17, exact p = 0.1111111111111111.
			name: "scipy exact", x: []float64{19, 22, 16, 29, 24}, y: []float64{20, 11, 17, 12},
			w: 17, p: 0.1111111111111111, tol: 1e-15, method: MethodExact,
		},
		{
			// Same, method="asymptotic" (continuity correction):
			// p = 0.11134688653314041.
			name: "scipy asymptotic", x: []float64{19, 22, 16, 29, 24}, y: []float64{20, 11, 17, 12},
			opts: MannWhitneyOptions{Exact: ExactNever},
			w:    17, p: 0.11134688653314041, tol: 1e-15, method: MethodNormal,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := MannWhitney(c.x, c.y, c.opts)
			mustNoErr(t, err)
			near(t, "W", r.W, c.w, 0)
			near(t, "p", r.PValue, c.p, c.tol)
			if r.Method != c.method {
				t.Errorf("method %v, want %v", r.Method, c.method)
			}
			near(t, "U", r.U, math.Min(c.w, float64(len(c.x)*len(c.y))-c.w), 0)
			if r.N1 != len(c.x) || r.N2 != len(c.y) {
				t.Errorf("sizes %d, %d", r.N1, r.N2)
			}
		})
	}
}

// TestMannWhitneyExactMatchesPermutation compares the exact branch with a
// brute-force permutation test over every split of the pooled data.
func TestMannWhitneyExactMatchesPermutation(t *testing.T) {
	r := newRand(1)
	for trial := 0; trial < 60; trial++ {
		m, n := 1+r.IntN(7), 1+r.IntN(7)
		seen := map[float64]bool{}
		x, y := distinctSample(r, m, seen), distinctSample(r, n, seen)
		if trial%3 == 0 { // shift to get small p-values too
			for i := range x {
				x[i] += 1000
			}
		}
		for _, alt := range []Alternative{TwoSided, Less, Greater} {
			res, err := MannWhitney(x, y, MannWhitneyOptions{Alternative: alt})
			mustNoErr(t, err)
			if res.Method != MethodExact {
				t.Fatalf("method %v", res.Method)
			}
			want := permutationP(x, y, alt)
			if math.Abs(res.PValue-want) > 1e-14 {
				t.Fatalf("%dx%d %v: p = %v, permutation %v (x=%v y=%v)", m, n, alt, res.PValue, want, x, y)
			}
		}
	}
}

// TestMannWhitneyNormalAgainstRanks recomputes the normal branch from its
// textbook definition: midranks by an O(n^2) count, rank-sum W, the tie
// correction from explicit tie counts.
func TestMannWhitneyNormalAgainstRanks(t *testing.T) {
	r := newRand(2)
	for trial := 0; trial < 40; trial++ {
		m, n := 1+r.IntN(30), 2+r.IntN(30)
		x, y := make([]float64, m), make([]float64, n)
		for i := range x {
			x[i] = float64(r.IntN(12)) // heavy ties
		}
		for i := range y {
			y[i] = float64(r.IntN(12)) + 0.5*float64(r.IntN(2))
		}
		pooled := append(slices.Clone(x), y...)
		rank := func(v float64) float64 { // midrank of value v in pooled
			less, eq := 0, 0
			for _, p := range pooled {
				if p < v {
					less++
				} else if p == v {
					eq++
				}
			}
			return float64(less) + float64(eq+1)/2
		}
		var rs float64
		for _, v := range x {
			rs += rank(v)
		}
		w := rs - float64(m*(m+1))/2
		var ties float64
		for i, v := range pooled {
			if slices.Index(pooled, v) != i {
				continue // count each tie group once
			}
			c := 0
			for _, p := range pooled {
				if p == v {
					c++
				}
			}
			ties += float64(c*c*c - c)
		}
		N := float64(m + n)
		sigma := math.Sqrt(float64(m*n) / 12 * ((N + 1) - ties/(N*(N-1))))
		dz := w - float64(m*n)/2
		for _, alt := range []Alternative{TwoSided, Less, Greater} {
			res, err := MannWhitney(x, y, MannWhitneyOptions{Alternative: alt, Exact: ExactNever})
			mustNoErr(t, err)
			near(t, "W vs rank sum", res.W, w, 1e-9)
			near(t, "W vs pair count", res.W, naiveW(x, y), 0)
			if sigma == 0 {
				near(t, "p all tied", res.PValue, 1, 0)
				continue
			}
			var corr float64
			switch {
			case alt == Greater:
				corr = 0.5
			case alt == Less:
				corr = -0.5
			case dz > 0:
				corr = 0.5
			case dz < 0:
				corr = -0.5
			}
			z := (dz - corr) / sigma
			want := map[Alternative]float64{
				Less:     normalCDF(z),
				Greater:  1 - normalCDF(z),
				TwoSided: 2 * math.Min(normalCDF(z), 1-normalCDF(z)),
			}[alt]
			near(t, "p normal", res.PValue, want, 1e-12)
			near(t, "z", res.Z, z, 1e-12)
		}
	}
}

func TestMannWhitneyProperties(t *testing.T) {
	r := newRand(3)
	x, y := make([]float64, 23), make([]float64, 31)
	for i := range x {
		x[i] = math.Round(r.ExpFloat64()*100) / 10
	}
	for i := range y {
		y[i] = math.Round(r.ExpFloat64()*80) / 10
	}
	xc, yc := slices.Clone(x), slices.Clone(y)
	for _, mode := range []ExactMode{ExactAuto, ExactNever} {
		a, err := MannWhitney(x, y, MannWhitneyOptions{Alternative: Greater, Exact: mode})
		mustNoErr(t, err)
		b, err := MannWhitney(y, x, MannWhitneyOptions{Alternative: Less, Exact: mode})
		mustNoErr(t, err)
		near(t, "W(x,y) + W(y,x)", a.W+b.W, float64(len(x)*len(y)), 0)
		near(t, "p greater(x,y) = p less(y,x)", a.PValue, b.PValue, 1e-15)
		near(t, "AUC", a.AUC+b.AUC, 1, 1e-15)
	}
	if !slices.Equal(x, xc) || !slices.Equal(y, yc) {
		t.Error("inputs modified")
	}
	// Mu shifts x.
	shifted := make([]float64, len(x))
	for i, v := range x {
		shifted[i] = v - 0.75
	}
	a, _ := MannWhitney(x, y, MannWhitneyOptions{Mu: 0.75})
	b, _ := MannWhitney(shifted, y, MannWhitneyOptions{})
	if a != b {
		t.Errorf("Mu: %+v vs shifted %+v", a, b)
	}
	// Every observation tied: no evidence, p = 1, for each alternative.
	for _, alt := range []Alternative{TwoSided, Less, Greater} {
		res, err := MannWhitney([]float64{3, 3, 3}, []float64{3, 3}, MannWhitneyOptions{Alternative: alt})
		mustNoErr(t, err)
		if res.PValue != 1 || res.W != 3 || !res.Ties || res.Method != MethodNormal {
			t.Errorf("all tied, %v: %+v", alt, res)
		}
	}
	// ExactAlways goes beyond R's < 50 rule but not beyond MaxExactPairs.
	big := make([]float64, 60)
	for i := range big {
		big[i] = float64(i) + 0.5
	}
	small := []float64{1, 2, 3, 4, 70, 80}
	if res, _ := MannWhitney(big, small, MannWhitneyOptions{}); res.Method != MethodNormal {
		t.Error("ExactAuto with n1 = 60 must use the normal approximation")
	}
	if res, _ := MannWhitney(big, small, MannWhitneyOptions{Exact: ExactAlways}); res.Method != MethodExact {
		t.Error("ExactAlways with 60x6 must be exact")
	}
	if res, _ := MannWhitney(big, append(slices.Clone(big[:59]), 1000), MannWhitneyOptions{Exact: ExactAlways}); res.Method != MethodNormal {
		t.Error("ExactAlways with ties must fall back to the normal approximation")
	}
	if res, _ := MannWhitney([]float64{1, 2}, []float64{3, 4}, MannWhitneyOptions{Exact: ExactNever}); res.Method != MethodNormal {
		t.Error("ExactNever")
	}
	// Hand-derived: x = {1,2}, y = {3,4}: W = 0, P(U <= 0) = 1/6.
	res, _ := MannWhitney([]float64{1, 2}, []float64{3, 4}, MannWhitneyOptions{})
	near(t, "two-sided 2x2", res.PValue, 2.0/6, 1e-15)
	res, _ = MannWhitney([]float64{1, 2}, []float64{3, 4}, MannWhitneyOptions{Alternative: Greater})
	near(t, "greater 2x2", res.PValue, 1, 1e-15)
}

func TestMannWhitneyErrors(t *testing.T) {
	_, err := MannWhitney(nil, []float64{1}, MannWhitneyOptions{})
	if !errors.Is(err, ErrEmptySample) {
		t.Errorf("empty x: %v", err)
	}
	_, err = MannWhitney([]float64{1}, []float64{}, MannWhitneyOptions{})
	if !errors.Is(err, ErrEmptySample) {
		t.Errorf("empty y: %v", err)
	}
	_, err = MannWhitney([]float64{1, math.NaN(), math.Inf(1)}, []float64{1}, MannWhitneyOptions{})
	var nf *NonFiniteError
	if !errors.Is(err, ErrNonFinite) || !errors.As(err, &nf) || nf.NaN != 1 || nf.PosInf != 1 || nf.Sample != "x" {
		t.Errorf("non-finite: %v", err)
	}
	for _, o := range []MannWhitneyOptions{{Alternative: 7}, {Exact: -1}, {Mu: math.NaN()}} {
		if _, err := MannWhitney([]float64{1}, []float64{2}, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
