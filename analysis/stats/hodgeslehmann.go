package stats

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
)

// ShiftOptions configures HodgesLehmann. The zero value asks for R's
// wilcox.test(x, y, conf.int = TRUE) defaults: a two-sided 95% interval,
// exact when small and untied, continuity correction on.
type ShiftOptions struct {
	// ConfLevel is the confidence level in (0, 1); 0 means 0.95.
	ConfLevel float64 `json:"conf_level"`
	// Alternative selects a two-sided interval or a one-sided bound:
	// Greater gives [lower, +Inf), Less gives (-Inf, upper].
	Alternative Alternative `json:"alternative"`
	// Exact selects the exact or the normal method, as for MannWhitney.
	Exact ExactMode `json:"exact"`
	// NoCorrection disables the continuity correction of the normal
	// interval (R's correct = FALSE).
	NoCorrection bool `json:"no_correction,omitempty"`
	// Cache keeps exact distributions between calls; nil builds them afresh.
	Cache *DistCache `json:"-"`
}

// ShiftEstimate is the Hodges-Lehmann estimate of the location shift of x
// relative to y with its distribution-free confidence interval.
type ShiftEstimate struct {
	// Estimate is the median of the n1*n2 pairwise differences x_i - y_j.
	Estimate float64
	// Lower and Upper bound the interval; one of them is infinite for a
	// one-sided interval (encoded as null in JSON).
	Lower, Upper float64
	// ConfLevel is the requested confidence level.
	ConfLevel float64
	// AchievedConfLevel is the exact coverage 1 - achieved alpha of the
	// interval under the continuous shift model (exact method), or
	// ConfLevel (normal method). The exact distribution is discrete, so
	// the exact interval is conservative: AchievedConfLevel >= ConfLevel
	// except when even the widest interval cannot reach it (tiny samples).
	AchievedConfLevel float64
	// ConfLevelAchievable is false when R would warn "requested conf.level
	// not achievable", i.e. the achieved alpha exceeds 1.5 times the
	// requested alpha (only possible for tiny samples). R then reports
	// AchievedConfLevel as the interval's level.
	ConfLevelAchievable bool
	// Method used for the interval.
	Method Method
	// Alternative of the interval.
	Alternative Alternative
	// N1 and N2 are the sizes of x and y.
	N1, N2 int
}

// shiftEstimateJSON is the wire form; infinite bounds become null.
type shiftEstimateJSON struct {
	Estimate            float64     `json:"estimate"`
	Lower               *float64    `json:"lower"`
	Upper               *float64    `json:"upper"`
	ConfLevel           float64     `json:"conf_level"`
	AchievedConfLevel   float64     `json:"achieved_conf_level"`
	ConfLevelAchievable bool        `json:"conf_level_achievable"`
	Method              Method      `json:"method"`
	Alternative         Alternative `json:"alternative"`
	N1                  int         `json:"n1"`
	N2                  int         `json:"n2"`
}

