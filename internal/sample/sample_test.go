package sample_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive/internal/sample"
)

// moments draws many values and returns their mean and variance.
func moments(draw func() int) (mean, variance float64) {
	const n = 20000
	var sum, sq float64
	for range n {
		v := float64(draw())
		sum += v
		sq += v * v
	}
	mean = sum / n
	return mean, sq/n - mean*mean
}

func TestPoissonMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lambda := range []float64{0.5, 7, 80, 5000} {
		mean, variance := moments(func() int { return sample.Poisson(rng, lambda) })
		// Five standard errors of the mean; the variance within 10%.
		assert.InDelta(t, lambda, mean, 5*math.Sqrt(lambda/20000), "mean of Poisson(%g)", lambda)
		assert.InEpsilon(t, lambda, variance, 0.1, "variance of Poisson(%g)", lambda)
	}
	assert.Equal(t, 0, sample.Poisson(rng, 0))
	assert.Equal(t, 0, sample.Poisson(rng, -3))
}

func TestBinomialMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		n int
		p float64
	}{{20, 0.3}, {1000, 0.01}, {1000, 0.99}, {100000, 0.2}} {
		want, wantVar := float64(c.n)*c.p, float64(c.n)*c.p*(1-c.p)
		mean, variance := moments(func() int { return sample.Binomial(rng, c.n, c.p) })
		assert.InDelta(t, want, mean, 5*math.Sqrt(wantVar/20000), "mean of Binomial(%d, %g)", c.n, c.p)
		assert.InEpsilon(t, wantVar, variance, 0.1, "variance of Binomial(%d, %g)", c.n, c.p)
	}
	assert.Equal(t, 0, sample.Binomial(rng, 0, 0.5))
	assert.Equal(t, 0, sample.Binomial(rng, 10, 0))
	assert.Equal(t, 10, sample.Binomial(rng, 10, 1))
	for range 1000 {
		k := sample.Binomial(rng, 200, 0.995)
		assert.True(t, k >= 0 && k <= 200, "Binomial(200, 0.995) drew %d", k)
	}
}
