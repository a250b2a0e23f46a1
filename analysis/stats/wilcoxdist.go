package stats

import (
	"slices"
	"sort"
	"sync"
)

// MaxExactPairs bounds n1*n2 for the exact null distribution of U. Building
// the distribution costs about (n1*n2)^2/4 additions and (n1*n2)*min(n1,n2)
// floats of scratch memory, so the bound (100x100) keeps the worst case near
// 25M additions and 8 MB. Beyond it the normal approximation is used,
// which at that size is within a few 1e-4 of the exact p-value.
const MaxExactPairs = 10000

// wilcoxDist is the exact null distribution of the Mann-Whitney statistic
// U = #{x_i > y_j} for untied samples of sizes m and n: every one of the
// C(m+n, m) assignments of ranks to the x sample is equally likely. It is
// immutable once built and may be shared through a DistCache.
type wilcoxDist struct {
	m, n int       // m <= n; the distribution is symmetric in (m, n)
	cdf  []float64 // cdf[u] = P(U <= u), u = 0..m*n
}

// newWilcoxDist builds the distribution by dynamic programming on the
// frequencies c(i, j, u) = number of arrangements of i x's and j y's with
// U = u. Conditioning on whether the largest observation is an x (it beats
// all j y's) or a y gives
//
//	c(i, j, u) = c(i-1, j, u-j) + c(i, j-1, u),  c(i, 0, ·) = c(0, j, ·) = δ₀.
//
// The recursion runs over j in the outer loop and keeps one polynomial per
// i <= m, with m the smaller sample. Only additions of non-negative numbers
// are involved, so float64 counts (up to C(200,100) ~ 9e58 here) carry a
// relative error of a few ulps, and tail probabilities are as accurate as
// the float64 format allows: small tails are sums of small counts.
func newWilcoxDist(m, n int) *wilcoxDist {
	if m > n {
		m, n = n, m
	}
	prev := make([][]float64, m+1) // c(i, j-1, ·)
	cur := make([][]float64, m+1)  // c(i, j, ·)
	for i := range prev {
		prev[i] = []float64{1}
	}
	for j := 1; j <= n; j++ {
		cur[0] = append(cur[0][:0], 1)
		for i := 1; i <= m; i++ {
			size := i*j + 1
			p := slices.Grow(cur[i][:0], size)[:size]
			clear(p)
			copy(p, prev[i])
			for u, v := range cur[i-1] {
				p[u+j] += v
			}
			cur[i] = p
		}
		prev, cur = cur, prev
	}
	counts := prev[m]
	var total float64
	for _, c := range counts {
		total += c
	}
	// Accumulate the lower half only and mirror it (U ~ mn - U): both
	// halves then carry the small absolute error of short sums, and the
	// stored distribution is exactly symmetric.
	mn := m * n
	cdf := make([]float64, mn+1)
	var acc float64
	for u := 0; 2*u < mn; u++ {
		acc += counts[u]
		cdf[u] = acc / total
	}
	for u := (mn + 1) / 2; u <= mn; u++ {
		if v := mn - u - 1; v >= 0 {
			cdf[u] = 1 - cdf[v]
		} else {
			cdf[u] = 1
		}
	}
	return &wilcoxDist{m: m, n: n, cdf: cdf}
}

// size returns m*n, the largest value of U.
func (d *wilcoxDist) size() int { return d.m * d.n }

// cdfAt returns P(U <= u) (R's pwilcox(u, m, n)).
func (d *wilcoxDist) cdfAt(u int) float64 {
	switch {
	case u < 0:
		return 0
	case u >= d.size():
		return 1
	}
	return d.cdf[u]
}

// sfAt returns P(U >= u) (R's pwilcox(u-1, m, n, lower.tail = FALSE)),
// computed through the symmetry U ~ mn - U so the upper tail keeps its
// relative precision.
func (d *wilcoxDist) sfAt(u int) float64 { return d.cdfAt(d.size() - u) }

// quantile mirrors R's qwilcox(p, m, n): the smallest q with P(U <= q) >= p,
// with R's fuzz of 10 machine epsilons and its upper-half branch, so that
// critical values (and hence confidence intervals) match R exactly.
func (d *wilcoxDist) quantile(p float64) int {
	const fuzz = 10 * 2.220446049250313e-16
	mn := d.size()
	if p <= 0.5 {
		p -= fuzz
		return sort.Search(mn+1, func(q int) bool { return d.cdf[q] >= p })
	}
	p = 1 - p + fuzz
	q := sort.Search(mn+1, func(q int) bool { return d.cdf[q] > p })
	if q > mn {
		q = mn
	}
	return mn - q
}

// DistCache memoises exact Wilcoxon distributions by (min, max) sample size: a
// canary judge sees the same sizes over and over, and building one takes
// milliseconds. It is safe for concurrent use and bounded; when full it is simply
// reset. A nil *DistCache builds every distribution afresh. The caller owns the
// cache (a judge holds one), so the package keeps no state of its own.
type DistCache struct {
	mu sync.Mutex
	m  map[[2]int]*wilcoxDist
}

// NewDistCache returns an empty cache.
func NewDistCache() *DistCache { return &DistCache{} }

const distCacheMax = 128

// exactDist returns the (possibly cached) distribution for sizes n1, n2.
// The distribution is built outside the lock: two goroutines may race to
// build the same one, which is harmless.
func (c *DistCache) exactDist(n1, n2 int) *wilcoxDist {
	key := [2]int{min(n1, n2), max(n1, n2)}
	if c == nil {
		return newWilcoxDist(key[0], key[1])
	}
	c.mu.Lock()
	d := c.m[key]
	c.mu.Unlock()
	if d != nil {
		return d
	}
	d = newWilcoxDist(key[0], key[1])
	c.mu.Lock()
	if c.m == nil || len(c.m) >= distCacheMax {
		c.m = make(map[[2]int]*wilcoxDist)
	}
	c.m[key] = d
	c.mu.Unlock()
	return d
}