// MarshalJSON encodes infinite interval bounds as null, which
// encoding/json could not otherwise represent.
func (s ShiftEstimate) MarshalJSON() ([]byte, error) {
	finite := func(v float64) *float64 {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(shiftEstimateJSON{
		Estimate: s.Estimate, Lower: finite(s.Lower), Upper: finite(s.Upper),
		ConfLevel: s.ConfLevel, AchievedConfLevel: s.AchievedConfLevel,
		ConfLevelAchievable: s.ConfLevelAchievable, Method: s.Method,
		Alternative: s.Alternative, N1: s.N1, N2: s.N2,
	})
}

// UnmarshalJSON reverses MarshalJSON: a null lower bound is -Inf, a null
// upper bound +Inf.
func (s *ShiftEstimate) UnmarshalJSON(b []byte) error {
	var w shiftEstimateJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = ShiftEstimate{
		Estimate: w.Estimate, Lower: math.Inf(-1), Upper: math.Inf(1),
		ConfLevel: w.ConfLevel, AchievedConfLevel: w.AchievedConfLevel,
		ConfLevelAchievable: w.ConfLevelAchievable, Method: w.Method,
		Alternative: w.Alternative, N1: w.N1, N2: w.N2,
	}
	if w.Lower != nil {
		s.Lower = *w.Lower
	}
	if w.Upper != nil {
		s.Upper = *w.Upper
	}
	return nil
}

// HodgesLehmann estimates the shift of x relative to y as the median of all
// pairwise differences x_i - y_j and computes the distribution-free (Moses)
// confidence interval obtained by inverting the Mann-Whitney test, as R's
// wilcox.test(x, y, conf.int = TRUE) does:
//
//   - Exact method (no ties, small samples as for MannWhitney): with
//     q = qwilcox(alpha/2, n1, n2) (at least 1), the interval is
//     [D(q), D(n1*n2 - q + 1)], D(k) being the k-th smallest difference.
//     One-sided intervals use qwilcox(alpha) on their side. These are R's
//     order statistics exactly.
//   - Normal method: the bounds are the shifts d at which the
//     continuity-corrected, tie-corrected z statistic of x - d against y
//     crosses the normal quantile. R finds them with uniroot (tolerance
//     1e-4); here the crossing is located exactly on the order statistics,
//     so the bounds are pairwise differences and agree with R to within
//     R's root-finding tolerance.
//
// The point estimate is always the median of the differences (the mean of
// the two middle ones when n1*n2 is even). R reports the same value in the
// exact case; in the normal case R reports a root of the uncorrected
// statistic, which is within 1e-4 of the median for odd n1*n2 and some point
// between the two middle differences for even n1*n2.
//
// Nothing of size n1*n2 is materialised: order statistics of the implicit
// sorted matrix of differences are found by sampling-based selection in
// O((n1+n2) log(n1*n2)) time and O(n1+n2) memory, so there is no size limit
// beyond time: 2x60 observations take tens of microseconds, 2x200,000
// (4e10 differences) well under a second.
//
// Both samples must be non-empty and finite; neither is modified.
func HodgesLehmann(x, y []float64, opts ShiftOptions) (ShiftEstimate, error) {
	if err := checkSamples(x, y); err != nil {
		return ShiftEstimate{}, err
	}
	conf := opts.ConfLevel
	if conf == 0 {
		conf = 0.95
	}
	if !(conf > 0 && conf < 1) {
		return ShiftEstimate{}, invalidf("confidence level %v not in (0, 1)", opts.ConfLevel)
	}
	if !opts.Alternative.valid() {
		return ShiftEstimate{}, invalidf("alternative %v", opts.Alternative)
	}
	if !opts.Exact.valid() {
		return ShiftEstimate{}, invalidf("exact mode %v", opts.Exact)
	}
	n1, n2 := len(x), len(y)
	m := newDiffMatrix(x, y)
	nn := n1 * n2

	res := ShiftEstimate{
		Lower:       math.Inf(-1),
		Upper:       math.Inf(1),
		ConfLevel:   conf,
		Alternative: opts.Alternative,
		N1:          n1,
		N2:          n2,
	}
	if nn%2 == 1 {
		res.Estimate = m.kth((nn + 1) / 2)
	} else {
		// the mean of the two middle order statistics; halves first so
		// that huge values cannot overflow.
		res.Estimate = m.kth(nn/2)/2 + m.kth(nn/2+1)/2
	}

	alpha := 1 - conf
	_, tieSum := rankSumU(m.x, m.y)
	if useExact(opts.Exact, n1, n2, tieSum > 0) {
		res.Method = MethodExact
		d := opts.Cache.exactDist(n1, n2)
		a := alpha
		if opts.Alternative == TwoSided {
			a = alpha / 2
		}
		q := max(d.quantile(a), 1)
		achieved := d.cdfAt(q - 1)
		if opts.Alternative == TwoSided {
			achieved *= 2
		}
		if opts.Alternative != Less {
			res.Lower = m.kth(q)
		}
		if opts.Alternative != Greater {
			res.Upper = m.kth(nn - q + 1)
		}
		res.AchievedConfLevel = 1 - achieved
		res.ConfLevelAchievable = !(achieved-alpha > alpha/2)
		return res, nil
	}

	// Normal method. For d strictly between two consecutive distinct
	// differences the pooled sample (x - d, y) has no ties across samples,
	// so the variance only sees the ties within x and within y.
	res.Method = MethodNormal
	res.AchievedConfLevel = conf
	res.ConfLevelAchievable = true
	sigma := uSigma(n1, n2, tieSumOf(m.x)+tieSumOf(m.y))
	if sigma == 0 {
		return ShiftEstimate{}, invalidf("all observations tied: no confidence interval")
	}
	// z(w) is the corrected statistic as a function of the count w of
	// differences above d; for d in (D(k), D(k+1)) w = nn - k. The bound
	// for a quantile zq is D(k) for the smallest k with z(nn - k) < zq:
	// that is where z(d) - zq changes sign, the root R's uniroot finds.
	half := float64(nn) / 2
	z := func(w float64) float64 {
		dz := w - half
		return (dz - continuity(opts.Alternative, dz, !opts.NoCorrection)) / sigma
	}
	root := func(zq float64) float64 {
		k := sort.Search(nn+1, func(k int) bool { return z(float64(nn-k)) < zq })
		return m.kth(min(max(k, 1), nn))
	}
	switch opts.Alternative {
	case TwoSided:
		res.Lower = root(normalQuantile(1 - alpha/2))
		res.Upper = root(normalQuantile(alpha / 2))
	case Greater:
		res.Lower = root(normalQuantile(1 - alpha))
	case Less:
		res.Upper = root(normalQuantile(alpha))
	}
	return res, nil
}

// diffMatrix is the implicit n1 x n2 matrix of pairwise differences
// x_i - y_j with x ascending along rows and y descending along columns, so
// that it is sorted along both axes. Floating-point subtraction is
// monotone, so the computed differences are sorted too and every order
// statistic it returns is bit-identical to sorting all computed differences.
type diffMatrix struct {
	x, y   []float64 // sorted ascending copies
	lo, hi []int     // per row, the candidate columns [lo, hi)
	cnt    []int     // per row count scratch
	pre    []int     // per row cumulative candidate counts
	sample []float64 // pivot sample
	pool   []float64 // candidates gathered for the final selection
	state  uint64    // splitmix64 state for sampling
}

func newDiffMatrix(x, y []float64) *diffMatrix {
	n1, n2 := len(x), len(y)
	buf := make([]float64, n1+n2)
	xs, ys := buf[:n1:n1], buf[n1:]
	copy(xs, x)
	copy(ys, y)
	slices.Sort(xs)
	slices.Sort(ys)
	ints := make([]int, 4*n1)
	return &diffMatrix{
		x: xs, y: ys,
		lo:    ints[:n1:n1],
		hi:    ints[n1 : 2*n1 : 2*n1],
		cnt:   ints[2*n1 : 3*n1 : 3*n1],
		pre:   ints[3*n1:],
		state: uint64(n1)<<32 ^ uint64(n2),
	}
}

// at returns the element in row i, column c.
func (m *diffMatrix) at(i, c int) float64 { return m.x[i] - m.y[len(m.y)-1-c] }

// countBelow stores in m.cnt[i] the number of elements of row i that are
// < p (strict) or <= p, and returns the total. Rows are sorted and the
// counts do not increase down the rows, so one staircase walk suffices:
// O(n1 + n2).
func (m *diffMatrix) countBelow(p float64, strict bool) int {
	c, total := len(m.y), 0
	for i := range m.x {
		for c > 0 {
			v := m.at(i, c-1)
			if v < p || (!strict && v == p) {
				break
			}
			c--
		}
		m.cnt[i] = c
		total += c
	}
	return total
}

// keepBelow drops the candidates at or right of the counts in m.cnt.
func (m *diffMatrix) keepBelow() {
	for i, c := range m.cnt {
		m.hi[i] = min(m.hi[i], c)
	}
}

// keepAbove drops the candidates left of the counts in m.cnt.
func (m *diffMatrix) keepAbove() {
	for i, c := range m.cnt {
		m.lo[i] = max(m.lo[i], c)
	}
}

func (m *diffMatrix) rand() uint64 {
	m.state += 0x9e3779b97f4a7c15
	z := m.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// kth returns the k-th smallest difference, 1 <= k <= n1*n2.
//
// Candidates are kept as one column range per row; everything left of a
// range is known to be below the answer and everything right of it above.
// Each round (Floyd-Rivest style) draws a random sample of candidates,
// takes two sample order statistics bracketing the answer's expected
// position, counts the elements below each over the whole matrix (two
// staircase walks each) and discards the candidates outside the bracket.
// With s sampled candidates a round keeps about 2/sqrt(s) of them, so a few
// rounds of O(n1+n2) work suffice; then the few remaining candidates are
// gathered and the answer picked by quickselect. The sample only affects
// speed, never the result.
func (m *diffMatrix) kth(k int) float64 {
	n1, n2 := len(m.x), len(m.y)
	for i := range m.lo {
		m.lo[i], m.hi[i] = 0, n2
	}
	threshold := max(256, n1+n2)
	s := min(1024, max(16, (n1+n2)/2)) // sample size
	if cap(m.pool) < threshold {
		m.pool = make([]float64, 0, threshold)
	}
	if cap(m.sample) < s {
		m.sample = make([]float64, 0, s)
	}
	g := 1
	for g*g < s { // bracket half-width ~ sqrt(s)
		g++
	}
	for {
		left, cands := 0, 0
		for i := range m.lo {
			left += m.lo[i]
			cands += m.hi[i] - m.lo[i]
			m.pre[i] = cands
		}
		if cands <= threshold {
			m.pool = m.pool[:0]
			for i := range m.lo {
				for c := m.lo[i]; c < m.hi[i]; c++ {
					m.pool = append(m.pool, m.at(i, c))
				}
			}
			return selectKth(m.pool, k-left-1)
		}
		m.sample = m.sample[:0]
		for range s {
			r := int(m.rand() % uint64(cands))
			i := sort.SearchInts(m.pre, r+1) // first row with pre > r
			before := m.pre[i] - (m.hi[i] - m.lo[i])
			m.sample = append(m.sample, m.at(i, m.lo[i]+r-before))
		}
		pos := int(float64(k-left) / float64(cands) * float64(s))
		il, ih := max(pos-g, 0), min(pos+g, s-1)
		pl := selectKth(m.sample, il)
		ph := selectKth(m.sample[il:], ih-il) // everything from il on is >= pl

		if k <= m.countBelow(pl, true) { // answer < pl
			m.keepBelow()
			continue
		}
		if k <= m.countBelow(pl, false) { // answer == pl
			return pl
		}
		m.keepAbove()                    // answer > pl
		if k > m.countBelow(ph, false) { // answer > ph
			m.keepAbove()
			continue
		}
		if k > m.countBelow(ph, true) { // answer == ph
			return ph
		}
		m.keepBelow() // pl < answer < ph
	}
}

// selectKth reorders a partially so that a[k] (0-based) holds the value it
// would hold if a were sorted, and returns it: Hoare quickselect with a
// median-of-three pivot, expected O(len(a)). Values must not be NaN.
func selectKth(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		p := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		// a[lo..j] <= p, a[j+1..i-1] == p, a[i..hi] >= p
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	for i := lo + 1; i <= hi; i++ { // insertion sort of the short rest
		for j := i; j > lo && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	return a[k]
}
