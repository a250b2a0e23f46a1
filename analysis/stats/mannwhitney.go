package stats

import (
	"fmt"
	"math"
	"slices"
)

// MannWhitneyOptions configures MannWhitney. The zero value is R's default
// wilcox.test(x, y): two-sided, exact when small and untied, continuity
// correction on, mu = 0.
type MannWhitneyOptions struct {
	// Alternative hypothesis; see Alternative.
	Alternative Alternative `json:"alternative"`
	// Exact selects the exact or the normal method; see ExactMode.
	Exact ExactMode `json:"exact"`
	// Mu is the shift under the null hypothesis: the test compares x - Mu
	// with y (R's mu). It must be finite.
	Mu float64 `json:"mu"`
	// NoCorrection disables the continuity correction of the normal
	// approximation (R's correct = FALSE).
	NoCorrection bool `json:"no_correction,omitempty"`
	// Cache keeps exact distributions between calls; nil builds them afresh.
	Cache *DistCache `json:"-"`
}

// MannWhitneyResult is the outcome of a Mann-Whitney U (Wilcoxon rank-sum)
// test of x against y.
type MannWhitneyResult struct {
	// W is R's statistic: the U statistic of x, i.e. the rank sum of x - Mu in
	// the pooled sample minus n1(n1+1)/2, which equals
	// #{x_i - Mu > y_j} + ½·#{x_i - Mu = y_j}. It is what R prints as "W".
	W float64 `json:"w"`
	// U is the classic tabulated statistic min(W, n1*n2 - W).
	U float64 `json:"u"`
	// AUC is W / (n1*n2), the estimated probability that an observation of
	// x - Mu exceeds one of y (ties counting ½): 0.5 means no shift.
	AUC float64 `json:"auc"`
	// PValue for the requested alternative.
	PValue float64 `json:"p_value"`
	// Z is the standardised statistic of the normal approximation, after
	// the continuity correction; 0 when Method is MethodExact.
	Z float64 `json:"z"`
	// Method actually used. MethodNormal can result from ExactAuto or
	// ExactAlways when the data have ties or the samples are large.
	Method Method `json:"method"`
	// Alternative tested.
	Alternative Alternative `json:"alternative"`
	// Ties reports whether the pooled sample (x - Mu, y) has tied values.
	Ties bool `json:"ties"`
	// N1 and N2 are the sizes of x and y.
	N1 int `json:"n1"`
	N2 int `json:"n2"`
}

// MannWhitney performs the two-sample Mann-Whitney U test (Wilcoxon
// rank-sum test) of x against y, following R's wilcox.test(x, y, ...)
// conventions:
//
//   - W is the U statistic of x (see MannWhitneyResult.W).
//   - Exact p-values come from the exact distribution of U, built by dynamic
//     programming; they require untied data (as in R) and are used under
//     ExactAuto when both samples have fewer than 50 observations.
//   - Otherwise the normal approximation with mean n1*n2/2 and the
//     tie-corrected variance
//     n1*n2/12 * ((n+1) - Σ(t³-t)/(n(n-1))), n = n1+n2, t = tie-group sizes,
//     with continuity correction ±0.5 towards the mean (two-sided), -0.5
//     (greater) or +0.5 (less), unless NoCorrection.
//   - The two-sided exact p-value doubles the smaller tail, capped at 1.
//
// Ties get midranks, which is what makes W count ties as ½; they disable the
// exact method and shrink the variance. When every observation is tied
// (variance zero) the p-value is 1 (R returns NaN in the two-sided case).
//
// Both samples must be non-empty and finite (use Clean first); neither is
// modified. The call allocates one scratch buffer of n1+n2 floats; the exact
// distribution is cached per (n1, n2).
func MannWhitney(x, y []float64, opts MannWhitneyOptions) (MannWhitneyResult, error) {
	if err := checkSamples(x, y); err != nil {
		return MannWhitneyResult{}, err
	}
	if !opts.Alternative.valid() {
		return MannWhitneyResult{}, invalidf("alternative %v", opts.Alternative)
	}
	if !opts.Exact.valid() {
		return MannWhitneyResult{}, invalidf("exact mode %v", opts.Exact)
	}
	if math.IsNaN(opts.Mu) || math.IsInf(opts.Mu, 0) {
		return MannWhitneyResult{}, invalidf("mu %v is not finite", opts.Mu)
	}
	n1, n2 := len(x), len(y)
	buf := make([]float64, n1+n2)
	xs, ys := buf[:n1], buf[n1:]
	for i, v := range x {
		xs[i] = v - opts.Mu
	}
	copy(ys, y)
	slices.Sort(xs)
	slices.Sort(ys)
	w, tieSum := rankSumU(xs, ys)

	res := MannWhitneyResult{
		W:           w,
		Alternative: opts.Alternative,
		Ties:        tieSum > 0,
		N1:          n1,
		N2:          n2,
	}
	nn := float64(n1) * float64(n2)
	res.U = math.Min(w, nn-w)
	res.AUC = w / nn

	if useExact(opts.Exact, n1, n2, res.Ties) {
		res.Method = MethodExact
		d := opts.Cache.exactDist(n1, n2)
		q := int(w) // integral without ties
		switch opts.Alternative {
		case Greater:
			res.PValue = d.sfAt(q)
		case Less:
			res.PValue = d.cdfAt(q)
		default:
			var p float64
			if w > nn/2 {
				p = d.sfAt(q)
			} else {
				p = d.cdfAt(q)
			}
			res.PValue = math.Min(2*p, 1)
		}
		return res, nil
	}

	res.Method = MethodNormal
	sigma := uSigma(n1, n2, tieSum)
	dz := w - nn/2
	if sigma == 0 { // every observation tied: no evidence either way
		res.PValue = 1
		return res, nil
	}
	z := (dz - continuity(opts.Alternative, dz, !opts.NoCorrection)) / sigma
	res.Z = z
	switch opts.Alternative {
	case Greater:
		res.PValue = normalSF(z)
	case Less:
		res.PValue = normalCDF(z)
	default:
		res.PValue = math.Min(1, 2*math.Min(normalCDF(z), normalSF(z)))
	}
	return res, nil
}

