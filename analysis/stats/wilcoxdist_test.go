package stats

import (
	"math"
	"sync"
	"testing"
)

func TestWilcoxDistHandDerived(t *testing.T) {
	// m = n = 2: the 6 rank assignments of x give U = 0,1,2,2,3,4.
	d := newWilcoxDist(2, 2)
	want := []float64{1.0 / 6, 2.0 / 6, 4.0 / 6, 5.0 / 6, 1}
	for u, w := range want {
		near(t, "P(U<=u), 2x2", d.cdfAt(u), w, 1e-15)
	}
	// m = 1: U is uniform on 0..n.
	d = newWilcoxDist(1, 7)
	for u := 0; u <= 7; u++ {
		near(t, "P(U<=u), 1x7", d.cdfAt(u), float64(u+1)/8, 1e-15)
	}
	// m = 5, n = 4: P(U <= 3) = (1+1+2+3)/126 (partitions of 0..3 into at
	// most 4 parts of size <= 5), the tail of scipy's males/females example.
	near(t, "P(U<=3), 5x4", newWilcoxDist(5, 4).cdfAt(3), 7.0/126, 1e-15)
	// Out-of-range arguments.
	if d.cdfAt(-1) != 0 || d.cdfAt(100) != 1 || d.sfAt(0) != 1 || d.sfAt(8) != 0 {
		t.Error("cdfAt/sfAt outside the support")
	}
}

// TestWilcoxDistMatchesEnumeration checks the dynamic programme against
// brute-force enumeration of all C(m+n, m) rank assignments.
func TestWilcoxDistMatchesEnumeration(t *testing.T) {
	for m := 1; m <= 8; m++ {
		for n := 1; m+n <= 15; n++ {
			counts := enumerateU(m, n)
			var total float64
			for _, c := range counts {
				total += c
			}
			d := newWilcoxDist(m, n)
			var acc float64
			for u, c := range counts {
				acc += c
				if math.Abs(d.cdfAt(u)-acc/total) > 1e-14 {
					t.Fatalf("m=%d n=%d: P(U<=%d) = %v, enumeration %v", m, n, u, d.cdfAt(u), acc/total)
				}
				// upper tail through symmetry
				if sf := (total - acc + c) / total; math.Abs(d.sfAt(u)-sf) > 1e-14 {
					t.Fatalf("m=%d n=%d: P(U>=%d) = %v, enumeration %v", m, n, u, d.sfAt(u), sf)
				}
			}
		}
	}
}

// TestQWilcoxCriticalValues checks R's qwilcox convention against the
// classical two-sided 5% critical values of U (reject when U <= crit):
// qwilcox(0.025, n, n) = crit + 1.
func TestQWilcoxCriticalValues(t *testing.T) {
	for _, c := range []struct{ n, crit int }{{5, 2}, {8, 13}, {10, 23}, {20, 127}} {
		d := newWilcoxDist(c.n, c.n)
		if q := d.quantile(0.025); q != c.crit+1 {
			t.Errorf("qwilcox(0.025, %d, %d) = %d, want %d", c.n, c.n, q, c.crit+1)
		}
		if !(d.cdfAt(c.crit) <= 0.025 && d.cdfAt(c.crit+1) > 0.025) {
			t.Errorf("n=%d: P(U<=%d)=%v, P(U<=%d)=%v", c.n, c.crit, d.cdfAt(c.crit), c.crit+1, d.cdfAt(c.crit+1))
		}
	}
	// Definition: smallest q with P(U<=q) >= p, on both halves.
	d := newWilcoxDist(6, 9)
	for _, p := range []float64{1e-6, 0.01, 0.025, 0.3, 0.5, 0.51, 0.9, 0.975, 0.999999} {
		q := d.quantile(p)
		if d.cdfAt(q) < p-1e-12 || (q > 0 && d.cdfAt(q-1) >= p+1e-12) {
			t.Errorf("quantile(%v) = %d: P(U<=q) = %v, P(U<=q-1) = %v", p, q, d.cdfAt(q), d.cdfAt(q-1))
		}
	}
	// p exactly on an atom: P(U <= 0) = 1/C(4,2) = 1/6 must return 0, not 1
	// (R's fuzz).
	if q := newWilcoxDist(2, 2).quantile(1.0 / 6); q != 0 {
		t.Errorf("qwilcox(1/6, 2, 2) = %d, want 0", q)
	}
}

func TestWilcoxDistLargeIsSymmetricAndNormalised(t *testing.T) {
	d := newWilcoxDist(100, 100) // the MaxExactPairs corner
	mn := d.size()
	if mn != MaxExactPairs {
		t.Fatalf("size %d", mn)
	}
	for _, u := range []int{0, 1, 100, 2500, 4999, 5000, 7000} {
		near(t, "symmetry", d.cdfAt(u), 1-d.cdfAt(mn-u-1), 1e-15)
		near(t, "sf", d.sfAt(mn-u), d.cdfAt(u), 0)
	}
	near(t, "P(U<=mn/2)-P(U<mn/2)", d.cdfAt(5000)-d.cdfAt(4999), 2*(0.5-d.cdfAt(4999)), 1e-15)
	relNear(t, "P(U=0)", d.cdfAt(0), 1/9.054851465610328e58, 1e-12) // 1/C(200,100)
	// The normal approximation with continuity correction is within a few
	// 1e-4 of the exact CDF at this size.
	sigma := math.Sqrt(100.0 * 100 * 201 / 12)
	for _, u := range []int{4000, 4500, 4900} {
		near(t, "normal vs exact", d.cdfAt(u), normalCDF((float64(u)+0.5-5000)/sigma), 5e-4)
	}
}

func TestExactDistCacheConcurrent(t *testing.T) {
	cache := NewDistCache()
	exactDist := cache.exactDist
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				n1, n2 := 1+(g+i)%7, 1+(i*3)%11
				d := exactDist(n1, n2)
				if d.size() != n1*n2 {
					t.Errorf("size %d for %dx%d", d.size(), n1, n2)
				}
			}
		}(g)
	}
	wg.Wait()
	if exactDist(3, 5) != exactDist(5, 3) {
		t.Error("cache must be keyed symmetrically")
	}
	var none *DistCache
	if none.exactDist(3, 5).size() != 15 {
		t.Error("a nil cache builds the distribution")
	}
}
