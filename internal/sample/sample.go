// Package sample draws the counts that simulated traffic is made of: how many
// requests arrive in an interval (Poisson) and how many of them fail
// (binomial). provider/sim and internal/decisionbench share it so that the
// simulator users see and the benchmark's worlds are noisy in the same way.
package sample

import (
	"math"
	"math/rand/v2"
)

// Poisson draws from Poisson(lambda): Knuth's product method while it is exact
// and cheap enough, a rounded normal (mean and variance lambda) beyond.
func Poisson(rng *rand.Rand, lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 100:
		limit, prod, k := math.Exp(-lambda), rng.Float64(), 0
		for prod > limit {
			prod *= rng.Float64()
			k++
		}
		return k
	default:
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
}

// Binomial draws from Binomial(n, p): exactly for small n, by a rounded normal
// when the variance is large enough for it to be close, and otherwise by a
// Poisson count of the rarer outcome (the errors of a low error rate).
func Binomial(rng *rand.Rand, n int, p float64) int {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case n <= 64:
		k := 0
		for range n {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	mean, variance := float64(n)*p, float64(n)*p*(1-p)
	switch {
	case variance >= 25:
		return min(n, max(0, int(math.Round(mean+math.Sqrt(variance)*rng.NormFloat64()))))
	case p <= 0.5:
		return min(n, Poisson(rng, mean))
	default:
		return n - min(n, Poisson(rng, float64(n)*(1-p)))
	}
}