// checkSamples rejects empty and non-finite samples.
func checkSamples(x, y []float64) error {
	if len(x) == 0 {
		return invalidSample("x")
	}
	if len(y) == 0 {
		return invalidSample("y")
	}
	if e := countNonFinite("x", x); e != nil {
		return e
	}
	if e := countNonFinite("y", y); e != nil {
		return e
	}
	return nil
}

func invalidSample(name string) error {
	return fmt.Errorf("%w: sample %s has no observations", ErrEmptySample, name)
}

// useExact applies the ExactMode policy.
func useExact(mode ExactMode, n1, n2 int, ties bool) bool {
	if ties {
		return false
	}
	switch mode {
	case ExactAuto:
		return n1 < 50 && n2 < 50
	case ExactAlways:
		return n1*n2 <= MaxExactPairs
	default:
		return false
	}
}

// rankSumU walks the sorted samples once, tie group by tie group, and
// returns the U statistic of xs (#{x > y} + ½#{x = y}, identical to R's rank
// sum of x minus n1(n1+1)/2 under midranks) and Σ(t³ - t) over the tie
// groups of the pooled sample.
func rankSumU(xs, ys []float64) (w, tieSum float64) {
	i, j := 0, 0
	for i < len(xs) || j < len(ys) {
		var v float64
		switch {
		case i == len(xs):
			v = ys[j]
		case j == len(ys):
			v = xs[i]
		default:
			v = min(xs[i], ys[j])
		}
		cx, cy := 0, 0
		for i+cx < len(xs) && xs[i+cx] == v {
			cx++
		}
		for j+cy < len(ys) && ys[j+cy] == v {
			cy++
		}
		// each of the cx x's beats the j smaller y's and ties with cy.
		w += float64(cx) * (float64(j) + 0.5*float64(cy))
		if t := float64(cx + cy); t > 1 {
			tieSum += t*t*t - t
		}
		i += cx
		j += cy
	}
	return w, tieSum
}

// tieSumOf returns Σ(t³ - t) over the tie groups of one sorted sample.
func tieSumOf(sorted []float64) float64 {
	var s float64
	for i := 0; i < len(sorted); {
		k := i + 1
		for k < len(sorted) && sorted[k] == sorted[i] {
			k++
		}
		if t := float64(k - i); t > 1 {
			s += t*t*t - t
		}
		i = k
	}
	return s
}

// uSigma is the standard deviation of U under H0 with the tie correction.
func uSigma(n1, n2 int, tieSum float64) float64 {
	a, b := float64(n1), float64(n2)
	n := a + b
	v := a * b / 12 * ((n + 1) - tieSum/(n*(n-1)))
	if v <= 0 {
		return 0
	}
	return math.Sqrt(v)
}

// continuity returns R's continuity correction for the centred statistic
// dz = W - n1*n2/2.
func continuity(alt Alternative, dz float64, on bool) float64 {
	if !on {
		return 0
	}
	switch alt {
	case Greater:
		return 0.5
	case Less:
		return -0.5
	default:
		switch {
		case dz > 0:
			return 0.5
		case dz < 0:
			return -0.5
		}
		return 0
	}
}
